"""Registry: versions of a registered model, challenger against champion, the gate, promote, roll back, retrain."""

import streamlit as st

from core import jobs, registry, runs, settings, ui
from core.diagnostics import diagnose, threshold
from core.plots import registry as registry_plots

CHOICES = ("registry.challenger", "registry.against", "registry.promote_version")  # widgets naming versions

st.title("Registry")

# --- Register a run -------------------------------------------------------------------------------
listed = ui.or_stop(runs.registered_versions)
models = sorted(listed["model"].unique().tolist())
with st.expander("Register a finished run", expanded=not models):
    finished = ui.or_stop(runs.finished)
    if finished.empty:
        st.caption("No finished training run yet: launch one on the Train page.")
    else:
        names = {
            r.run_id: f"{r.name} · {r.started:%Y-%m-%d %H:%M} · test ROC AUC {r.roc_auc:.3f} · {r.run_id[:8]}"
            for r in finished.itertuples()
        }
        run_col, name_col, button_col = st.columns([3, 2, 1], vertical_alignment="bottom")
        run_id = run_col.selectbox("Run", list(names), format_func=names.get, key="registry.run")
        name = name_col.text_input("Registered model", value=models[0] if models else "conversions", key="registry.name")
        with ui.shown_errors():
            if button_col.button("Register", key="registry.register"):
                version = registry.register(run_id, name.strip())
                st.session_state["registry.model"] = name.strip()
                for key in CHOICES:  # start again from the new challenger
                    st.session_state.pop(key, None)
                st.session_state["registry.registered"] = f"Registered {name.strip()} version {version}: it is the challenger."
                st.rerun()
if "registry.registered" in st.session_state:
    st.success(st.session_state.pop("registry.registered"))
if not models:
    st.info("No registered model yet: register a finished run above.")
    st.stop()

# --- Versions ------------------------------------------------------------------------------------
model = ui.choice("Model", models, models[0], key="registry.model")
versions = ui.or_stop(registry.versions, model)
champion, challenger_version = registry.champion(model), registry.challenger(model)
st.caption(
    (f"Champion: **version {champion}**" if champion else "No champion yet: promote a version below.")
    + (f" · challenger: **version {challenger_version}**" if challenger_version else "")
)
st.dataframe(
    versions,
    hide_index=True,
    key="registry.versions",
    column_order=["version", "name", *[c for c in versions.columns if c not in ("version", "name")]],
    column_config={
        "name": st.column_config.TextColumn("run"),
        "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "test_roc_auc": st.column_config.NumberColumn("test ROC AUC", format="%.4f"),
        "test_ece": st.column_config.NumberColumn("test ECE", format="%.4f"),
        "threshold": st.column_config.NumberColumn("saved threshold", format="%.4f"),
    },
)
numbers = versions["version"].tolist()

# --- Compare and gate ----------------------------------------------------------------------------
st.header("Challenger against champion")
left, right = st.columns(2)
newest = challenger_version if challenger_version in numbers else numbers[0]  # what a new choice starts from
with left:
    challenger = ui.choice("Challenger", numbers, newest, key="registry.challenger")
others = [v for v in numbers if v != challenger]
with right:
    against = ui.choice(
        "Compared with", others, champion if champion in others else (others[0] if others else None), key="registry.against"
    )
if against is None:
    st.caption("One version only: the gate checks its floors alone.")
if st.button("Compare and gate", key="registry.compare", help="Scores both versions on the challenger's test rows; paired bootstrap"):
    with ui.shown_errors(), st.spinner("Scoring both versions on the same rows…"):
        table, verdict, _ = registry.gate_version(model, challenger, against, resamples=settings.get("bootstrap_resamples"))
        st.session_state["registry.result"] = (model, challenger, against, table, verdict)
result = st.session_state.get("registry.result")
if result and result[:3] == (model, challenger, against):
    _, _, _, table, verdict = result
    valued = table["metric"].str.startswith("value_")
    st.dataframe(table[~valued], hide_index=True, key="registry.compare_table")
    if valued.any():
        column, note, maturity = (table.attrs.get(k) for k in ("value_column", "value_note", "value_maturity"))
        st.subheader(f"Value if converted: {column}")
        st.caption(
            f"Each version's E[{column} | converted] on the {table.attrs.get('value_rows', 0):,} holdout converters with a "
            f"known value{f' ({maturity})' if maturity else ''}; diff = challenger − champion, with a paired bootstrap 95% "
            "interval." + (f" Not compared: {note}." if note else "")
        )
        st.dataframe(table[valued], hide_index=True, key="registry.value_table")
    if against is not None:
        roc, reliability = diagnose.paired_curves(ui.paired(model, challenger, against))
        roc_col, rel_col = st.columns(2)
        roc_col.plotly_chart(registry_plots.roc_overlay(roc), key="registry.roc")
        rel_col.plotly_chart(registry_plots.reliability_overlay(reliability), key="registry.reliability")
    st.dataframe(verdict, hide_index=True, key="registry.gate_table")
    if verdict["passed"].all():
        st.success(f"Version {challenger} passes the gate.")
    else:
        st.error(f"Version {challenger} fails the gate: {', '.join(verdict.loc[~verdict['passed'], 'rule'])}. Promotion is blocked.")

