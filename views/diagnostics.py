"""Diagnostics: how good a finished run is, where it fails, whether it still holds, and which threshold pays."""

import numpy as np
import streamlit as st

from core import runs, settings, ui
from core.diagnostics import calibration, diagnose, explain, slice_finder, slices, threshold
from core.plots import calibration as calibration_plots
from core.plots import explain as explain_plots
from core.plots import overview as overview_plots
from core.plots import segments as segment_plots
from core.plots import threshold as threshold_plots
from views.learning_panel import learning_panel
from views.over_time_tab import over_time_tab
from views.threshold_inputs import realised_caption, threshold_inputs
from views.value_tab import value_tab

TABS = ["Overview", "Calibration", "Threshold", "Over time", "Segments", "Explain", "Value"]
BY_ROW_KEY = "a row key…"  # the waterfall's last choice: any explained row by its key
STEP = 0.0001  # the threshold slider's resolution


def _on_step(cut: float, span: tuple[float, float] = (0.0, 1.0)) -> float:
    """The slider position for a cut: rounded to its step, inside its span (the scores' range)."""
    return float(np.clip(round(cut / STEP) * STEP, *span))


def _move(cut: float, policy: dict | None = None) -> None:
    """A suggestion's exact cut and the policy that chose it (None: fixed); the slider shows the cut rounded to its step."""
    st.session_state["diag.cut"] = float(cut)
    st.session_state["diag.policy"] = policy
    st.session_state["diag.threshold"] = _on_step(cut, st.session_state.get("diag.span", (0.0, 1.0)))


def _slid() -> None:
    st.session_state["diag.cut"] = st.session_state["diag.threshold"]
    st.session_state["diag.policy"] = None  # moved by hand: a fixed cut


def _share(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.2%}"


st.title("Diagnostics")

# --- Which run -----------------------------------------------------------------------------------
if st.query_params.get("run") and st.session_state.get("diag.opened") != st.query_params["run"]:
    st.session_state["diag.run"] = st.session_state["diag.opened"] = st.query_params["run"]  # a link such as ?run=<id>
if "diag.open" in st.session_state:  # carried from the Train page's "Open diagnostics"
    st.session_state["diag.run"] = st.session_state.pop("diag.open")
    st.session_state["diag.source"] = "Training run"
source = st.radio("Open", ["Training run", "Registered version"], horizontal=True, key="diag.source")
if source == "Training run":
    listed = ui.or_stop(runs.finished)
    if listed.empty:
        st.info("No finished training run yet: launch one on the Train page.")
        if st.button("Go to Train", key="diag.to_train"):
            st.switch_page("views/train.py")
        st.stop()
    names = {
        r.run_id: f"{r.name} · {r.started:%Y-%m-%d %H:%M} · test ROC AUC {r.roc_auc:.3f} · {r.run_id[:8]}" for r in listed.itertuples()
    }
    run_id = ui.choice("Run", list(names), listed["run_id"].iloc[0], key="diag.run", format_func=names.get)
else:
    versions = ui.or_stop(runs.registered_versions)
    if versions.empty:
        st.info("No registered model version yet: register a run on the Registry page.")
        st.stop()
    keys = [f"{v.model}/{v.version}" for v in versions.itertuples()]
    labels = {k: f"{k}{f' ({a})' if a else ''}" for k, a in zip(keys, versions["aliases"], strict=True)}
    chosen = ui.choice("Registered version", keys, keys[0], key="diag.version", format_func=labels.get)
    run_id = versions["run_id"].iloc[keys.index(chosen)]
    if st.button("Open the Registry", key="diag.to_registry", help="Compare, gate, promote or roll back this model"):
        st.session_state["registry.model"] = chosen.split("/")[0]
        st.switch_page("views/registry.py")
run = ui.or_stop(runs.get, run_id)
saved = runs.saved_threshold(run.tags) or {}
if st.session_state.get("diag.cut_run") != run_id:  # another run: start from its saved cut, else the max-profit one
    st.session_state["diag.cut_run"] = run_id
    for key in ("diag.threshold", "diag.cut"):
        st.session_state.pop(key, None)
predictions = ui.or_stop(ui.run_predictions, run_id)
segment_columns = diagnose.segment_columns(predictions)
st.caption(f"**{run.name}** · {run.family} on `{run.dataset}` · target `{run.target}` · {len(predictions):,} test rows · run `{run_id}`")

