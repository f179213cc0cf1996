"""Placeholder: being built (issue 5)."""

import streamlit as st

st.title("Execution")
st.info("This page is being built.")
