"""Explore: upload or pick a dataset, read its profile, filter, cut the target rate by segment and time, run SQL."""

import streamlit as st

from core import data, demo, outcome, plots, settings, sql, sqlbox, ui

st.title("Explore")


def _open_dataset(name: str | None = None):
    """A new dataset starts clean: its own default target, no filters, no stale SQL result."""
    if name is not None:
        st.session_state["explore.dataset"] = name
    st.session_state["explore.filters"] = []
    for key in ("explore.target", "explore.by", "explore.time_column", "explore.sql_result"):
        st.session_state.pop(key, None)


# --- Upload ------------------------------------------------------------------------------------
with st.sidebar.expander("Upload a CSV or parquet file", expanded=False):
    attempt = st.session_state.setdefault("explore.upload_round", 0)
    uploaded = st.file_uploader(
        "File",
        type=["csv", "parquet"],
        max_upload_size=settings.get("upload_max_mb"),
        key=f"explore.upload.{attempt}",
        help=f"At most {settings.get('upload_max_mb'):,} MB (WB_UPLOAD_MAX_MB); saved under the data root once DuckDB reads it.",
    )
    overwrite = st.checkbox("Overwrite existing", key="explore.upload_overwrite", help="Replace a dataset of the same name")
    to_parquet = st.checkbox(
        "Convert CSV to parquet", key="explore.upload_parquet", help="Faster to read; column types as DuckDB reads them"
    )
    with ui.shown_errors():
        if st.button("Add dataset", key="explore.upload_save", disabled=uploaded is None, type="primary"):
            saved = ui.save_upload(uploaded, overwrite=overwrite, to_parquet=to_parquet)
            _open_dataset(saved.name)
            st.session_state["explore.upload_round"] = attempt + 1  # a fresh, empty uploader
            st.session_state["explore.uploaded"] = (
                f"Added **{saved.name}** ({saved.rows:,} rows{', as parquet' if saved.converted else ''})."
            )
            st.rerun()
    if note := st.session_state.pop("explore.uploaded", None):
        st.success(note)

# --- Dataset -----------------------------------------------------------------------------------
listing = ui.datasets()
if listing.empty:
    root = settings.get("data_root")
    st.info(
        f"No datasets under `{root}` yet. Put parquet or CSV files there (a folder of `key=value/` "
        "partitions counts as one dataset), set `WB_DATA_ROOT` to your own folder, or generate the demo."
    )
    rows = st.number_input("Demo rows", min_value=10_000, value=settings.get("demo_rows"), step=100_000, key="explore.demo_rows")
    if st.button("Generate demo data", type="primary", key="explore.generate"):
        with st.status("Generating demo data…", expanded=True) as status:
            bar = st.progress(0.0, text="simulating events")
            table = demo.generate(int(rows), settings.get("demo_days"))
            demo.write(table, root / "demo", progress=lambda done, total: bar.progress(done / total, text=f"writing day {done}/{total}"))
            status.update(label="Demo data ready", state="complete")
        st.rerun()
    st.stop()

for _, broken in listing[listing["error"] != ""].iterrows():
    st.warning(broken["error"])
readable = listing[listing["error"] == ""].reset_index(drop=True)
if readable.empty:
    st.stop()
dataset_names = readable["name"].tolist()

with st.sidebar:
    dataset = ui.choice(
        "Dataset", dataset_names, "demo" if "demo" in dataset_names else dataset_names[0], key="explore.dataset", on_change=_open_dataset
    )
    columns = ui.or_stop(ui.cached, data.columns, dataset)
    column_names = list(columns)
    target = ui.choice("Target", column_names, ui.or_stop(ui.cached, outcome.likely_target, dataset), key="explore.target")
    positive = st.text_input("Positive value", key="explore.positive", help="Matched as text, any case; empty means true / 1 / yes") or None

    st.subheader("Filter")
    filters = st.session_state.setdefault("explore.filters", [])
    column = st.selectbox("Column", column_names, key="explore.filter_column")
    op = st.selectbox("Operator", sql.OPS, key="explore.filter_op")
    value = st.text_input("Value", key="explore.filter_value", help="in / not in: a, b, c · between: 1, 5", disabled=op in sql.NULL_OPS)
    with ui.shown_errors():
        if st.button("Add filter", key="explore.filter_add"):
            filters.append(sql.make_filter(column, op, value))
    for i, item in enumerate(list(filters)):
        if st.button(f"✕ {sql.describe_filter(item)}", key=f"explore.filter_remove.{i}", help="Remove this filter"):
            filters.pop(i)
            st.rerun()
    if not filters:
        st.caption("No filter: every row counts.")
    if st.button("Train on this segment", key="explore.train", help="Open Train with this dataset, target and filter"):
        st.session_state["train.carry"] = {"dataset": dataset, "target": target, "positive": positive, "filters": list(filters)}
        st.switch_page("views/train.py")

meta = readable.set_index("name").loc[dataset]
st.caption(f"**{dataset}** · {meta['rows']:,} rows · {meta['files']} file(s) · {meta['format']} · `{meta['path']}`")
with st.expander("Schema and profile"), ui.shown_errors():
    st.dataframe(
        ui.cached(data.profile, dataset),
        hide_index=True,
        column_config={"null_share": st.column_config.NumberColumn("null share", format="percent")},
    )

