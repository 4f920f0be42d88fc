"""Train page's "Compare families": launch a leaderboard job, watch it, read the ranked table, register the best."""

import streamlit as st

import models
from core import jobs, registry, runs, ui
from core.selection import leaderboard as board


def section(spec, problem: str | None) -> None:
    """The section under the job board: families and metric, Compare, then the chosen leaderboard."""
    st.header("Compare families")
    st.caption(
        "Trains each family on this spec's split or folds (its parameters go to every family that has them) as one job, "
        "ranks them with the spread over folds or test-set bootstrap, and tests each against the best: a paired t-test "
        "over folds, or a paired bootstrap on the shared test rows."
    )
    names = list(models.families())
    left, middle, right = st.columns([3, 1, 1], vertical_alignment="bottom")
    chosen = left.multiselect("Families", names, default=[f for f in board.DEFAULT_FAMILIES if f in names], key="train.compare.families")
    metric = middle.selectbox("Rank by", board.METRICS, format_func=board.METRIC_LABELS.get, key="train.compare.metric")
    reason = problem or (None if len(chosen) >= 2 else "Choose at least two families.")
    with ui.shown_errors():
        if right.button("Compare", key="train.compare.launch", disabled=reason is not None or spec is None, help=reason):
            st.session_state["train.compare.run"] = jobs.launch_leaderboard(spec, chosen, metric)
            st.toast("Launched the leaderboard")
    leaderboard_board()


@st.fragment(run_every=2)
def leaderboard_board() -> None:
    listing = ui.or_stop(board.listing)
    if listing.empty:
        st.caption("No leaderboard yet.")
        return
    by_id = listing.set_index("run_id")
    ids = listing["run_id"].tolist()
    run_id = ui.choice(
        "Leaderboard",
        ids,
        ids[0],
        key="train.compare.run",
        format_func=lambda i: label(by_id.loc[i], i),
    )
    row = by_id.loc[run_id]
    if row["status"] in jobs.ACTIVE:
        st.progress(float(row["progress"]), text=f"Training {row['families'].replace(',', ', ')} ({row['validation']})…")
        st.code(jobs.log_tail(run_id, 8) or "(no log yet)", language=None)
        return
    if row["status"] != "FINISHED":
        st.error(f"This leaderboard {row['status'].lower()}: {row['error'] or 'see its log'}")
        st.code(jobs.log_tail(run_id, 8) or "(no log)", language=None)
        return
    table = ui.or_stop(board.stored, run_id)
    metric = row["metric"]
    st.dataframe(
        board.shown(table, metric),
        hide_index=True,
        key="train.compare.table",
        column_config={
            "run_id": st.column_config.TextColumn("run"),
            "score": st.column_config.TextColumn(f"{board.METRIC_LABELS[metric]} (mean ± std)"),
            "p_value_vs_best": st.column_config.TextColumn("p-value vs best"),
            "diagnostics": st.column_config.LinkColumn("diagnostics", display_text="Open"),
        },
    )
    register_best(table.iloc[0])


def label(row, run_id: str) -> str:
    """`2026-11-30 21:30 · gbdt, linear, forest · by ROC AUC · 5772a6c0`: no status, as a changing label resets the choice."""
    families = row["families"].replace(",", ", ")
    return f"{row['started']:%Y-%m-%d %H:%M} · {families} · by {board.METRIC_LABELS.get(row['metric'], row['metric'])} · {run_id[:8]}"


def register_best(best) -> None:
    """One click registers the best family's model (a new challenger version), under the Registry page's naming."""
    known = sorted(ui.or_stop(runs.registered_versions)["model"].unique().tolist())
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    name = name_col.text_input("Registered model", value=known[0] if known else "conversions", key="train.compare.model")
    with ui.shown_errors():
        if button_col.button(f"Register best ({best['family']})", key="train.compare.register", type="primary"):
            version = registry.register(best["run_id"], name.strip())
            st.session_state["train.compare.registered"] = (
                f"Registered {name.strip()} version {version} ({best['family']}): it is the challenger."
            )
    if "train.compare.registered" in st.session_state:
        st.success(st.session_state.pop("train.compare.registered"))
