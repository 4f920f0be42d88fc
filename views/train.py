"""Train: build a spec, read the data checks, launch a background job, watch it, cancel it."""

import streamlit as st

import models
from core import data, jobs, outcome, runs, settings, sql, ui
from core.diagnostics.calibration import ece_line, run_note
from core.errors import WorkbenchError
from core.spec import CALIBRATIONS, ENGINES, IMBALANCE, OVERSAMPLING, SEARCH_METRICS, SPLITS, VALIDATIONS, VALUE_FAMILIES, TrainSpec
from core.training import prepare
from core.training.validate import first_error
from views import compare_families


def attempt(compute):
    """`(compute(), None)`, or `(None, reason)` with the reason shown: the page keeps its Launch button and job board."""
    try:
        return compute(), None
    except WorkbenchError as err:
        st.error(str(err))
        return None, str(err)


st.title("Train")

# Explore's "Train on this segment" leaves its dataset, target and filter here.
carried = st.session_state.pop("train.carry", None)
if carried:
    st.session_state["train.dataset"] = carried["dataset"]
    st.session_state["train.target"] = carried["target"]
    st.session_state["train.positive"] = carried["positive"] or ""
    st.session_state["train.filters"] = list(carried["filters"])

listing = ui.datasets()
readable = listing[listing["error"] == ""]
for reason in listing.loc[listing["error"] != "", "error"]:  # not offered below: say why, as Explore does
    st.warning(reason)
if readable.empty:
    st.info("No readable datasets yet: add parquet or CSV files under the data root, or generate the demo on Explore.")
    st.stop()

# --- Data --------------------------------------------------------------------------------------
st.header("Data")
names = readable["name"].tolist()
left, middle, right = st.columns(3)
with left:
    # First visit: the dataset open on Explore (an upload opens there), else the demo.
    dataset = ui.choice("Dataset", names, st.session_state.get("explore.dataset", "demo"), key="train.dataset")
columns = ui.or_stop(ui.cached, data.columns, dataset)
column_names = list(columns)
with middle:
    target = ui.choice("Target", column_names, ui.cached(outcome.likely_target, dataset), key="train.target")
positive = right.text_input("Positive value", key="train.positive", help="Matched as text, any case; empty means true / 1 / yes") or None
times = data.time_columns(columns)
time_column = ui.choice("Time column", ["(none)", *times], times[0] if times else "(none)", key="train.time_column")
time_column = None if time_column == "(none)" else time_column

filters = st.session_state.setdefault("train.filters", [])
with ui.shown_errors():
    typed = st.text_input(
        "Add a filter", key="train.filter_text", help="column op value, e.g. country in US, GB; ops: " + ", ".join(sql.OPS)
    )
    if st.button("Add filter", key="train.filter_add") and typed:
        filters.append(sql.parse_filter(typed))
for i, item in enumerate(list(filters)):
    if st.button(f"✕ {sql.describe_filter(item)}", key=f"train.filter_remove.{i}", help="Remove this filter"):
        filters.pop(i)
        st.rerun()

# --- Model -------------------------------------------------------------------------------------
st.header("Model")
families = models.families()
family_name = st.selectbox(
    "Family",
    list(families),
    key="train.family",
    help="gbdt: LightGBM · linear: logistic regression · forest: random forest / extra trees · ensemble: several families combined",
)
family = families[family_name]
grid = st.columns(3)
values = {p.name: ui.param_widget(p, f"train.param.{family_name}.{p.name}", grid[i % 3]) for i, p in enumerate(family.PARAMS)}
# Only changed values go into the spec: the search explores the ones left at their defaults.
params = {p.name: values[p.name] for p in family.PARAMS if values[p.name] != p.default}
_, params_problem = attempt(lambda: models.resolve_params(family, params))  # e.g. an ensemble's members: stops Launch, not the job

left, middle, right = st.columns(3)
split_kind = left.selectbox(
    "Split", SPLITS if time_column else SPLITS[1:], key="train.split", help="temporal: oldest rows train, newest test"
)
valid_fraction = middle.number_input("Valid share", 0.05, 0.45, 0.15, 0.05, key="train.valid_fraction")
test_fraction = right.number_input("Test share", 0.05, 0.45, 0.15, 0.05, key="train.test_fraction")
imbalance = left.selectbox(
    "Imbalance",
    IMBALANCE,
    key="train.imbalance",
    help="undersample keeps every positive and a share of negatives, then corrects the scores · smote, borderline_smote, "
    "adasyn add synthetic positives to the training rows only (imbalanced-learn); calibrate their scores",
)
undersample_rate = middle.number_input(
    "Negatives kept", 0.01, 0.99, 0.2, 0.05, key="train.undersample_rate", disabled=imbalance != "undersample"
)
calibration = right.selectbox(
    "Calibration", CALIBRATIONS, index=CALIBRATIONS.index("isotonic"), key="train.calibration", help="fitted on the valid split only"
)
if imbalance in OVERSAMPLING and calibration == "none":
    st.warning(f"{imbalance} adds synthetic positives, so the model's own probabilities run high: keep calibration on.")
