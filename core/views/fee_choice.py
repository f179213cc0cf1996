"""The fee tiers offered for a venue and market: every tier of every published table, primary table first."""

from __future__ import annotations

from dataclasses import dataclass

from core.costs.fees import FeeTier, fee_book


@dataclass(frozen=True)
class FeeChoice:
    key: str  # "table/tier", the selectbox value
    tier: FeeTier
    primary: bool  # from the venue's primary table

    @property
    def label(self) -> str:
        """``Lv1``, or ``VIP1 (mirror table)`` for a tier of an alternative table."""
        return self.tier.tier if self.primary else f"{self.tier.tier} ({self.tier.table} table)"

    @property
    def rates(self) -> str:
        t = self.tier
        return (
            f"maker {t.maker_rate * 100:.3f} % ({t.maker_bps:.2f} bps) · "
            f"taker {t.taker_rate * 100:.3f} % ({t.taker_bps:.2f} bps)"
        )


def fee_choices(exchange: str, market: str) -> list[FeeChoice]:
    """Every tier of every published table for the venue and market, primary table first."""
    out = []
    for s in fee_book().schedules(exchange, market):
        for t in s.tiers:
            out.append(FeeChoice(key=f"{s.table}/{t.tier}", tier=t, primary=s.primary))
    return out