# --- Filter for every tab --------------------------------------------------------------------------
filters = st.session_state.setdefault("diag.filters", [])
with st.expander("Filter (applies to every tab)", expanded=bool(filters)):
    if segment_columns:
        column_col, value_col, add_col = st.columns([2, 3, 1], vertical_alignment="bottom")
        column = column_col.selectbox("Segment column", segment_columns, key="diag.filter_column")
        options = runs.segment_values(predictions, column)
        values = value_col.multiselect("Values", options, key="diag.filter_values")
        if add_col.button("Add", key="diag.filter_add", disabled=not values):
            filters.append((column, "in", tuple(values)) if len(values) > 1 else (column, "=", values[0]))
            st.rerun()
    else:
        st.caption("This run logged no segment columns, so there is nothing to filter on.")
    for i, (column, op, value) in enumerate(list(filters)):
        shown = ", ".join(value) if isinstance(value, tuple) else value
        if st.button(f"✕ {column} {op} {shown}", key=f"diag.filter_remove.{i}", help="Remove this filter"):
            filters.pop(i)
            st.rerun()
filters_key = tuple(filters)
frame = ui.or_stop(ui.run_subset, run_id, filters_key)
if frame.empty:
    st.warning("No test rows pass the filter; remove a filter.")
    st.stop()
if filters:
    st.caption(f"Filtered: {len(frame):,} of {len(predictions):,} rows.")
classes = frame["y"].nunique() == 2

if "diag.cut" not in st.session_state:
    if saved.get("threshold") is not None:
        _move(saved["threshold"])  # the Threshold tab reads the policy it was saved with from the run
    else:  # the max-profit cut at the default values: saved untouched, it keeps that policy
        _move(
            *ui.on_run(
                diagnose.opening_cut, run_id, filters_key, settings.get("value_tp"), settings.get("cost_fp"), settings.get("cost_fn")
            )
        )
cut = st.session_state["diag.cut"]  # the cut in force on every tab: exact as saved or suggested, else the slider's

# Only the open tab computes (on_change="rerun"): a slider move reruns the Threshold tab alone.
overview, calib, thresh, over_time, segments, explained, value_pane = st.tabs(TABS, key="diag.tab", on_change="rerun")

# --- Overview ------------------------------------------------------------------------------------
if overview.open:
    with overview:
        headline = ui.on_run(diagnose.headline, run_id, filters_key, resamples=settings.get("bootstrap_resamples"))
        shown = headline.set_index("metric")
        for col, name in zip(st.columns(5), ("roc_auc", "pr_auc", "log_loss", "brier", "ece"), strict=True):
            value, lo, hi = shown.loc[name, ["value", "lo", "hi"]]
            col.metric(
                name.replace("_", " ").upper() if name in ("roc_auc", "pr_auc", "ece") else name.replace("_", " "),
                "—" if np.isnan(value) else f"{value:.4f}",
                help=None if np.isnan(lo) else f"95% bootstrap interval {lo:.4f} – {hi:.4f}",
            )
        st.caption(
            f"{len(frame):,} rows · base rate {frame['y'].mean():.2%} · intervals: {settings.get('bootstrap_resamples')} bootstrap resamples"
        )
        st.dataframe(headline, hide_index=True, key="diag.headline")
        if classes:
            roc, pr = ui.on_run(diagnose.curves, run_id, filters_key)
            left, right = st.columns(2)
            left.plotly_chart(overview_plots.roc_curve(roc, shown.loc["roc_auc", "value"]), key="diag.roc")
            right.plotly_chart(overview_plots.pr_curve(pr, shown.loc["pr_auc", "value"], frame["y"].mean()), key="diag.pr")
        else:
            st.info("Only one class in these rows, so there are no ROC or PR curves; loosen the filter.")
        gain = ui.on_run(diagnose.gain_lift, run_id, filters_key)
        left, right = st.columns(2)
        left.plotly_chart(overview_plots.gain_chart(gain), key="diag.gain")
        right.plotly_chart(overview_plots.lift_bars(gain), key="diag.lift")
        st.dataframe(gain, hide_index=True, key="diag.gain_table")
        learning_panel(run_id)

