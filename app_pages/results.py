"""The Transparency page's "Results" section: did the completed work orders work?

Only calls the package (:mod:`hotspot_env.evaluation.performance`); public view by default.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages import common
from hotspot_env.errors import HotspotEnvError

#: Columns of the results table shown on the page.
SHOWN = {"type": "measure", "n_done": "places", "rate_ratio": "rate ratio",
         "rr_lo": "90 % low", "rr_hi": "90 % high", "prior_rr": "evidence", "ring_rr": "ring",
         "treated_before": "before", "treated_after": "after",
         "recording_flag": "recording changed"}


@st.cache_resource(show_spinner="Evaluating the completed work…", max_entries=4)
def _evaluate(key: str, _analysis: Any, orders_csv: bytes) -> Any:
    """The evaluation of one set of done orders against one analysis (cached by both)."""
    from hotspot_env.evaluation.ledger import read_orders
    from hotspot_env.evaluation.performance import evaluate_analysis

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        path.write_bytes(orders_csv)
        return evaluate_analysis(_analysis, read_orders(path))


def _audit_upload() -> None:
    """Record an uploaded ledger (its hash) in the audit log, once per file chosen."""
    upload = st.session_state.get("results_orders")
    if upload is not None:
        common.audit("upload", "done_orders", data=upload.getvalue())


def show_results(analysis: Any) -> None:
    """Draw the Results section for ``analysis``."""
    from hotspot_env.evaluation.performance import performance_html, published_table, verdict

    st.header("Results: did it work?")
    st.markdown("Mark work orders done (a CSV with `intervention_id` and `done_date`, e.g. the "
                "work-order table with a filled-in date) to compare the changed places with "
                "similar places that were not changed, before and after the work.")
    upload = None
    if common.can("upload"):
        upload = st.file_uploader("Completed work orders (CSV)", type=["csv"],
                                  key="results_orders", on_change=_audit_upload)
    orders = upload.getvalue() if upload is not None else None
    if orders is None and analysis.parameters.get("simulated"):
        if st.checkbox("Use a SIMULATED set of completed work orders (demo)", value=True,
                       key="results_simulated"):
            from hotspot_env.inputs.synth_treatment import simulated_orders

            result = analysis.interventions
            if result is not None:
                orders = simulated_orders(result.table()).to_csv(index=False).encode("utf-8")
    if orders is None:
        st.info("No completed work orders yet.")
        return
    public = (st.toggle("Public view (counts below 5 hidden)", value=True, key="results_public")
              if common.can("internal_mode") else True)
    privacy = "public" if public else "internal"
    key = common.dataset_key(privacy) + hashlib.sha256(orders).hexdigest()
    try:
        evaluation = _evaluate(key, analysis, orders)
    except HotspotEnvError as exc:
        st.error(common.md_escape(str(exc), 600))
        return
    table = published_table(evaluation.table, privacy)
    st.dataframe(table[list(SHOWN)].rename(columns=SHOWN), hide_index=True,
                 width="stretch", key="results_table")
    for rec in table.itertuples():
        st.markdown(f"- **{common.md_escape(rec.type.replace('_', ' '))}**: "
                    f"{common.md_escape(verdict(rec))}")
    for message in evaluation.warnings:
        st.warning(message)
    from hotspot_env.evaluation.ledger import ledger_csv

    common.download(st, "Download the done-ledger (CSV)", ledger_csv(evaluation.ledger),
                    "interventions_done.csv", "text/csv", "dl_ledger", privacy, analysis)
    common.download(st, "Download the performance report (HTML)",
                    performance_html(evaluation, privacy,
                                     simulated=bool(analysis.parameters.get("simulated"))),
                    "performance.html", "text/html", "dl_performance", privacy, analysis)
