"""Trade Cost Simulator: routes to the pages; everything else lives in pages/ and core/."""

import streamlit as st


def _skip_repl_probe() -> None:
    """Streamlit asks once per process, on the first element any session draws, whether it runs inside a Python
    REPL (to print a hint), by ``inspect.stack()``, which resolves the source file of every loaded module: about
    0.25 s of the first page view of a fresh process. Under ``streamlit run`` (a runtime exists) it never is a
    REPL, so mark the question answered. Internal to Streamlit 1.67: without that flag nothing changes."""
    import streamlit.delta_generator as dg  # internal; absent in other versions

    if st.runtime.exists() and not getattr(dg, "_use_warning_has_been_displayed", True):
        dg._use_warning_has_been_displayed = True


#: a Material icon, not the 📈 emoji: Streamlit checks an emoji favicon against its emoji catalogue, whose import
#: and lookup took about 0.1 s of the first page view of a fresh process (the first thing the script does); a
#: Material name is checked against the icon names the sidebar's page icons load anyway
FAVICON = ":material/trending_up:"


def run() -> None:
    _skip_repl_probe()
    st.set_page_config(page_title="Trade Cost Simulator", page_icon=FAVICON, layout="wide")
    pages = [
        st.Page("pages/simulator.py", title="Simulator", icon=":material/calculate:", default=True),
        st.Page("pages/market.py", title="Market", icon=":material/monitoring:"),
        st.Page("pages/venues.py", title="Venues", icon=":material/compare_arrows:"),
        st.Page("pages/latency.py", title="Latency", icon=":material/speed:"),
        st.Page("pages/execution.py", title="Execution", icon=":material/timeline:"),
        st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
        st.Page("pages/validation.py", title="Validation", icon=":material/fact_check:"),
        st.Page("pages/data.py", title="Data", icon=":material/database:"),
        st.Page("pages/docs.py", title="Docs", icon=":material/menu_book:"),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    run()
