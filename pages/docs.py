"""Docs: the user's guide first, then the methodology and reports, readable in the app (tooltips link here)."""

import streamlit as st

from core.views.documents import DEFAULT_DOC, DOCS, load_doc


def docs_page() -> None:
    names = list(DOCS)
    wanted = st.query_params.get("doc", DEFAULT_DOC)
    choice = st.selectbox(
        "Document",
        names,
        index=names.index(wanted) if wanted in names else 0,
        format_func=lambda n: DOCS[n][0],
        key="docs_choice",
    )
    st.query_params["doc"] = choice
    _title, text = load_doc(choice)
    st.markdown(text)


docs_page()
