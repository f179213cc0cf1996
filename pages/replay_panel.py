"""The Data page's replay panel: pick a bundled recording or upload one, and a speed, for the one shared feed."""

import streamlit as st

from core.errors import SimulatorError
from core.views.catalog import SWITCH_SHARED, check_speed, current_index, replay_config
from core.views.upload import MAX_UPLOAD_MB, UPLOAD_HELP, check_recording, upload_config


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
