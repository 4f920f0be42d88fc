"""Monitor: is the champion still right on new data? Alerts, scores, estimated and realised performance, drift, retrain."""

import datetime as dt

import streamlit as st

from core import data, jobs, registry, runs, settings, ui
from core.monitoring import monitor_pass, summary
from core.monitoring.alerts import Limits
from core.plots import monitor as plots

ENDED = ("FINISHED", "FAILED", "KILLED")

st.title("Monitor")

# --- What to monitor -----------------------------------------------------------------------------
versions = ui.or_stop(runs.registered_versions)
if versions.empty:
    st.info("No registered model yet: register and promote a run on the Registry page, then monitor it here.")
    st.stop()
models = sorted(versions["model"].unique().tolist())
model_col, version_col = st.columns(2)
with model_col:
    model = ui.choice("Model", models, models[0], key="monitor.model")
choices = summary.version_choices(versions, model)
with version_col:
    which = ui.choice("Version", list(choices), next(iter(choices)), key="monitor.version", format_func=choices.get)
version, model_run = ui.or_stop(summary.chosen_version, versions, model, which)
trained = ui.or_stop(runs.get, model_run)

listing = ui.datasets()
names = listing.loc[listing["error"] == "", "name"].tolist()
data_col, time_col, since_col, window_col, step_col = st.columns([3, 2, 2, 1, 1])
with data_col:
    dataset = ui.choice("Dataset", names, trained.dataset, key="monitor.dataset", help="New rows to score; the model's own by default")
times = data.time_columns(ui.or_stop(ui.cached, data.columns, dataset)) if dataset else []
with time_col:
    time_column = ui.choice("Time column", times, trained.time_column, key="monitor.time_column")
own_data = dataset == trained.dataset
since = since_col.date_input(
    "Since",
    value=ui.or_stop(ui.on_run, summary.first_unfitted_day, model_run, ()) if own_data else None,
    key="monitor.since",
    help="Only rows from this day on; empty: every row. On the model's own dataset it starts at its test split, the first "
    "rows it never fitted: windows over its training rows are in-sample.",
)
window_days = window_col.number_input("Window (days)", 1, 90, 7, key="monitor.window_days")
step_days = step_col.number_input("Step (days)", 1, 90, 1, key="monitor.step_days")
if not time_column:
    st.warning(f"Dataset {dataset} has no date or timestamp column, so it cannot be cut into windows; pick another dataset.")
with ui.shown_errors():
    if st.button("Run monitoring pass", type="primary", key="monitor.launch", disabled=not time_column):
        st.session_state["monitor.job"] = jobs.launch_monitor(
            model,
            dataset,
            time_column,
            version=int(which) if which.isdigit() else None,
            alias=which,
            since=since.isoformat() if isinstance(since, dt.date) else None,
            window_days=int(window_days),
            step_days=int(step_days),
        )


@st.fragment(run_every=2)
def pass_job():
    """The launched pass's progress and log while it runs; when it ends, the page redraws on its results."""
    watched = ui.watched_job("monitor.job")
    if watched is None:
        return
    run_id, row = watched
    if row["status"] in ENDED and st.session_state.get("monitor.job_seen") != run_id:
        st.session_state["monitor.job_seen"] = run_id
        if row["status"] == "FINISHED":
            st.session_state["monitor.pass"] = run_id  # show the new pass
        st.rerun(scope="app")
    st.progress(float(row["progress"]), text=f"Monitoring pass {run_id[:8]}: {row['status']}")
    if row["status"] == "FINISHED":
        return
    if row["status"] in ENDED:
        st.error(runs.run_tags(run_id).get("wb.error") or "The monitoring pass failed; see its log below.")
    st.code(jobs.log_tail(run_id, 6) or "(starting)", language=None)
    if row["status"] in jobs.ACTIVE:
        with ui.shown_errors():
            if st.button("Cancel", key="monitor.cancel"):
                jobs.cancel(run_id)
                st.rerun(scope="fragment")


pass_job()

# --- The pass: alerts first -----------------------------------------------------------------------
st.header("Latest pass")
history = ui.or_stop(monitor_pass.history, model)
finished = history[history["status"] == "FINISHED"]
if finished.empty:
    st.info(f"No finished monitoring pass of {model} yet: run one above.")
    chosen = None
else:
    labels = {
        r.run_id: f"{r.started:%Y-%m-%d %H:%M} · version {r.version} · {r.dataset} · {r.alerts} alert(s) · {r.run_id[:8]}"
        for r in finished.itertuples()
    }
    chosen = ui.choice("Pass", list(labels), finished["run_id"].iloc[0], key="monitor.pass", format_func=labels.get)
found = None
if chosen:
    with ui.shown_errors():  # a pass whose files are gone: say so, and still offer the actions below
        found = ui.monitor_pass(chosen)
