"""Explore: pick a dataset, read its profile, filter, cut the target rate by segment and time, run SQL."""

import streamlit as st

from core import data, demo, plots, settings, sql, ui

st.title("Explore")

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


def _forget_filters():
    st.session_state["explore.filters"] = []


with st.sidebar:
    dataset = st.selectbox(
        "Dataset",
        dataset_names,
        index=dataset_names.index("demo") if "demo" in dataset_names else 0,
        key="explore.dataset",
        on_change=_forget_filters,
    )
    columns = ui.or_stop(ui.cached, data.columns, dataset)
    column_names = list(columns)
    target = st.selectbox("Target", column_names, index=column_names.index(ui.cached(data.likely_target, dataset)), key="explore.target")
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
by = st.multiselect("Split by", column_names, default=default_by, max_selections=2, key="explore.by")
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
    time_column = pick_time.selectbox("Time column", times, key="explore.time_column")
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
query = st.text_area(
    "Query",
    value=f"SELECT {sql.ident(target)}, count(*) AS rows\nFROM {sql.ident(dataset)}\nGROUP BY ALL\nORDER BY rows DESC",
    height=140,
    key="explore.sql",
)
with ui.shown_errors():
    if st.button("Run query", key="explore.run_sql"):
        st.session_state["explore.sql_result"] = ui.run_sql(query)
result = st.session_state.get("explore.sql_result")
if result is not None:
    if result.attrs.get("truncated"):
        st.caption(f"Showing the first {len(result):,} rows.")
    st.dataframe(result, hide_index=True, key="explore.sql_table")