streaming = getattr(family, "STREAMING", False)  # a streamed family learns in one pass: no search, no folds
if models.oversampling_problem(family, imbalance):  # the job would refuse it: Launch stays off and says why
    params_problem = params_problem or models.oversampling_problem(family, imbalance)
    st.error(models.oversampling_problem(family, imbalance))
validation = left.selectbox(
    "Validation",
    VALIDATIONS if time_column else VALIDATIONS[:2],
    key="train.validation",
    disabled=streaming,
    help="holdout: the valid split · kfold: stratified folds of train+valid · timeseries: expanding window over time, "
    "with a gap of WB_CONVERSION_DAYS; the final model is fitted on the split as with holdout",
)
folds = middle.number_input("Folds", 2, 20, 5, key="train.folds", disabled=streaming or validation == "holdout")
learning = right.checkbox(
    "Learning curve", key="train.learning_curve", disabled=streaming, help="metrics at five training-set sizes up to all rows"
)
n_trials = left.number_input(
    "Search trials (0 = no search)",
    0,
    500,
    0,
    key="train.n_trials",
    disabled=streaming,
    help="Optuna trials over the parameters above that you leave at their defaults",
)
search_timeout = middle.number_input("Search time cap (s, 0 = none)", 0, None, 0, 60, key="train.search_timeout", disabled=streaming)
search_metric = right.selectbox("Search metric", SEARCH_METRICS, key="train.search_metric", help="measured on the valid split")
sample_rows = left.number_input("Sample rows (0 = all)", 0, None, 0, 10_000, key="train.sample_rows")
seed = middle.number_input("Seed", 0, None, 0, key="train.seed")
experiment = right.text_input("Experiment", "workbench", key="train.experiment")
engine = "local"
if settings.get("dask_scheduler"):  # a cluster is configured: training may run there
    engine = left.selectbox(
        "Engine",
        ENGINES,
        key="train.engine",
        help=f"dask: gbdt on the cluster at {settings.get('dask_scheduler')}, reading every row of a parquet dataset",
    )

# A second stage on converters: the value (revenue) a conversion brings, and expected value = p(convert) x value.
numeric = sorted(  # revenue-like columns first, then the dataset's order
    (c for c, kind in columns.items() if sql.is_numeric(kind) and c not in (target, time_column)),
    key=lambda c: not any(word in c.lower() for word in ("revenue", "ltv")),
)
with st.expander("Value stage (revenue)"):
    left, middle, right = st.columns(3)
    with left:
        value_column = ui.choice(
            "Value column",
            ["(none)", *numeric],
            "(none)",
            key="train.value_column",
            help="Revenue per row, 0 or missing when not converted; a regressor learns it on converters. Never a feature.",
        )
    st.session_state["train.value_horizons"] = [c for c in st.session_state.get("train.value_horizons", []) if c in numeric]
    horizons = middle.multiselect(
        "Horizons",
        numeric,
        key="train.value_horizons",
        help="Cumulative value columns, shortest first, in the order picked (revenue_d1, revenue_d7, revenue_d30): "
        "predictions never decrease along them. The value column, if set, must be one of them; else the last.",
    )
    value_family = right.selectbox(
        "Value model", VALUE_FAMILIES, key="train.value_family", help="gbdt: LightGBM · linear: ridge regression; both on log1p(value)"
    )
value_column = None if value_column == "(none)" else value_column
value_columns = [*horizons, *([value_column] if value_column and value_column not in horizons else [])]


def make_spec(exclude: list[str], value: bool = True) -> TrainSpec:
    return TrainSpec.from_dict(
        {
            "dataset": dataset,
            "target": target,
            "positive_value": positive,
            "time_column": time_column,
            "features": {"exclude": exclude},
            "filter": [list(f) for f in filters],
            "split": {"kind": split_kind, "valid_fraction": valid_fraction, "test_fraction": test_fraction},
            "model": {"family": family_name, "params": params},
            "imbalance": {"method": imbalance, "undersample_rate": undersample_rate},
            "search": {
                "n_trials": 0 if streaming else int(n_trials),
                "timeout_s": None if streaming else float(search_timeout) or None,
                "metric": search_metric,
            },
            "calibration": calibration,
            "validation": {"kind": "holdout" if streaming else validation, "folds": int(folds)},
            "learning_curve": bool(learning) and not streaming,
            "sample_rows": int(sample_rows) or None,
            "seed": int(seed),
            "experiment": experiment,
            "engine": engine,
            "value": {"column": value_column, "horizons": horizons, "family": value_family} if value else {},
        }
    )


# --- Features and checks -------------------------------------------------------------------------
st.header("Features and data checks")
# The first look leaves the value stage out: its refusal (say, hashed_sgd) is shown once, by the spec below.
first_look, problem = attempt(lambda: ui.cached_for(dataset, prepare.preview_checks, make_spec([], value=False)))
candidates = [c for c in column_names if c not in (target, time_column, *value_columns)]  # value columns are never features
suggested = [] if first_look is None else prepare.suggested_exclusions(first_look, candidates)
exclude_key = f"train.exclude.{dataset}.{target}"
released = [c for c in st.session_state.get("train.value_taken", []) if c not in value_columns and c in suggested]
st.session_state["train.value_taken"] = value_columns
if released and exclude_key in st.session_state:  # back from the value stage: excluded again, as revenue starts
    st.session_state[exclude_key] = [*st.session_state[exclude_key], *released]
