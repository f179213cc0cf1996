"""Placeholder: being built (issue 5)."""

import streamlit as st

st.title("Data")
st.info("This page is being built.")
