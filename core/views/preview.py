"""The order preview: the cards and sentences the Simulator shows for one priced order, in plain words.

An exchange's order ticket answers "what will this order cost, at what prices, and can I place it?". Here
that is two rows of cards (the costs in USD, bps and %; then the size, average and worst fill price and the
maker/taker share), the venue's rules in one sentence, and the app's own processing time in a strip of its
own. Tooltips say what a number means and where it comes from; the formulas are in the methods table.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.costs.estimate import CostEstimate
from core.costs.impact import load_impact
from core.costs.order import AtExpiry, OrderType, Side
from core.costs.volatility import scale_note
from core.market.instruments import Instrument
from core.views.documents import doc_link
from core.views.formatting import (
    ZERO_USD,
    bps,
    bps_pct,
    lot_amount,
    microseconds,
    mid_price,
    percent,
    price,
    size_amount,
    usd,
    usd_brief,
)
from core.views.inputs import OrderSize
from core.views.simulator import LatencyStats, SimulatorView

if TYPE_CHECKING:  # imported where a table is built: the Simulator's first view builds none (issue 15, startup)
    import pandas as pd

#: what the page answers, in one sentence (shown under the title)
QUESTION = (
    "What would this order cost if you sent it now? Enter an order below: the expected cost on the current "
    "order book, in USD, bps and %, updates as the book moves."
)
DOCS = doc_link("guide", "Guide")

#: one tooltip per card, in words: what the number means and where it comes from (formulas: the methods table)
HELP = {
    "Expected slippage": "How far your average fill price is expected to be from the mid price when the order "
    "arrives, in money: the cost of crossing the spread and eating into the order book. Priced by walking the "
    "current book (or by a model trained on real orders, when one is loaded); the p90 band, when shown, is a bad "
    f"case that is beaten 9 times in 10. See the {DOCS}.",
    "Expected fees": "What the exchange charges for this order at the chosen fee tier: the taker rate on the part "
    "that takes liquidity, the maker rate on the part that rests in the book. A negative amount is a rebate. "
    f"See the {DOCS}.",
    "Market impact (in slippage)": "The part of the slippage that moves the market against you and stays moved "
    "after the order: estimated from how prices moved after real orders of this size. It is already inside the "
    f"slippage figure, so it is not added again. Its note gives the share of the walk past the best price that is "
    "counted as permanent, measured after real orders, with its 95% interval: a wide interval means the split "
    f"between lasting and passing cost is uncertain, not the slippage itself. See the {DOCS}.",
    "Adverse selection + opportunity": "What a resting order is expected to lose to the market's moves, beyond "
    "its price: when it fills, the price tends to keep moving through it (adverse selection: the fills come just "
    "before the move against you); the part not filled sees the price move away before the rest crosses at the "
    "horizon (opportunity cost). Both are averages measured on the recorded trades of the training days for this "
    f"horizon; the methods table names the source. Added to the net cost. See the {DOCS}.",
    "Net cost": "Everything this order is expected to cost: slippage plus fees (plus, for a limit order, the "
    "expected cost of being filled just before the price moves against you, and of the price moving away from the "
    "part not filled: the breakdown chart shows both). The percentage is of the amount traded. See the "
    f"{DOCS}.",
    "Order size": "The size the venue would accept: your entry converted to the venue's unit and rounded down to "
    f"its lot (the smallest size step), with what it is worth at the current prices. See the {DOCS}.",
    "Average fill price": "The volume-weighted price of all the fills, and how far it is from the mid price. "
    f"See the {DOCS}.",
    "Worst fill price": "The last price the order reaches in the book: the price of its last fill. Beyond the "
    f"visible book it is an estimate. See the {DOCS}.",
    "Maker / taker": "Share of the order expected to fill as maker (resting in the book) and as taker (crossing "
    "the spread). A market order is all taker; for a limit order a model trained on real trades gives the share. "
    f"See the {DOCS}.",
    "Maker / cancelled": "Share of the order expected to fill as maker (resting in the book) within its horizon, and "
    "the share cancelled at expiry: it never trades, so it pays nothing and buys nothing. A model trained on real "
    f"trades gives the share. See the {DOCS}.",
}


@dataclass(frozen=True)
class Card:
    """One metric card: its label (also its tooltip's key), the value, a grey second figure and a note."""

    label: str
    value: str
    delta: str
    note: str | None = None

    @property
    def help(self) -> str:
        return HELP[self.label]


#: the cards' look, sent once with the page (``CARD_STYLE``), not with every refresh: a grid of bordered cards, four
#: to a row (two where the cards have less than 44rem: a phone, or 800 px with the sidebar open; a container query,
#: since the viewport's width does not say what the sidebar leaves), grey second figures, and a "?" beside each label that shows the card's definition on
#: hover or tap (focus), as a Streamlit metric's tooltip does; and the order ticket's row (``TICKET_KEY``), whose
#: controls wrap to a second line rather than be cut where the page leaves them less room than their buttons need
CARD_CSS = """
.sim-wrap{container-type:inline-size}
.sim-cards{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:.75rem;margin-bottom:.75rem}
.sim-card{position:relative;border:1px solid rgba(128,128,128,.3);border-radius:.5rem;padding:.6rem .9rem;min-width:0}
.sim-card-head{display:flex;align-items:flex-start;gap:.3rem;font-size:.875rem;line-height:1.3}
.sim-tip{flex:none;cursor:help;width:1rem;height:1rem;border:1px solid rgba(128,128,128,.7);border-radius:50%;
font-size:.7rem;line-height:.9rem;text-align:center;color:rgba(128,128,128,1);outline:none}
.sim-tip-text{display:none;position:absolute;z-index:1000;top:2rem;left:.5rem;width:18rem;max-width:70vw;
padding:.5rem .7rem;border-radius:.4rem;background:#31333f;color:#fafafa;font-size:.8rem;line-height:1.4;
text-align:left;white-space:normal;box-shadow:0 2px 8px rgba(0,0,0,.25)}
.sim-card:nth-child(4n) .sim-tip-text,.sim-card:nth-child(4n-1) .sim-tip-text{left:auto;right:.5rem}
@container (max-width:44rem){.sim-cards{grid-template-columns:repeat(2,minmax(0,1fr))}
.sim-card:nth-child(n) .sim-tip-text{left:.5rem;right:auto}
.sim-card:nth-child(2n) .sim-tip-text{left:auto;right:.5rem}}
.sim-tip-text a{color:#8ec5ff}
.sim-tip:hover .sim-tip-text,.sim-tip:focus .sim-tip-text,.sim-tip:focus-within .sim-tip-text{display:block}
.sim-card-value{font-size:1.75rem;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sim-card-delta,.sim-card-note{font-size:.875rem;opacity:.65}
.sim-card-note{font-size:.8rem}
.st-key-sim_ticket [data-testid="stHorizontalBlock"]{flex-wrap:wrap}
.st-key-sim_ticket [data-testid="stColumn"]{min-width:7rem}
.st-key-sim_ticket [data-testid="stColumn"]:has([data-testid="stButtonGroup"]){min-width:fit-content}
"""
#: the order ticket's container key (Streamlit gives it the class ``st-key-sim_ticket``, which ``CARD_CSS`` styles)
TICKET_KEY = "sim_ticket"
CARD_STYLE = f"<style>{' '.join(CARD_CSS.split())}</style>"
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _help_html(text: str) -> str:
    """A tooltip's words as HTML: escaped, its Markdown links (``doc_link``) as links that stay in the app."""
    return _LINK.sub(r'<a href="\2" target="_self">\1</a>', html.escape(text))


def _card_html(c: Card) -> str:
    e = html.escape
    note = f'<div class="sim-card-note">{e(c.note)}</div>' if c.note else ""
    return (
        f'<div class="sim-card" data-label="{e(c.label)}"><div class="sim-card-head">'
        f'<span class="sim-card-label">{e(c.label)}</span>'
        f'<span class="sim-tip" tabindex="0" role="note" aria-label="What {e(c.label)} means">?'
        f'<span class="sim-tip-text">{_help_html(c.help)}</span></span></div>'
        f'<div class="sim-card-value">{e(c.value)}</div><div class="sim-card-delta">{e(c.delta) or "&nbsp;"}</div>'
        f"{note}</div>"
    )


def cards_html(rows: Sequence[Sequence[Card]]) -> str:
    """Rows of cards as one HTML block (one element a refresh, where a row of metrics was nine: its columns and
    a metric in each). One line with no blank line, so Markdown keeps it a single HTML block and parses none of
    it ($ is money here, not maths); every text escaped. The page sends ``CARD_STYLE`` once beside it."""
    inner = "".join(f'<div class="sim-cards">{"".join(_card_html(c) for c in row)}</div>' for row in rows)
    return f'<div class="sim-wrap">{inner}</div>'  # the rows go to two columns by the width they have (CARD_CSS)


def cost_cards(e: CostEstimate) -> tuple[Card, ...]:
    """The four cost cards, each in USD with its bps and % of the amount traded. The row adds up on its face:
    a market order's net cost is slippage + fees (impact is a card of its own, inside slippage); a limit order's
    is slippage + fees + its third card, the expected adverse selection and opportunity cost, while its impact
    (of the crossed rest only) goes in the slippage card's note beside the maker and crossed parts, since beside a
    negative slippage (the maker part earns the spread) a card "impact, inside slippage" would read as more than
    the whole."""
    cancelled = e.at_expiry is AtExpiry.CANCEL
    of = f"of {usd(e.filled_usd)}" + (" expected to fill; the rest is not traded" if cancelled else "")
    net = Card("Net cost", usd_brief(e.net_cost_usd), bps_pct(e.net_cost_bps), of)
    fees = Card("Expected fees", usd_brief(e.fee_usd), bps_pct(e.fee_bps))
    if e.order_type is not OrderType.LIMIT:
        return (
            Card("Expected slippage", usd_brief(e.slippage_usd), bps_pct(e.slippage_bps), p90_note(e)),
            fees,
            Card("Market impact (in slippage)", usd_brief(e.impact_usd), bps_pct(e.impact_bps), impact_note(e)),
            net,
        )
    parts = f"maker part {usd_brief(e.maker_part_usd)}"
    if e.crossed_usd > 0:
        parts += f" + crossed rest {usd_brief(e.walk_slippage_usd)} (impact {usd_brief(e.impact_usd)} in it)"
    risk = e.adverse_selection_usd + e.opportunity_usd
    return (
        Card("Expected slippage", usd_brief(e.slippage_usd), bps_pct(e.slippage_bps), parts),
        fees,
        Card(
            "Adverse selection + opportunity",
            usd_brief(risk),
            bps_pct(risk / e.filled_usd * 1e4 if e.filled_usd > 0 else 0.0),
            f"when filled {usd_brief(e.adverse_selection_usd)} + "
            + (
                "cancelled rest: none"
                if e.at_expiry is AtExpiry.CANCEL
                else f"rest crossed {usd_brief(e.opportunity_usd)}"
            ),
        ),
        net,
    )


#: a p90 correction under this many bps is not flagged as "mostly correction", however thin the model's band
MOSTLY_MIN_BPS = 0.5


def p90_note(e: CostEstimate) -> str | None:
    """The p90 band in USD and bps (as the expectation beside it), and, where the online calibration moved it,
    which part the model gave and which the real orders on this tape added (a trader must see when most of a band
    is the correction), and when the band sits at the expected cost, the lowest it goes."""
    if e.slippage_p90_usd is None:
        return None
    n = e.filled_usd
    text = f"p90 {usd(e.slippage_p90_usd)}" + (f" ({bps(e.slippage_p90_usd / n * 1e4)})" if n > 0 else "")
    c = e.slippage_p90_online_usd
    if abs(c) >= ZERO_USD:  # a correction that rounds to nothing is not one to show
        model = e.slippage_p90_usd - c
        c_bps = abs(c) / n * 1e4 if n > 0 else math.nan
        floor = c < 0 and abs(e.slippage_p90_usd - e.slippage_usd) <= 1e-9 * max(1.0, abs(e.slippage_usd))
        # "disagree" only where the correction is both most of the band and a cost a trader notices: a tenth of a bps
        # on a small order's thin band is most of it, yet no disagreement worth a flag (walkthrough 18)
        mostly = abs(c) > abs(model) and (math.isnan(c_bps) or c_bps >= MOSTLY_MIN_BPS)
        text += (
            (" = the expected cost, the lowest a band goes:" if floor else " =")
            + f" model {usd(model)} {'+' if c > 0 else '−'} {usd(abs(c))} correction"
            + (f" ({bps(c_bps)})" if n > 0 else "")
            + " from real orders of this size on this tape"
            + (": mostly correction, the model and this tape disagree (Models page)" if mostly else "")
        )
    return text


#: a maker correction of at least this many points is called large on the card
LARGE_POINTS = 15


def maker_note(e: CostEstimate) -> str | None:
    """Where the online calibration moved a limit order's maker share: the model's own share and the points the
    app's test orders on this tape added, from the rounded shares so that the card adds up on its face."""
    m = e.maker_fraction_model
    if m is None:
        return None
    pts = round(e.maker_fraction * 100) - round(m * 100)
    if pts == 0:
        return f"model {m:.0%}; the test orders on this tape have not moved it"
    unit = "point" if abs(pts) == 1 else "points"
    text = (
        f"model {m:.0%}, {'+' if pts > 0 else '−'}{abs(pts)} {unit} correction from the app's test orders on this tape"
    )
    return text + (": a large one, the model and this tape disagree (Models page)" if abs(pts) >= LARGE_POINTS else "")


def impact_note(e: CostEstimate) -> str | None:
    """The permanent share behind the impact with its interval, where it is the calibrated one: a trader should see
    that the share of the walk called permanent is measured loosely (its 95% interval is wide), not only the
    figure."""
    c = load_impact()
    share = e.calibration.permanent_share
    if e.impact_usd <= 0 or share != c.permanent_share or c.permanent_share_ci is None:
        return None
    lo, hi = c.permanent_share_ci
    return f"share ψ {share:.2f}, 95% CI {lo:.2f} to {hi:.2f}"


def worst_price(view: SimulatorView) -> float:
    """The last price the order reaches (extrapolated beyond the visible book), NaN when nothing walks."""
    return view.depth.fill_to if view.depth is not None else math.nan


def _from_mid(px: float, e: CostEstimate) -> str:
    """How far a fill price is from the mid, against the trader: positive = worse than the mid."""
    if not (math.isfinite(px) and e.mid > 0):
        return "n/a"
    away = (px - e.mid) / e.mid * 1e4 * (1 if e.side is Side.BUY else -1)
    return f"{bps(away)} from mid"


def order_cards(view: SimulatorView, sizing: OrderSize | None, instrument: Instrument) -> tuple[Card, ...]:
    """The order's own figures: size as the venue takes it, average and worst fill price, maker/taker."""
    e = view.estimate
    assert e is not None  # drawn only for a priced view
    d, q = instrument.price_decimals, instrument.quote
    cancelled = e.at_expiry is AtExpiry.CANCEL and e.filled_usd < e.size * (1 - 1e-9)
    if sizing is not None:  # the whole order's worth; a cancelled rest's order fills only part of it, said below
        size = Card(
            "Order size",
            lot_amount(sizing.venue_size, sizing.venue_unit, instrument.lot_size),
            usd(sizing.notional_usd if cancelled else e.filled_usd),
            f"expected to fill {usd(e.filled_usd)}"
            if cancelled
            else ("rounded to the lot" if sizing.rounded else None),
        )
    else:
        size = Card("Order size", size_amount(e.filled_base, instrument.base), usd(e.filled_usd))
    filled = e.filled_base > 0 and math.isfinite(e.avg_price)
    worst = worst_price(view)
    levels = f"{q}, {e.levels_used} level{'s' if e.levels_used != 1 else ''}"
    return (
        size,
        Card(
            "Average fill price",
            price(e.avg_price, d) if filled else "nothing filled",
            _from_mid(e.avg_price, e) if filled else "",
            levels if filled else None,
        ),
        Card(
            "Worst fill price",
            price(worst, d) if filled and math.isfinite(worst) else "nothing filled",
            _from_mid(worst, e) if filled else "",
            f"{q}, estimated" if e.beyond_visible else q,
        ),
        _maker_card(e),
    )


def _maker_card(e: CostEstimate) -> Card:
    """Maker / taker; for a limit order whose rest is cancelled the rest is not taker: it never trades."""
    note = maker_note(e)
    if e.at_expiry is AtExpiry.CANCEL:
        return Card(
            "Maker / cancelled", f"{e.maker_fraction:.0%} / {1 - e.maker_fraction:.0%}", "limit, rest cancelled", note
        )
    return Card("Maker / taker", f"{e.maker_fraction:.0%} / {1 - e.maker_fraction:.0%}", e.order_type.value, note)


def rules_sentence(sizing: OrderSize | None, instrument: Instrument) -> str:
    """The venue's rules and what they did to this order, in one sentence."""
    if sizing is None:
        return f"{instrument.symbol}: minimum {size_amount(instrument.min_size, instrument.size_label)}."
    converted = f"{sizing.converted} when entered" if sizing.converted else ""
    did = "; ".join(p for p in (converted, sizing.rounded) if p)
    return f"Venue rules for {instrument.symbol}: {sizing.rules}." + (f" Your order: {did}." if did else "")


def fill_sentence(e: CostEstimate, instrument: Instrument) -> str:
    """What the order does on this book, in one sentence (the caption under the cards)."""
    d, q = instrument.price_decimals, instrument.quote
    if e.limit_price is not None:
        rest = (
            f"{usd(e.crossed_usd)} crossed as taker at expiry" if e.crossed_usd > 0 else "the rest cancelled at expiry"
        )
        avg = f"average {price(e.avg_price, d)} {q}" if e.filled_base > 0 else "nothing filled"
        what = (
            f"Limit {e.side.value} {usd(e.size)} resting at {price(e.limit_price, d)} {q} "
            f"(on the venue's {instrument.tick_size:g} {q} tick): "
            f"{usd(e.maker_filled_usd)} expected to fill as maker, {rest}; {avg}"
        )
    else:
        what = (
            f"{e.side.value.capitalize()} {size_amount(e.filled_base, instrument.base)} ({usd(e.filled_usd)}) at "
            f"average {price(e.avg_price, d)} {q} over {e.levels_used} level(s)"
        )
    return (
        f"{what}; mid {mid_price(e.mid, d)}, spread {bps(e.spread_bps)}; volatility {e.volatility_annual:.1%} a year "
        f"({e.volatility_source.value}{scale_note(e.volatility_annual, e.volatility_30s_annual)})"
    )


def system_strip(lat: LatencyStats | None) -> str:
    """The app's own processing time per book, one line (a system figure, not a cost of the order)."""
    if lat is None:
        return ""
    us = microseconds
    return (
        f"This app's processing time per book (not the exchange's, not the network's): last {us(lat.last_us)} "
        f"(feed {us(lat.feed_last_us)} + cost {us(lat.cost_last_us)}) · p50 {us(lat.p50_us)} · "
        f"p99 {us(lat.p99_us)} · {lat.ticks:,} ticks"
    )


BREAKDOWN_SHOWN = ("component", "USD", "bps", "%", "method")


def breakdown_cells(view: SimulatorView) -> list[tuple[str, str, str, str, str]]:
    """The cost breakdown table as the page shows it (``BREAKDOWN_SHOWN``): each amount sized for reading (USD,
    bps and %); plain tuples, made once per shared view."""
    return [(c, usd(u), bps(b), percent(b / 100), how) for c, u, b, how in view.breakdown or ()]


def breakdown_rows(view: SimulatorView) -> pd.DataFrame | None:
    """``breakdown_cells`` as a DataFrame, or None for a view that was not priced."""
    if view.breakdown is None:
        return None
    import pandas as pd

    return pd.DataFrame(breakdown_cells(view), columns=list(BREAKDOWN_SHOWN))