# --- Calibration ---------------------------------------------------------------------------------
if calib.open:
    with calib:
        strategy_col, bins_col = st.columns(2)
        strategy = strategy_col.radio(
            "Bins",
            ["quantile", "uniform"],
            horizontal=True,
            key="diag.bins_strategy",
            format_func={"quantile": "equal mass", "uniform": "equal width"}.get,
        )
        bins = bins_col.slider("Number of bins", 5, 50, 10, key="diag.bins")
        compared = ui.on_run(diagnose.calibration_compare, run_id, filters_key, bins=bins, strategy=strategy)
        off = calibration.compare_note(compared, run.tags)  # words when the raw scores are off (oversampling, say)
        if off:
            st.warning(off)
        raw_table = ui.on_run(diagnose.reliability, run_id, filters_key, column="score_raw", bins=bins, strategy=strategy)
        table = ui.on_run(diagnose.reliability, run_id, filters_key, column="score", bins=bins, strategy=strategy)
        st.plotly_chart(calibration_plots.reliability(raw_table, table), key="diag.reliability")
        st.dataframe(compared, hide_index=True, key="diag.calibration_compare")
        st.dataframe(table, hide_index=True, key="diag.reliability_table")
        st.subheader("Calibration by segment")
        if segment_columns:
            by = st.selectbox("Segment column", segment_columns, key="diag.calibration_by")
            groups = ui.on_run(calibration.by_group, run_id, filters_key, by)
            st.plotly_chart(calibration_plots.ratio_bars(groups), key="diag.calibration_groups")
            st.dataframe(groups, hide_index=True, key="diag.calibration_group_table")
        st.caption(
            "Calibration ratio = mean score / observed rate: above 1 the model over-predicts, below 1 it under-predicts. By window: see Over time."
        )

