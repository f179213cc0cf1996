"""Models: each learned model's card, and whether the app uses it or the rule-based fallback."""

import streamlit as st

from core.views.models import CardView, card_figure, card_views, online_view
from pages.common import get_runtime

NUMBER = st.column_config.NumberColumn(format="%.4f")


def render(view: CardView) -> None:
    """One card (a plain function of the view)."""
    st.subheader(view.title)
    if view.in_use:
        st.success(view.status, icon=":material/check_circle:")
    else:
        st.warning(view.status, icon=":material/swap_horiz:")
    st.markdown(
        f"**Model:** {view.name}  \n**Predicts:** {view.target or '—'}  \n**Structure:** {view.structure or '—'}"
    )
    if view.metrics.empty:
        return
    c = st.columns(len(view.samples) or 1)
    for col, (k, n) in zip(c, view.samples.items(), strict=False):
        col.metric(
            f"{k.replace('_', ' ')} samples",
            f"{n:,}",
            help="Rows in that part of the dataset (purged = dropped at the time split).",
        )
    st.markdown("**Held-out metrics against baselines**", help=view.metrics_help)
    st.dataframe(
        view.metrics,
        hide_index=True,
        key=f"models_{view.role}_metrics",
        column_config={col: NUMBER for col in view.metrics.columns if col != "method"},
    )
    fig = card_figure(view)
    if fig is not None:
        st.plotly_chart(fig, key=f"models_{view.role}_chart")
    with st.expander("Data, time split and features"):
        st.dataframe(view.data, hide_index=True, key=f"models_{view.role}_data")
        st.caption(f"Split: {view.split_method}")
        st.dataframe(view.split, hide_index=True, key=f"models_{view.role}_split")
        st.dataframe(view.features, hide_index=True, key=f"models_{view.role}_features")
        st.caption(f"{view.selection}. {view.serving_note} Trained {view.trained_at}.")


def models_page() -> None:
    st.title("Models")
    st.caption(
        "Learned models trained on the bundled recordings (docs/MODELS.md). A model is used only where its "
        "card shows it beats the rule-based baseline on held-out data; otherwise the app keeps the baseline."
    )
    rt = get_runtime()
    views = card_views(rt.models())
    for view in views:
        render(view)
        st.divider()
    st.subheader("Corrected online by what executes")

    @st.fragment(run_every=2.0)
    def online() -> None:
        status = rt.calibration()
        book = rt.latest(*status.instrument) if status is not None and status.instrument else None
        view = online_view(status, book.spread_bps if book is not None else None)
        (st.info if view.learning else st.caption)(view.headline)
        if view.learning:
            st.markdown("**p90 band, by what real taker orders paid**")
            st.dataframe(view.band_table, hide_index=True, key="models_online_band")
            st.markdown("**Maker share, by what the app's test limit orders filled on the tape**")
            st.dataframe(view.maker_table, hide_index=True, key="models_online_maker")
            st.caption(view.units)

    online()


models_page()
