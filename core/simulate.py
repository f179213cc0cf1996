"""Headless cost simulator: one GoQuant-format book file in, one cost estimate out.

    python -m core.simulate --snapshot FILE --exchange okx --symbol BTC-USDT-SWAP --side buy --usd 10000 \\
        --fee-tier Lv1 [--volatility 0.5] [--order-type market] [--base Q] [--latency-ms 100] [--json]
    python -m core.simulate ... --order-type limit --offset-bps 1 --horizon-s 10 [--at-expiry cross|cancel]

The learned models in ``models/`` are used where their cards say they beat their baselines (the p90 band
of slippage, the maker share of limit orders); ``--no-models`` prices with the rules alone.

``FILE`` holds one GoQuant message (``{"timestamp","exchange","symbol","asks","bids"}``) with sizes in the
venue's unit (contracts for OKX SWAP). ``--json`` prints one JSON object (keys: ``CostEstimate.to_dict``);
otherwise a readable table. Any bad input exits with status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import orjson

from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import get_tier, override
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S
from core.costs.models import Models
from core.costs.order import Order, SizeUnit
from core.costs.volatility import VolSource, default_volatility, from_annual, scale_note
from core.errors import InstrumentError, OrderError, ParseError, SimulatorError
from core.feed.goquant import parse_snapshot
from core.market.instruments import get_instrument

MAX_SNAPSHOT_BYTES = 50 * 1024 * 1024
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage block) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"simulate: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m core.simulate", description="Estimate the cost of a market order on one book.")
    p.add_argument("--snapshot", required=True, help="file with one GoQuant-format book message")
    p.add_argument("--exchange", default="okx", help="venue id (okx, binance, binance-futures); default okx")
    p.add_argument("--symbol", default="BTC-USDT-SWAP", help="venue symbol; default BTC-USDT-SWAP")
    p.add_argument("--side", required=True, help="buy or sell")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--usd", type=float, help="order size in USD (quote) notional")
    size.add_argument("--base", type=float, help="order size in base units (e.g. BTC, not contracts)")
    p.add_argument("--fee-tier", default=None, help="fee tier name, e.g. Lv1 or VIP3 (default: entry tier)")
    p.add_argument("--fee-table", default=None, help="alternative fee table, e.g. 'older' for OKX spot")
    p.add_argument(
        "--bnb", action="store_true", help="pay fees in BNB: Binance spot -25%%, USD-M -10%% (refused elsewhere)"
    )
    p.add_argument("--maker-rate", type=float, default=None, help="override maker rate (fraction, 0.0002 = 0.02%%)")
    p.add_argument("--taker-rate", type=float, default=None, help="override taker rate (fraction)")
    p.add_argument(
        "--volatility", type=float, default=None, help="annualised volatility override, fraction (0.5 = 50%%)"
    )
    p.add_argument("--order-type", default="market", help="market or limit (limit needs the maker/taker model)")
    p.add_argument(
        "--offset-bps", type=float, default=0.0, help="limit: distance behind the touch, bps (0 = at the touch)"
    )
    p.add_argument("--horizon-s", type=float, default=10.0, help="limit: how long the order rests, seconds")
    p.add_argument("--at-expiry", default="cross", help="limit: what happens to the unfilled rest: cross or cancel")
    p.add_argument("--latency-ms", type=float, default=0.0, help="decision-to-book latency, ms (p90 slippage band)")
    p.add_argument("--models", default=None, help="directory of trained models (default: models/)")
    p.add_argument("--no-models", action="store_true", help="rules only: no learned models")
    p.add_argument("--refill-s", type=float, default=DEFAULT_REFILL_S, help="book refill time for eta, seconds")
    p.add_argument(
        "--permanent-share", type=float, default=DEFAULT_PERMANENT_SHARE, help="permanent share psi for gamma, 0..1"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"simulate: error: {' '.join(str(message).split())}\n")
    raise SystemExit(EXIT_BAD_INPUT)


def run(args: argparse.Namespace) -> CostEstimate:
    """Parse inputs, load the book, price the order; raises SimulatorError/OSError/ValueError on bad input."""
    inst = get_instrument(args.exchange, args.symbol)
    order = Order(
        side=args.side,
        quantity=args.usd if args.usd is not None else args.base,
        unit=SizeUnit.QUOTE if args.usd is not None else SizeUnit.BASE,
        order_type=args.order_type,
        offset_bps=args.offset_bps,
        horizon_s=args.horizon_s,
        at_expiry=args.at_expiry,
        latency_ms=args.latency_ms,
    )
    path = Path(args.snapshot)
    if not path.exists():
        raise FileNotFoundError(f"snapshot file not found: {path}")
    if not path.is_file():
        raise IsADirectoryError(f"snapshot path is not a file: {path}")
    if path.stat().st_size > MAX_SNAPSHOT_BYTES:
        raise OrderError(f"snapshot file {path} is larger than {MAX_SNAPSHOT_BYTES // 2**20} MB; expected one message")
    raw = path.read_bytes()
    try:
        snap = parse_snapshot(raw, instrument=inst, source=f"file:{path.name}")
    except ParseError as exc:
        raise ParseError(exc.reason, f"malformed book in {path}: {exc}") from None
    tier = override(
        get_tier(inst.exchange, inst.kind, args.fee_tier, table=args.fee_table, bnb=args.bnb),
        maker_rate=args.maker_rate,
        taker_rate=args.taker_rate,
    )
    vol = (
        default_volatility(mid=snap.mid)
        if args.volatility is None
        else from_annual(args.volatility, mid=snap.mid, source=VolSource.OVERRIDE)
    )
    return estimate(
        snap,
        order,
        fee_tier=tier,
        volatility=vol,
        refill_s=args.refill_s,
        permanent_share=args.permanent_share,
        models=None if args.no_models else _models(args.models, order.latency_ms),
    )


def _models(models_dir: str | None, latency_ms: float) -> Models:
    """The shipped models, served from their .npz weights with numpy (no TensorFlow or Keras)."""
    from core.learned.models import MODELS_DIR, load_models

    loaded = load_models(models_dir or MODELS_DIR)
    slip = loaded.models.slippage
    if slip is not None and hasattr(slip, "with_latency"):
        slip = slip.with_latency(latency_ms)
    return Models(slippage=slip, maker_taker=loaded.models.maker_taker)


def format_table(e: CostEstimate) -> str:
    """A plain-text report for people."""
    unit = "USD" if e.size_unit.value == "quote" else "base"
    rows: list[tuple[str, str]] = [
        ("order", f"{e.order_type.value} {e.side.value} {e.size:,.8g} {unit} of {e.symbol} on {e.exchange}"),
        ("mid / best bid / best ask", f"{e.mid:,.6f} / {e.best_bid:,.6f} / {e.best_ask:,.6f}"),
        ("spread", f"{e.spread_bps:.3f} bps"),
        ("average fill price", f"{e.avg_price:,.6f}"),
        ("filled", f"{e.filled_base:,.8g} base = {e.filled_usd:,.2f} USD over {e.levels_used} level(s)"),
        ("fully filled by visible book", "yes" if e.fully_filled else "NO - beyond visible depth (extrapolated)"),
        ("book-walk cost vs mid", f"{e.walk_slippage_usd:,.4f} USD ({e.walk_slippage_bps:.3f} bps)"),
        ("  of which half-spread / depth", f"{e.half_spread_usd:,.4f} / {e.depth_usd:,.4f} USD"),
        (
            "slippage vs arrival mid",
            f"{e.slippage_usd:,.4f} USD ({e.slippage_bps:.3f} bps)"
            + (f", p90 {e.slippage_p90_usd:,.4f} USD at {e.latency_ms:g} ms" if e.slippage_p90_usd is not None else ""),
        ),
        *(
            [("  of which maker part", f"{e.maker_part_usd:,.4f} USD at the limit price, included above")]
            if e.limit_price is not None
            else []
        ),
        ("  of which market impact (permanent)", f"{e.impact_usd:,.4f} USD ({e.impact_bps:.3f} bps), included above"),
        ("fees", f"{e.fee_usd:,.4f} USD ({e.fee_bps:.3f} bps) - {e.fee_tier}"),
        *(
            [
                ("adverse selection (limit)", f"{e.adverse_selection_usd:,.4f} USD, expected markout when filled"),
                ("opportunity cost (limit)", f"{e.opportunity_usd:,.4f} USD, expected move before the rest crosses"),
            ]
            if e.limit_price is not None
            else []
        ),
        ("NET COST", f"{e.net_cost_usd:,.4f} USD ({e.net_cost_bps:.3f} bps)"),
        (
            "maker fraction",
            f"{e.maker_fraction:.0%}"
            + (
                f" at limit {e.limit_price:,.6f}; rest {e.at_expiry.value if e.at_expiry else ''}"
                if e.limit_price
                else ""
            ),
        ),
        (
            "volatility",
            f"{e.volatility_annual:.1%} a year ({e.volatility_source.value}{scale_note(e.volatility_annual, e.volatility_30s_annual)})",
        ),
        (
            "Almgren-Chriss eps / eta / gamma",
            f"{e.calibration.epsilon:.6g} / {e.calibration.eta:.6g} / {e.calibration.gamma:.6g}",
        ),
        ("internal latency", f"{e.latency_us:,.1f} us"),
    ]
    rows += [(f"method: {k}", v) for k, v in e.methods.items()]
    rows += [("note", n) for n in e.notes]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except FileNotFoundError as exc:
        _fail(str(exc) if str(exc).startswith("snapshot") else f"snapshot file not found: {args.snapshot}")
    except IsADirectoryError:
        _fail(f"snapshot path is not a file: {args.snapshot}")
    except ParseError as exc:
        _fail(exc.detail or f"malformed book: {exc.reason}")
    except (InstrumentError, OrderError) as exc:
        _fail(str(exc))
    except (SimulatorError, OSError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    if args.json:
        sys.stdout.write(orjson.dumps(result.to_dict()).decode() + "\n")
    else:
        sys.stdout.write(format_table(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