# --- Threshold -----------------------------------------------------------------------------------
if thresh.open:
    with thresh:
        table = ui.on_run(threshold.threshold_frame, run_id, filters_key)
        value_tp, cost_fp, cost_fn, capacity, cost_per_action = threshold_inputs(frame, saved, run.tags)  # cost_per_action: value mode
        p_col, r_col, k_col = st.columns(3)
        min_precision = p_col.number_input("Precision at least", 0.0, 1.0, 0.5, key="diag.min_precision")
        min_recall = r_col.number_input("Recall at least", 0.0, 1.0, 0.8, key="diag.min_recall")
        top_pct = k_col.number_input("Top % of rows", 0.1, 100.0, 10.0, key="diag.top_pct")
        if cost_per_action is None:
            valued = threshold.with_profit(table, value_tp, cost_fp, cost_fn)  # a few ms on the cached table
        else:
            valued = threshold.with_value_profit(table, cost_per_action)
        limits = (min_precision, min_recall, top_pct / 100, capacity)
        suggested = threshold.suggestions(valued, value_tp, cost_fp, cost_fn, *limits, cost_per_action=cost_per_action)
        span = threshold.slider_span(frame["score"].to_numpy(), STEP)  # the slider spans the scores, not 0–1
        st.session_state["diag.span"] = span
        if not span[0] <= st.session_state.get("diag.threshold", np.nan) <= span[1]:  # not on screen yet, or other rows
            st.session_state["diag.threshold"] = _on_step(cut, span)

        st.markdown("**Suggestions** — each button moves the slider to the exact cut")
        for col, row in zip(st.columns(len(suggested)), suggested.itertuples(), strict=True):
            usable = not np.isnan(row.threshold)
            rule = threshold.suggestion_policy(row.Index, value_tp, cost_fp, cost_fn, *limits, cost_per_action=cost_per_action)
            col.button(
                row.suggestion,
                key=f"diag.suggest.{row.Index}",
                disabled=not usable,
                on_click=_move,
                args=(row.threshold, rule) if usable else (0.0,),
                help=row.note or f"threshold {row.threshold:.6f}",
                use_container_width=True,
            )
        with st.expander("Suggestions in detail"):
            st.dataframe(suggested, hide_index=True, key="diag.suggestions")
        st.slider(
            "Threshold: flag rows with score ≥",
            *span,
            step=STEP,
            format="%.4f",
            key="diag.threshold",
            on_change=_slid,
            help=f"From the lowest to the highest score of these rows ({span[0]:.4f} – {span[1]:.4f})",
        )
        policy = st.session_state.get("diag.policy")
        if policy is None and saved and cut == saved["threshold"]:  # opened on the saved cut: keep the policy it was saved with
            with ui.shown_errors():
                policy = runs.saved_policy(run.tags)
        if cut != st.session_state["diag.threshold"]:
            st.caption(f"Cut {cut:.6f}, exactly as suggested or saved (the slider shows it to 4 decimals).")
        if policy is not None and policy["kind"] != "fixed":
            st.caption(f"Chosen by **{threshold.policy_text(policy)}**: saved with the cut, a retrain re-derives its cut by it.")
        at = threshold.at(valued, cut)
        rates = {
            "flagged": _share(at["flagged_share"]),
            "precision": _share(at["precision"]),
            "recall": _share(at["recall"]),
            "F1": "—" if np.isnan(at["f1"]) else f"{at['f1']:.4f}",
        }
        counts = {
            "profit" if cost_per_action is None else "expected profit": f"{at['profit']:,.2f}",
            "TP": f"{int(at['tp']):,}",
            "FP": f"{int(at['fp']):,}",
            "FN": f"{int(at['fn']):,}",
        }
        for shown in (rates, counts):  # two rows of four: a count in the millions still fits its column
            for col, (label, value) in zip(st.columns(len(shown)), shown.items(), strict=True):
                col.metric(label, value)
        if cost_per_action is not None:
            realised_caption(at, cost_per_action)
        left, right = st.columns([1, 2])
        left.plotly_chart(threshold_plots.confusion_heatmap(threshold.confusion(at)), key="diag.confusion")
        right.plotly_chart(threshold_plots.profit_curve(valued, cut), key="diag.profit")
        st.plotly_chart(threshold_plots.metrics_by_threshold(valued, cut), key="diag.threshold_metrics")
        if threshold.every_cut_loses(valued, capacity):
            st.warning("At these values and costs every cut loses money compared with flagging nothing.")
        with ui.shown_errors():
            if st.button(
                "Save threshold", type="primary", key="diag.save", help="Tags the run (and its registered versions) for batch scoring"
            ):
                tagged = runs.save_threshold(
                    run_id, cut, value_tp, cost_fp, cost_fn, capacity, policy=policy, cost_per_action=cost_per_action
                )
                chosen_by = threshold.policy_text(policy) if policy is not None else "fixed by hand"
                where = f"run {run_id[:8]}" + (f" and versions {', '.join(tagged)}" if tagged else "")
                st.success(f"Saved threshold {cut:.4f} ({chosen_by}) on {where}.")
            if saved:
                st.caption(f"Saved threshold: {saved['threshold']:.6f}, {threshold.policy_text(runs.saved_policy(run.tags))}")

# --- Over time -----------------------------------------------------------------------------------
if over_time.open:
    with over_time:
        over_time_tab(run_id, filters_key, frame, cut)

# --- Segments ------------------------------------------------------------------------------------
if segments.open:
    with segments:
        if not segment_columns:
            st.info("This run logged no segment columns.")
        else:
            column_col, metric_col = st.columns(2)
            by = column_col.selectbox("Segment column", segment_columns, key="diag.segment_by")
            metric = metric_col.selectbox("Metric (worst first)", list(slices.METRICS), key="diag.segment_metric")
            table = ui.on_run(slices.segment_metrics, run_id, filters_key, by, metric)
            st.plotly_chart(segment_plots.segment_metric_bars(table, metric), key="diag.segment_chart")
            st.dataframe(table, hide_index=True, key="diag.segment_table")
            st.subheader("Parity at the current threshold")
            parity = ui.on_run(slices.parity, run_id, filters_key, by, cut)
            st.plotly_chart(segment_plots.parity_bars(parity), key="diag.parity_chart")
            st.dataframe(parity, hide_index=True, key="diag.parity_table")
            st.subheader("Slice finder")
            found = ui.on_run(
                slice_finder.find_slices, run_id, filters_key, tuple(segment_columns), min_rows=settings.get("slice_min_rows")
            )
            tested, worse = found.attrs.get("tested", 0), found.attrs.get("worse", 0)
            if not tested:
                st.caption(f"No slice of at least {settings.get('slice_min_rows'):,} rows with both classes to test.")
            elif found.empty:
                st.caption(f"None of {tested:,} slices tested does significantly worse than the rest (Benjamini–Hochberg q < 0.05).")
            else:
                st.caption(
                    f"The {len(found)} worst of {worse:,} slices found worse (of {tested:,} tested), by effect. A slice is flagged "
                    "when its ROC AUC is below the rest's, or its predicted positives differ from the observed "
                    "(Benjamini–Hochberg q < 0.05); red bars show the test that flagged it."
                )
                st.plotly_chart(segment_plots.slice_bars(found), key="diag.slice_chart")
                st.dataframe(found.drop(columns=["filters"]), hide_index=True, key="diag.slices")
                picked = st.selectbox("Slice", range(len(found)), format_func=lambda i: found["slice"].iloc[i], key="diag.slice_pick")
                if st.button("Filter every tab to this slice", key="diag.slice_filter"):
                    st.session_state["diag.filters"] = list(found["filters"].iloc[picked])
                    st.rerun()