# --- Promote and roll back -------------------------------------------------------------------------
st.header("Promote or roll back")
moved = st.session_state.pop("registry.moved", None)
if moved:  # a move just happened: clear its confirmation and reason before the widgets draw, so one click is one move
    for key in ("registry.promote_reason", "registry.rollback_reason"):
        st.session_state[key] = ""
    for key in ("registry.promote_sure", "registry.rollback_sure"):
        st.session_state[key] = False
    st.success(moved)
promote_col, rollback_col = st.columns(2)
with promote_col:
    version = ui.choice("Version to promote", numbers, newest, key="registry.promote_version")
    reason = st.text_input("Reason", key="registry.promote_reason", help="Why this version serves now; kept in the history")
    sure = st.checkbox(f"Yes, make version {version} the champion", key="registry.promote_sure")
    with ui.shown_errors():
        if st.button("Promote", type="primary", key="registry.promote", disabled=not (sure and reason.strip())):
            registry.promote(model, version, reason.strip())
            st.session_state["registry.moved"] = f"Version {version} is the champion."
            st.rerun()
with rollback_col:
    reason_back = st.text_input("Reason", key="registry.rollback_reason", help="Why the previous champion returns; kept in the history")
    sure_back = st.checkbox("Yes, go back to the previous champion", key="registry.rollback_sure")
    with ui.shown_errors():
        if st.button("Roll back", key="registry.rollback", disabled=not (sure_back and reason_back.strip())):
            row = registry.rollback(model, reason_back.strip())
            st.session_state["registry.moved"] = f"Rolled back: version {row['to_version']} is the champion again."
            st.rerun()

st.subheader("History")
st.dataframe(ui.or_stop(registry.history, model), hide_index=True, key="registry.history")
stopped = ui.or_stop(registry.interrupted, model)
if not stopped.empty:  # a promote or rollback whose process died before the alias moved: it changed nothing
    st.warning(f"{len(stopped)} move(s) were interrupted before the champion alias moved and had no effect.")
    st.dataframe(stopped, hide_index=True, key="registry.interrupted")


# --- Retrain & promote ---------------------------------------------------------------------------
st.header("Retrain & promote")
st.caption("Trains the champion's spec on current data, registers it, compares it with the champion, gates and promotes if it passes.")
with ui.shown_errors():
    if st.button("Retrain & promote", key="registry.retrain", disabled=champion is None):
        st.session_state["registry.retrain_run"] = jobs.launch_retrain(model)


@st.fragment(run_every=2)
def retrain_status():
    watched = ui.watched_job("registry.retrain_run")
    if watched is None:
        return
    run_id, row = watched
    tags = runs.run_tags(run_id)
    ended = "wb.retrain.promoted" in tags or row["status"] == "FAILED"
    if ended and st.session_state.get("registry.retrain_seen") != run_id:
        # The job changed versions, aliases and history drawn outside this fragment: forget choices naming the old
        # versions and draw the whole page again.
        st.session_state["registry.retrain_seen"] = run_id
        for key in (*CHOICES, "registry.result"):
            st.session_state.pop(key, None)
        st.rerun(scope="app")
    st.progress(float(row["progress"]), text=f"Retrain job {run_id[:8]}: {row['status']}")
    if "wb.retrain.promoted" in tags:
        verdict = "passed the gate and is the champion" if tags["wb.retrain.promoted"] == "true" else "failed the gate; the champion stays"
        saved = runs.saved_threshold(tags)
        cut = f" Its threshold: {saved['threshold']:.4f}, by {threshold.policy_text(runs.saved_policy(tags))}." if saved else ""
        st.success(f"Version {tags['wb.retrain.version']} {verdict} (champion: version {registry.champion(model)}).{cut}")
    elif row["status"] == "FAILED":
        st.error(tags.get("wb.error") or "The retrain job failed; see its log on the Train page.")
    else:
        st.code(jobs.log_tail(run_id, 8) or "(starting)", language=None)


retrain_status()
