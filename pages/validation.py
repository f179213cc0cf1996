"""Validation: the app's estimates against what really executed, from docs/validation.json (make validate)."""

import streamlit as st

from core.errors import InputError
from core.views import validation as vv

PCT = st.column_config.NumberColumn(format="percent")
BPS = st.column_config.NumberColumn(format="%.3f")


def validation_page() -> None:
    st.title("Validation")
    st.caption(
        "Every number here was written by `python -m core.validate` (`make validate`) into docs/validation.json, "
        "the same figures as docs/VALIDATION.md: the app's own estimates for real public taker orders and "
        "simulated resting orders, scored against what the trade tape shows. " + vv.MEANINGS["interval"]
    )
    try:
        doc = vv.load_report()
    except InputError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    labels = vv.recording_labels(doc)
    index = st.selectbox(
        "Recording",
        range(len(labels)),
        format_func=lambda i: labels[i],
        key="val_recording",
        index=vv.first_held_out(doc),
        help="Each recording says how the models used it: the held-out day was used for nothing, so its figures "
        "are the out-of-sample test; a training day's are in sample.",
    )
    view = vv.validation_view(doc, index)
    st.caption(view.summary)

    st.subheader("Market orders: estimate vs realised cost")
    st.markdown(f"{vv.MEANINGS['bias']}  \n{vv.MEANINGS['mae']}")
    st.dataframe(view.errors, hide_index=True, key="val_errors")
    fig = vv.scatter_figure(view)
    if fig is not None:
        st.plotly_chart(fig, key="val_scatter")
    st.caption(view.scatter_note)
    with st.expander("Bias and MAE by order size"):
        st.dataframe(view.errors_by_size, hide_index=True, key="val_errors_by_size")

    st.subheader("p90 coverage by size")
    st.markdown(vv.MEANINGS["coverage"])
    st.markdown(f"**Overall:** {view.coverage_overall}")
    for note in view.coverage_notes:
        st.caption(note)
    fig = vv.coverage_figure(view)
    if fig is not None:
        st.plotly_chart(fig, key="val_coverage_chart")
    st.dataframe(view.coverage_table, hide_index=True, key="val_coverage")

    st.subheader("Limit orders: fill calibration and markouts")
    st.markdown(f"{vv.MEANINGS['fill']}  \n{vv.MEANINGS['markouts']}")
    if view.limit_note:
        st.caption(view.limit_note)
    for key, fig in (("val_fill_chart", vv.fill_figure(view)), ("val_markout_chart", vv.markout_figure(view))):
        if fig is not None:
            st.plotly_chart(fig, key=key)
    with st.expander("Fill calibration and markout tables"):
        fill = view.fill_table
        st.dataframe(fill, hide_index=True, key="val_fill", column_config={c: PCT for c in fill.columns[2:]})
        st.dataframe(view.markouts, hide_index=True, key="val_markouts", column_config={"mean_bps": BPS})

    st.caption(view.bootstrap)
    if view.not_validated:
        with st.expander("What this does not validate"):
            st.markdown("\n".join(f"- {x}" for x in view.not_validated))


validation_page()
