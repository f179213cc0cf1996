"""The fee tiers offered for a venue and market: every tier of every published table, primary table first.

Each choice also says what the page must tell the user about it: whether the rates are an assumption rather
than a published figure, and whether the venue takes a discount off fees paid in BNB.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.costs.fees import FeeTier, fee_book, pay_in_bnb


@dataclass(frozen=True)
class FeeChoice:
    key: str  # "table/tier", the selectbox value
    tier: FeeTier
    primary: bool  # from the venue's primary table
    bnb_source: str = ""  # where the venue's BNB discount is published ("" = no discount offered)

    @property
    def label(self) -> str:
        """``Lv1``, ``VIP1 (older table)`` for a tier of an alternative table, ``VIP0 (assumed)`` for an assumption."""
        name = self.tier.tier if self.primary else f"{self.tier.tier} ({self.tier.table} table)"
        return name + " (assumed)" if self.tier.assumption else name

    @property
    def rates(self) -> str:
        """The published rates in % and bps (before any BNB discount)."""
        return rates_text(self.tier)

    @property
    def bnb_available(self) -> bool:
        """True when the venue takes a discount off fees paid in BNB (Binance spot and USDⓈ-M)."""
        return self.tier.bnb_discount > 0.0

    @property
    def bnb_help(self) -> str:
        """What the BNB checkbox does, in plain words, with its source."""
        if not self.bnb_available:
            return "This venue gives no discount for paying fees in BNB."
        return (
            f"Binance takes {self.tier.bnb_discount:.0%} off the fee when it is paid in BNB (you need enough BNB in "
            f"the wallet that pays it). Rebates are not changed. Source: {self.bnb_source}."
        )

    @property
    def assumption_note(self) -> str | None:
        """The warning the page shows for a tier whose rates are assumed, not published; None otherwise."""
        if not self.tier.assumption:
            return None
        return (
            f"Assumption, not a published rate: {self.tier.source}. Check your account's fee page and override the "
            "rates if they differ."
        )

    def priced(self, bnb: bool = False) -> FeeTier:
        """The tier to price with: the published rates, less the BNB discount when asked for and offered."""
        return pay_in_bnb(self.tier) if bnb and self.bnb_available else self.tier


def rates_text(tier: FeeTier) -> str:
    """``maker 0.020 % (2.00 bps) · taker 0.050 % (5.00 bps)``."""
    return (
        f"maker {tier.maker_rate * 100:.3f} % ({tier.maker_bps:.2f} bps) · "
        f"taker {tier.taker_rate * 100:.3f} % ({tier.taker_bps:.2f} bps)"
    )


def fee_choices(exchange: str, market: str) -> list[FeeChoice]:
    """Every tier of every published table for the venue and market, primary table first."""
    out = []
    for s in fee_book().schedules(exchange, market):
        for t in s.tiers:
            out.append(FeeChoice(key=f"{s.table}/{t.tier}", tier=t, primary=s.primary, bnb_source=s.bnb_source))
    return out
