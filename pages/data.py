"""Data: record the current feed and download it; the bundled recordings and their provenance; the replay."""

import streamlit as st

from core.views.catalog import catalog, catalog_table
from core.views.deployment import now_playing, recording_refusal, replay_refusal
from pages.common import get_runtime
from pages.recording_panel import record_section
from pages.replay_panel import replay_controls

if "data_capture" not in st.session_state:
    st.session_state.data_capture = None  # this session's Capture, if any
if "data_action" not in st.session_state:
    st.session_state.data_action = None  # "start" / "stop", set by the buttons' callbacks

COLUMNS = {
    "messages": st.column_config.NumberColumn(help="Full order books in the file (one message each)."),
    "duration (s)": st.column_config.NumberColumn(format="%.1f", help="Last minus first exchange timestamp, seconds."),
    "levels per side": st.column_config.NumberColumn(help="Price levels kept per side of each book."),
    "size (MB)": st.column_config.NumberColumn(format="%.2f", help="Compressed size on disk, megabytes."),
    "license": st.column_config.TextColumn(help="License of the upstream data; texts in data/LICENSE.*"),
}


def data_page() -> None:
    rt = get_runtime()
    st.title("Data")
    st.subheader("Record the current feed")
    refusal = recording_refusal(rt)
    if refusal:
        st.info(refusal, icon=":material/lock:")
    else:
        record_section(rt)

    st.subheader("Bundled recordings")
    entries = catalog()
    st.dataframe(catalog_table(entries), hide_index=True, column_config=COLUMNS, key="data_catalog")
    st.caption("Provenance (upstream commits, checksums, how each book was rebuilt): data/PROVENANCE.md.")

    st.subheader("Replay")
    now = st.empty()  # filled after a switch, so it always names what is playing
    refusal = replay_refusal(rt)
    if refusal:
        st.info(refusal, icon=":material/lock:")
    else:
        replay_controls(rt, entries)
    now.markdown(now_playing(rt))


data_page()
