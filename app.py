"""Trade Cost Simulator: routes to the pages; everything else lives in pages/ and core/."""

import streamlit as st

from pages.startup import DEFAULT_PAGE, lifespan


def _skip_repl_probe() -> None:
    """Streamlit asks once per process, on the first element any session draws, whether it runs inside a Python
    REPL (to print a hint), by ``inspect.stack()``, which resolves the source file of every loaded module: about
    0.25 s of the first page view of a fresh process. Under ``streamlit run`` (a runtime exists) it never is a
    REPL, so mark the question answered. Internal to Streamlit 1.67: without that flag nothing changes."""
    import streamlit.delta_generator as dg  # internal; absent in other versions

    if st.runtime.exists() and not getattr(dg, "_use_warning_has_been_displayed", True):
        dg._use_warning_has_been_displayed = True


#: the emoji, not a Material icon: a Material favicon is fetched from a font CDN (net::ERR_NAME_NOT_RESOLVED offline,
#: which the browser test counts as a page error); the emoji costs about 0.1 s of the first view (catalogue import)
FAVICON = "📈"


def run() -> None:
    _skip_repl_probe()
    st.set_page_config(page_title="Trade Cost Simulator", page_icon=FAVICON, layout="wide")
    pages = [
        st.Page(DEFAULT_PAGE, title="Simulator", icon=":material/calculate:", default=True),
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


if __name__ == "__main__":  # the script run of each page view
    run()
elif __name__ == "app":  # `streamlit run app.py` imports this module to serve it: the app with a start-up hook
    app = st.App("app.py", lifespan=lifespan(FAVICON))