if found is not None:
    tags, windows, alerts = found.tags, found.windows, found.alerts
    limits = Limits.from_settings()
    since_text = f" since {tags['wb.since'][:10]}" if tags.get("wb.since") else ""
    st.caption(
        f"Version {tags.get('wb.version')} of {model} on `{tags.get('wb.dataset')}`{since_text} by `{tags.get('wb.time_column')}`: "
        f"{len(windows)} windows, {int(windows['rows'].max() if len(windows) else 0):,} rows in the largest; labels mature "
        f"{settings.get('conversion_days'):g} days after a window ends (as of {tags.get('wb.now', '?')[:16]}); "
        f"threshold {float(tags.get('wb.threshold', 'nan')):.4f}"
        + (" (none saved: the default)." if tags.get("wb.threshold_from", "").startswith("default") else ".")
    )
    (st.error if len(alerts) else st.success)(summary.headline(alerts))
    if len(alerts):
        st.dataframe(
            alerts,
            hide_index=True,
            key="monitor.alerts",
            column_config={
                "window_start": st.column_config.DatetimeColumn("window start", format="YYYY-MM-DD"),
                "value": st.column_config.NumberColumn(format="%.4f"),
                "limit": st.column_config.NumberColumn(format="%.4f"),
            },
        )

    # --- Timelines ---------------------------------------------------------------------------------
    st.header("Over time")
    left, right = st.columns(2)
    left.plotly_chart(plots.score_timeline(windows, alerts, limits.score_psi), key="monitor.scores")
    right.plotly_chart(plots.roc_auc_timeline(windows, alerts, limits.roc_auc), key="monitor.roc_auc")
    left.plotly_chart(plots.calibration_timeline(windows, alerts, limits.calibration_band), key="monitor.calibration")
    right.plotly_chart(plots.volume_timeline(windows), key="monitor.volume")
    st.caption(
        "Each window is drawn at its start. Score PSI compares the window's scores with the model's own test scores. "
        "Realised metrics appear once a window's labels are mature; before that the estimate from the calibrated scores "
        "(CBPE, dashed) stands in. Hollow markers: fewer positives than needed for a settled number. Red crosses: alerts."
    )
    with st.expander("Window table"):
        st.dataframe(windows, hide_index=True, key="monitor.windows")

    # --- Drift -------------------------------------------------------------------------------------
    st.header("Feature drift")
    drift = found.drift
    if drift.empty:
        st.caption("This pass logged no feature drift (the model has no input features with a training reference).")
    else:
        st.plotly_chart(plots.drift_heatmap(drift), key="monitor.drift_heatmap")
        starts = windows["start"].tolist()
        start = ui.choice("Window", starts, starts[-1], key="monitor.window", format_func=lambda s: f"starting {s:%Y-%m-%d}")
        table = summary.window_drift(drift, start)
        st.dataframe(
            table,
            hide_index=True,
            key="monitor.drift",
            column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns if c not in ("feature", "kind", "rows")},
        )
        bars_col, histogram_col = st.columns([2, 3])
        bars_col.plotly_chart(plots.drift_bars(table, limits.feature_psi), key="monitor.drift_bars")
        with histogram_col:
            feature_col, period_col = st.columns([3, 2])
            features = table["feature"].tolist()
            with feature_col:
                feature = ui.choice("Feature", features, features[0] if features else None, key="monitor.feature")
            with period_col:
                period = st.radio("Current rows", ["last window", "all"], horizontal=True, key="monitor.period")
            if feature:
                shown = found.histograms[found.histograms["period"] == period]
                st.plotly_chart(plots.feature_histogram(shown, feature), key="monitor.histogram")
                st.caption("Reference: the model's training rows. Current: the last window's rows, or every monitored row.")

# --- Act ---------------------------------------------------------------------------------------------
st.header("Act on it")
champion = registry.champion(model)
retrain_col, diag_col, registry_col = st.columns(3)
with retrain_col, ui.shown_errors():
    alerted = found is not None and len(found.alerts) > 0
    if st.button(
        "Retrain & promote",
        key="monitor.retrain",
        type="primary" if alerted else "secondary",
        disabled=champion is None,
        help="Trains the champion's spec on current data, registers it, gates it against the champion and promotes it if it passes",
    ):
        st.session_state["monitor.retrain_run"] = jobs.launch_retrain(model)
if diag_col.button(f"Diagnostics of version {version}", key="monitor.to_diagnostics"):
    st.session_state["diag.source"] = "Registered version"
    st.session_state["diag.version"] = f"{model}/{version}"
    st.switch_page("views/diagnostics.py")
if registry_col.button(f"{model} in the Registry", key="monitor.to_registry"):
    st.session_state["registry.model"] = model
    st.switch_page("views/registry.py")


@st.fragment(run_every=2)
def retrain_job():
    watched = ui.watched_job("monitor.retrain_run")
    if watched is None:
        return
    run_id, row = watched
    tags = runs.run_tags(run_id)
    ended = "wb.retrain.promoted" in tags or row["status"] in ENDED
    if ended and st.session_state.get("monitor.retrain_seen") != run_id:  # a new champion: the version picker changes
        st.session_state["monitor.retrain_seen"] = run_id
        st.rerun(scope="app")
    st.progress(float(row["progress"]), text=f"Retrain job {run_id[:8]}: {row['status']}")
    if "wb.retrain.promoted" in tags:
        verdict = "passed the gate and is the champion" if tags["wb.retrain.promoted"] == "true" else "failed the gate; the champion stays"
        st.success(f"Version {tags['wb.retrain.version']} {verdict}. Run a monitoring pass on it above.")
    elif row["status"] in ENDED:
        st.error(tags.get("wb.error") or "The retrain job failed; see its log on the Train page.")
    else:
        st.code(jobs.log_tail(run_id, 6) or "(starting)", language=None)


retrain_job()
