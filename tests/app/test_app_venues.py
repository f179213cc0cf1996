"""The Venues page under Streamlit's AppTest on the embedded multi-venue replay (AppTest never fires
``run_every``: the test reruns the page while the venues' books arrive; the ranking itself is hand-checked in
tests/unit/test_venue_ranking.py)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.test_app_pages import open_page
from tests.conftest import wait_for


def ranked(at: AppTest) -> int:
    """Venues ranked on a fresh book (a stale one is ranked too, after every fresh one)."""
    return int((at.dataframe[0].value["status"] == "ranked").sum()) if at.dataframe else 0


def rerun_until(at: AppTest, ready) -> bool:
    """Rerun the page until ``ready(at)`` (the venues' books arrive on their own threads)."""
    return wait_for(lambda: at.run() is not None and not at.exception and ready(at), 60, 0.3)


def test_venues_page_ranks_the_order_on_every_bundled_venue():
    at = open_page(
        "pages/venues.py", lambda at: ranked(at) == 3, timeout=60
    )  # Binance spot, USD-M and COIN-M BTC, all fresh
    table = at.dataframe[0].value
    assert set(table["venue"]) == {"Binance spot", "Binance USD-M", "Binance COIN-M"}
    assert list(table["rank"]) == [1, 2, 3], table
    assert table["net cost (USD)"].is_monotonic_increasing, table
    assert table.loc[table["venue"] == "Binance COIN-M", "size on venue"].item() == "100 contracts of 100 USD"
    costs = table["net cost (USD)"].tolist()
    if costs[1] - costs[0] < 0.005:  # a tie to the cent (on these books USD-M and COIN-M cost the same): both named
        assert at.success[0].value.startswith("Cheapest venues for a $10,000.00 market buy, tied at net cost $")
    else:
        assert at.success[0].value.startswith("Cheapest venue for a $10,000.00 market buy: Binance ")
    assert "it saves $" in at.info[0].value
    assert any("REPLAY: every venue recorded 2024-08-08" in c.value for c in at.caption)

    at.selectbox(key="venues_asset").set_value("ETH").run()
    at.number_input(key="venues_usd").set_value(1.0).run()  # $1 < 0.001 ETH, USD-M's minimum
    assert rerun_until(at, lambda at: len(at.dataframe[0].value) == 2 and ranked(at) == 1)
    assert not at.exception
    status = at.dataframe[0].value.set_index("venue")["status"]
    assert status["Binance USD-M"] == "Below the venue minimum of 0.001 ETH."
    assert status["Binance spot"] == "ranked"

    at.number_input(key="venues_usd").set_value(-5.0).run()
    assert not at.exception
    assert any("negative" in e.value for e in at.error)