# --- Explain -------------------------------------------------------------------------------------
if explained.open:
    with explained:
        shap = ui.or_stop(ui.run_explanation, run_id) if run.shap_note is None else None
        st.caption(explain.log_odds_note(run.family))
        if shap is None:
            st.info(run.shap_note or "This run logged no SHAP values.")
        else:
            kept = ui.run_shap_subset(run_id, filters_key)
            st.caption(f"SHAP sample: {len(kept):,} test rows (of {len(shap):,} explained).")
            if kept.empty:
                st.warning("No explained row passes the filter; remove a filter.")
                st.stop()
            importance = ui.on_shap(explain.mean_abs, run_id, filters_key)
            st.plotly_chart(explain_plots.importance_bars(importance), key="diag.importance")
            st.plotly_chart(explain_plots.beeswarm(ui.on_shap(explain.beeswarm, run_id, filters_key)), key="diag.beeswarm")
            names = importance["feature"].tolist()  # most important first: the dependence opens on the top feature
            feature_col, colour_col = st.columns(2)
            feature = feature_col.selectbox("Dependence of", names, key="diag.dependence")
            colour = colour_col.selectbox("Coloured by", [None, *[n for n in names if n != feature]], key="diag.dependence_colour")
            dependence = ui.on_shap(explain.dependence, run_id, filters_key, feature, colour)
            st.plotly_chart(explain_plots.dependence(dependence, feature, colour), key="diag.dependence_chart")
            picks = explain.waterfall_rows(kept, predictions, cut).set_index("pick")
            pick_col, key_col = st.columns(2)
            with pick_col:
                pick = ui.choice(
                    "Row for the waterfall",
                    [*picks.index, BY_ROW_KEY],
                    picks.index[0] if len(picks) else BY_ROW_KEY,
                    key="diag.waterfall_pick",
                    format_func=lambda p: (
                        p if p == BY_ROW_KEY else f"{p} · score {picks.loc[p, 'score']:.4f} · y = {int(picks.loc[p, 'y'])}"
                    ),
                    help=f"Picked by score among the explained rows, around the cut in force ({cut:.4f}, as on the Threshold tab)",
                )
            if pick == BY_ROW_KEY:
                row = key_col.number_input("Row key", value=int(kept["row"].iloc[0]), step=1, key="diag.waterfall_row")
            else:
                row = picks.loc[pick, "row"]
                key_col.caption(f"Row key {row}")
            with ui.shown_errors():
                st.plotly_chart(explain_plots.waterfall(ui.on_shap(explain.waterfall, run_id, filters_key, row)), key="diag.waterfall")
            by_options = [*(["window"] if "time" in kept else []), *[c for c in segment_columns if c in kept]]
            group_by = st.selectbox("Mean |SHAP| by", by_options, key="diag.shap_by")
            if group_by is not None:
                heat = ui.on_shap(diagnose.shap_by, run_id, filters_key, group_by)
                st.plotly_chart(explain_plots.group_heatmap(heat, f"Mean |SHAP| by {group_by}"), key="diag.shap_groups")

# --- Value ---------------------------------------------------------------------------------------
if value_pane.open:
    with value_pane:
        value_tab(run_id, filters_key, frame, run.tags)
