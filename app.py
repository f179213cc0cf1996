"""Trade Cost Simulator: routes to the pages; everything else lives in pages/ and core/."""

import streamlit as st


def run() -> None:
    st.set_page_config(page_title="Trade Cost Simulator", page_icon=":material/candlestick_chart:", layout="wide")
    pages = [
        st.Page("pages/market.py", title="Market", icon=":material/monitoring:", default=True),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    run()