exclude = st.multiselect(
    "Exclude",
    candidates,
    default=None if exclude_key in st.session_state else suggested,  # kept by key: the suggestion fills it once
    key=exclude_key,
    help="Suggested: columns the checks call a leak or an id",
)
spec, failed = attempt(lambda: make_spec(exclude))
problem = problem or failed or params_problem
if problem is None:
    checks, problem = attempt(lambda: ui.cached_for(dataset, prepare.preview_checks, spec))
    if checks is not None:
        st.caption(f"Checks on a sample of up to {prepare.PREVIEW_ROWS:,} rows; the job repeats them on all the rows it trains on.")
        flagged = checks[checks["severity"] != "ok"]
        if flagged.empty:  # folded away, so that Launch and the job board stay near the top of the screen
            with st.expander(f"All {len(checks)} data checks pass"):
                st.dataframe(checks, hide_index=True, key="train.checks")
        else:
            st.dataframe(flagged, hide_index=True, key="train.checks")
        if first_error(checks):
            problem = f"Fix before launching: {first_error(checks)}"
            st.error(problem)
if spec is not None:
    left, right = st.columns([3, 1], vertical_alignment="center")
    with left.expander("Spec as YAML"):
        st.code(spec.to_yaml(), language="yaml")
    right.download_button("Download spec as YAML", spec.to_yaml(), file_name="spec.yaml", mime="application/x-yaml", key="train.download")


def launched(run_id: str) -> None:
    st.session_state["train.job"] = run_id  # the board below shows the new job and its log
    st.toast(f"Launched run {run_id[:8]}")


def confirm_duplicate() -> None:
    """Launch anyway: the next run launches the spec the warning was about (before anything renders)."""
    st.session_state["train.confirmed"] = st.session_state.pop("train.duplicate", (None,))[0]


# --- Launch and jobs: the board sits right under the button ----------------------------------------
launch_col, note_col = st.columns([1, 4], vertical_alignment="center")
sha = None if spec is None else jobs.spec_sha(spec)
with ui.shown_errors():
    clicked = launch_col.button("Launch", type="primary", key="train.launch", disabled=problem is not None, help=problem)
    if problem is None and st.session_state.pop("train.confirmed", None) == sha:
        launched(jobs.launch(spec))
    elif clicked:
        duplicate = jobs.duplicate_of(spec)
        if duplicate:  # asks first: an identical job is running
            st.session_state["train.duplicate"] = (sha, duplicate)
        else:
            launched(jobs.launch(spec))
if problem is not None:
    note_col.caption(f"Launch is off until this is fixed: {problem}")
pending = st.session_state.get("train.duplicate")
if pending and problem is None and pending[0] == sha:
    note_col.warning(f"An identical job is already running (run {pending[1][:8]}): launching again trains the same model twice.")
    note_col.button("Launch anyway", key="train.launch_anyway", on_click=confirm_duplicate)


@st.fragment(run_every=2)
def job_board():
    st.header("Jobs")
    table = ui.or_stop(jobs.list_jobs)
    if table.empty:
        st.caption("No training runs yet.")
        return
    st.dataframe(
        table,
        hide_index=True,
        key="train.jobs",
        column_config={
            "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
            "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "duration": st.column_config.NumberColumn("duration (s)", format="%.0f"),
            "roc_auc": st.column_config.NumberColumn("test ROC AUC", format="%.4f"),
        },
    )
    ids = table["run_id"].tolist()
    chosen = ui.choice(
        "Job",
        ids,
        ids[0],
        key="train.job",
        format_func=lambda i: f"{i[:8]} · {table.set_index('run_id').loc[i, 'name']}",
    )
    row = table.set_index("run_id").loc[chosen]
    st.code(jobs.log_tail(chosen) or "(no log yet)", language=None)
    if row["status"] == "FINISHED":  # raw against calibrated ECE, in words when the raw scores are off
        with ui.shown_errors():
            finished = runs.get(chosen)
            line, off = ece_line(finished.metrics), run_note(finished.metrics, finished.tags)
            if off:
                st.warning(off)
            elif line:
                st.caption(line)
    # A leaderboard opens its families below; a monitoring pass opens on the Monitor page.
    opens = row["status"] == "FINISHED" and row["family"] not in ("leaderboard", "monitor")
    if opens and st.button("Open diagnostics", key="train.diagnostics", type="primary"):
        st.session_state["diag.open"] = chosen  # read by Diagnostics before its run picker renders
        st.switch_page("views/diagnostics.py")
    if row["status"] in jobs.ACTIVE:
        with ui.shown_errors():
            if st.button("Cancel", key="train.cancel"):
                jobs.cancel(chosen)
                st.rerun(scope="fragment")


job_board()
compare_families.section(spec, problem)