# --- Segments ----------------------------------------------------------------------------------
st.header("Conversion by segment")
default_by = [c for c in ("channel",) if c in columns] or [n for n, kind in columns.items() if kind == "VARCHAR"][:1]
if not set(st.session_state.get("explore.by") or [None]) <= set(column_names):
    # Set, not just dropped by _open_dataset: the browser keeps showing a dropped widget's old chips.
    st.session_state["explore.by"] = default_by
by = st.multiselect("Split by", column_names, max_selections=2, key="explore.by")
with ui.shown_errors():
    if by:
        table = ui.cached(data.segment_rates, dataset, target, by, filters, positive_value=positive)
        if table.empty:
            st.info("No rows match the filter.")
        else:
            overall = data.overall_rate(table).iloc[0]
            rows_col, pos_col, rate_col = st.columns(3)
            rows_col.metric("Rows", f"{int(overall['rows']):,}")
            pos_col.metric("Positives", f"{int(overall['positives']):,}")
            rate_col.metric("Rate", f"{overall['rate']:.2%}", help=f"95% interval {overall['rate_lo']:.2%} – {overall['rate_hi']:.2%}")
            if len(by) == 1:
                shown = table.head(30)
                note = f" (the 30 largest of {len(table):,})" if len(table) > 30 else ""
                st.plotly_chart(plots.rate_bars(shown, f"Rate by {by[0]}{note}"), key="explore.bars")
            else:
                st.plotly_chart(plots.rate_heatmap(table, by[0], by[1]), key="explore.heatmap")
            st.dataframe(
                table,
                hide_index=True,
                key="explore.segments",
                column_order=[c for c in table.columns if c != "segment" or len(by) > 1],
                column_config={
                    "rows": st.column_config.NumberColumn(format="localized"),
                    "positives": st.column_config.NumberColumn(format="localized"),
                    "rate": st.column_config.NumberColumn(format="percent"),
                    "rate_lo": st.column_config.NumberColumn("rate low (95%)", format="percent"),
                    "rate_hi": st.column_config.NumberColumn("rate high (95%)", format="percent"),
                    "share": st.column_config.NumberColumn(format="percent"),
                },
            )
    else:
        st.caption("Pick one or two columns to split by.")

# --- Over time ---------------------------------------------------------------------------------
st.header("Rate over time")
times = data.time_columns(columns)
if not times:
    st.info("This dataset has no date or timestamp column, so there is no time view.")
else:
    pick_time, pick_grain = st.columns(2)
    with pick_time:
        time_column = ui.choice("Time column", times, times[0], key="explore.time_column")
    grain = pick_grain.radio("Grain", ("day", "week", "month"), horizontal=True, key="explore.grain")
    with ui.shown_errors():
        series = ui.cached(data.rate_over_time, dataset, target, time_column, grain, filters, positive_value=positive)
        if series.empty:
            st.info("No rows match the filter.")
        else:
            st.plotly_chart(plots.rate_over_time(series, f"{target} rate by {grain}"), key="explore.over_time")

# --- SQL ---------------------------------------------------------------------------------------
st.header("SQL")
st.caption(
    f'One read-only SELECT. Each dataset is a view named as in the list above, e.g. `FROM "{dataset}"`. '
    f"At most {settings.get('sql_row_limit'):,} rows; stopped after {settings.get('sql_timeout_s'):g} s."
)
# The box follows the chosen dataset: an untouched default is rewritten, an edited query has its old dataset renamed.
default_query = f"SELECT {sql.ident(target)}, count(*) AS rows\nFROM {sql.ident(dataset)}\nGROUP BY ALL\nORDER BY rows DESC"
written_for = st.session_state.get("explore.sql_dataset")
if st.session_state.get("explore.sql") in (None, st.session_state.get("explore.sql_default")):
    st.session_state["explore.sql"] = default_query
elif written_for not in (None, dataset):
    st.session_state["explore.sql"] = st.session_state["explore.sql"].replace(sql.ident(written_for), sql.ident(dataset))
st.session_state["explore.sql_default"], st.session_state["explore.sql_dataset"] = default_query, dataset
query = st.text_area("Query", height=140, key="explore.sql")
apply_filters = st.checkbox(
    "Apply the sidebar filters",
    key="explore.sql_filters",
    disabled=not filters,
    help=f'Reads "{dataset}" through the filtered rows, as the WITH clause shown below',
)
if filters and apply_filters:
    with ui.shown_errors():
        st.caption("The query runs under this WITH clause (values are passed as parameters):")
        st.code(ui.cached(sqlbox.filter_cte, dataset, filters)[2], language="sql")
else:
    st.caption("SQL reads every row: the sidebar filters do not apply" + (" unless you tick the box above." if filters else "."))
with ui.shown_errors():
    if st.button("Run query", key="explore.run_sql"):
        st.session_state.pop("explore.sql_result", None)  # a refused query must not sit above the last one's table
        applied = tuple(filters) if apply_filters else ()
        st.session_state["explore.sql_result"] = ui.run_sql(query, dataset, applied)
result = st.session_state.get("explore.sql_result")
if result is not None:
    if result.attrs.get("truncated"):
        st.caption(f"Showing the first {len(result):,} rows.")
    st.dataframe(result, hide_index=True, key="explore.sql_table")
