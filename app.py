"""The workbench: page config and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Conversion workbench", page_icon="📈", layout="wide")
st.navigation(
    [
        st.Page("pages/explore.py", title="Explore", icon="🔎", default=True),
        st.Page("pages/train.py", title="Train", icon="🏋️"),
    ]
).run()
