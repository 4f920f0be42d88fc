"""The workbench: page config and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Conversion workbench", page_icon=":material/conversion_path:", layout="wide")
st.navigation(
    [
        st.Page("views/explore.py", title="Explore", icon=":material/query_stats:", default=True),
        st.Page("views/train.py", title="Train", icon=":material/model_training:"),
        st.Page("views/diagnostics.py", title="Diagnostics", icon=":material/monitoring:"),
        st.Page("views/registry.py", title="Registry", icon=":material/verified:"),
        st.Page("views/monitor.py", title="Monitor", icon=":material/notifications_active:"),
    ]
).run()
