"""Placeholder: being built (issue 5)."""

import streamlit as st

st.title("Models")
st.info("This page is being built.")
