"""The Data page's recording panel: a duration, start and stop, live progress, then the download."""

import streamlit as st

from core.errors import SimulatorError
from core.views.capture import SECONDS_HELP, Capture, CaptureState, check_seconds, done_text, progress_text
from core.views.catalog import SWITCH_SHARED
from core.views.deployment import replay_refusal
from pages.replay_panel import play_file


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
        if capture.trades_data:
            st.download_button(
                "Download its trades",
                capture.trades_data,
                file_name=capture.trades_file_name,
                mime="application/octet-stream",
                key="data_download_trades",
                on_click="ignore",
                help="The public trades the live feed streamed while recording, in base units, as Parquet.",
            )
        allowed = rt is not None and not replay_refusal(rt)
        if allowed and st.button("Replay this recording", key="data_play_capture", help=SWITCH_SHARED):
            play_file(rt, s.file_name, capture.data or b"")


def set_action(action: str) -> None:
    st.session_state.data_action = action  # callbacks only assign; the page acts on it


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
