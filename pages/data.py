"""Data: record the current feed and download it; the bundled recordings and their provenance; the replay."""

import streamlit as st

from core.errors import SimulatorError
from core.views.capture import SECONDS_HELP, Capture, CaptureState, check_seconds, done_text, progress_text
from core.views.catalog import (
    SWITCH_SHARED,
    catalog,
    catalog_table,
    check_speed,
    current_index,
    replay_config,
)
from core.views.deployment import now_playing, recording_refusal, replay_refusal
from core.views.upload import MAX_UPLOAD_MB, UPLOAD_HELP, check_recording, upload_config
from pages.common import get_runtime

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


def play_file(rt, name: str, data: bytes) -> None:
    """Check a recording file (size, gzip, read as data only) and replay it as the shared feed; a plain message
    when it cannot be played."""
    speed = st.session_state.get("data_speed", 1.0)
    try:
        checked = check_recording(name, data, rt.instruments)
        rt.start(upload_config(checked, speed))
    except SimulatorError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.success(f"Now replaying {checked.describe()}, at x{speed:g}, looping, for every session.")


def capture_view(capture: Capture | None, rt=None) -> None:
    """Progress while recording, then the download button (runs every second only while recording)."""
    if capture is None:
        return
    s = capture.status()
    if s.state is CaptureState.RECORDING:
        st.progress(s.progress, text=progress_text(s))
    elif s.state is CaptureState.FAILED:
        st.error(s.error, icon=":material/error:")
    else:
        st.success(done_text(s), icon=":material/check_circle:")
        st.download_button(
            "Download recording",
            capture.data or b"",
            file_name=s.file_name,
            mime="application/gzip",
            key="data_download",
            on_click="ignore",
            help="The recorded books as .jsonl.gz.",
        )
        allowed = rt is not None and not replay_refusal(rt)
        if allowed and st.button("Replay this recording", key="data_play_capture", help=SWITCH_SHARED):
            play_file(rt, s.file_name, capture.data or b"")


def set_action(action: str) -> None:
    st.session_state.data_action = action  # callbacks only assign; the page acts on it


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


def record_section(rt) -> None:
    """Duration, start/stop buttons and the live progress of this session's recording."""
    seconds = st.number_input(
        "Record for (s)",
        value=30.0,
        step=10.0,
        key="data_seconds",
        help=SECONDS_HELP,
    )
    try:
        secs = check_seconds(seconds)
    except SimulatorError as exc:
        st.error(str(exc), icon=":material/error:")
        secs = None
    action, st.session_state.data_action = st.session_state.data_action, None
    capture = st.session_state.data_capture
    busy = capture is not None and capture.status().state is CaptureState.RECORDING
    if action == "start" and secs is not None and not busy:
        try:
            capture = st.session_state.data_capture = rt.capture(secs)
            busy = True
        except SimulatorError as exc:  # every recording slot of this process is busy
            st.warning(str(exc), icon=":material/hourglass_top:")
    elif action == "stop" and busy:
        capture.finish()
        busy = False
    st.button(
        "Start recording",
        key="data_record",
        disabled=secs is None or busy,
        on_click=set_action,
        args=("start",),
        icon=":material/fiber_manual_record:",
        help="Records every book the feed publishes from now on.",
    )

    @st.fragment(run_every=1.0 if busy else None)
    def live_capture() -> None:
        capture_view(capture, rt)
        if busy and capture.status().state is not CaptureState.RECORDING:
            st.rerun()  # one full rerun stops the timer and keeps the download button still

    live_capture()
    if busy:
        st.button("Stop now", key="data_stop", on_click=set_action, args=("stop",), help="End the recording early.")


def replay_controls(rt, entries) -> None:
    """Pick a bundled recording and a speed; switching restarts the one shared feed."""
    replay = rt.replay
    c1, c2 = st.columns(2)
    i = c1.selectbox(
        "Recording",
        range(len(entries)),
        index=current_index(entries, replay.file if replay else None),
        format_func=lambda k: f"{entries[k].label} ({entries[k].date})",
        key="data_recording",
        help="Bundled recording to replay (looping).",
    )
    speed = c2.number_input(
        "Speed (x real time)",
        value=1.0,
        step=0.5,
        key="data_speed",
        help="Replay pace: 2 = twice as fast as recorded; 0.1 to 100.",
    )
    try:
        check_speed(speed)
    except SimulatorError as exc:
        c2.error(str(exc), icon=":material/error:")
    st.warning(SWITCH_SHARED, icon=":material/group:")
    if st.button("Switch replay", key="data_switch"):
        try:
            rt.start(replay_config(entries[i], speed))
            st.success(f"Now replaying {entries[i].file} at x{check_speed(speed):g} for every session.")
        except SimulatorError as exc:
            st.error(f"Could not switch the replay: {exc}", icon=":material/error:")
    upload = st.file_uploader(
        f"Replay a recording file of your own (.jsonl.gz, at most {MAX_UPLOAD_MB} MB)",
        type=["gz"],
        key="data_upload",
        max_upload_size=MAX_UPLOAD_MB,
        help=UPLOAD_HELP,
    )
    if upload is not None and st.button("Replay this file", key="data_play_upload"):
        play_file(rt, upload.name, upload.getvalue())


data_page()
