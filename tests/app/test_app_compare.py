"""Freeze and compare on the Simulator (AppTest, the bundled replay): pin a book, vary only the volatility."""

from __future__ import annotations

import time

from tests.app.test_app_simulator import started


def outputs(at):
    return next(d.value for d in at.dataframe if "Expected cost (net) (USD)" in list(d.value.index))


def test_pinning_a_book_and_changing_only_volatility_keeps_the_expected_cost():
    at = started()
    assert any("median" in c.value and "range" in c.value for c in at.caption)  # the live 30 s line
    at.text_input(key="sim_qty_usd").input("1000000").run()
    at.button(key="cmp_pin").click().run()
    assert not at.exception
    assert any("Pinned: the" in i.value for i in at.info)
    first = outputs(at)
    at.number_input(key="cmp_vol_B").set_value(200.0).run()
    time.sleep(1.5)  # the feed moves on; the pinned book does not
    at.run()
    out = outputs(at)
    net, p90 = "Expected cost (net) (USD)", "Slippage p90 (USD)"
    assert out.at[net, "A"] == out.at[net, "B"] == first.at[net, "A"]  # same book: the same dollars, bit for bit
    assert out.at[net, "B − A"] == "0" and out.at[p90, "B − A"] not in ("0", "n/a")  # the table as shown: text
    assert any("volatility and latency move only the p90 band" in c.value for c in at.caption)
    assert any("expected cost (net) unchanged" in m.value for m in at.markdown)
    inputs = next(d.value for d in at.dataframe if "differs from A" in d.value.columns)
    assert inputs.at["Volatility", "differs from A"] == "B" and inputs.at["Side", "differs from A"] == ""
    at.button(key="cmp_unpin").click().run()
    assert not at.exception and at.button(key="cmp_pin")
