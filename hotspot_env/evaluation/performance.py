"""The public performance report: what was done, what it cost, did it work.

:func:`write_evaluation` writes an evaluation's files into one folder,
atomically (all or nothing):

``evaluation.csv``
    One row per intervention type and an ``all`` row: measured rate ratio
    (90 % interval), the evidence library's prior (95 %), ring effect and
    weighted displacement quotient, officer-initiated shares, counts.
``evaluation.json``
    The same rows, the automatic choices, warnings and parameters.
``performance.html``
    A page for a city's website, in plain words.
``evidence_updated.csv``
    Only with the (announced, off by default) prior update: the evidence
    library with the evaluated types' rows updated (:func:`updated_evidence`).
``manifest.json``
    Input hashes, choices, parameters, versions, output hashes.

Public mode (the default for these files) applies to every figure: counts
pass through :func:`hotspot_env.outputs.privacy.publishable_counts` (values below
``k`` shown as ``"<k"``), and a statistic derived from counts (a rate ratio,
a share, prevented incidents) is shown only when every count it rests on is
at least ``k``. Places, never people: only intervention places (streets,
lots) appear, never an incident's location.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hotspot_env import settings
from hotspot_env._atomic import staged_folder
from hotspot_env.evaluation.did import Evaluation
from hotspot_env.evaluation.estimation import LEVEL
from hotspot_env.evaluation.table import OVERALL
from hotspot_env.outputs.privacy import publishable_counts

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

#: Count columns, published through the privacy gate.
COUNT_COLUMNS: tuple[str, ...] = (
    "treated_before", "treated_after", "ring_before", "ring_after", "control_before",
    "control_after", "officer_treated_before", "officer_treated_after", "records_treated_before",
    "records_treated_after", "officer_control_before", "officer_control_after",
    "records_control_before", "records_control_after",
)
#: Derived statistics and the counts each rests on (hidden in public mode if any is below k).
DERIVED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("rate_ratio", "rr_lo", "rr_hi", "p_value", "rr_all_records", "prevented_measured",
     "prevented_measured_lo", "prevented_measured_hi", "posterior_rr", "posterior_lo",
     "posterior_hi"): ("treated_before", "treated_after", "control_before", "control_after"),
    ("ring_rr", "ring_lo", "ring_hi", "wdq"): ("ring_before", "ring_after", "control_before",
                                               "control_after"),
    ("officer_share_treated_before", "officer_share_treated_after", "recording_ratio",
     "recording_p"): ("officer_treated_before", "officer_treated_after",
                      "records_treated_before", "records_treated_after"),
    ("officer_share_control_before", "officer_share_control_after"): (
        "officer_control_before", "officer_control_after", "records_control_before",
        "records_control_after"),
}


def published_table(table: pd.DataFrame, privacy: str = "public",
                    k: int | None = None) -> pd.DataFrame:
    """The evaluation table as it may leave the tool in ``privacy`` mode.

    Internal mode returns it unchanged. Public mode replaces counts by their
    published values (strings, ``"<k"`` below the threshold) and blanks
    (NaN) every statistic derived from a count below ``k``.
    """
    if privacy == "internal":
        return table.copy()
    k = settings.k_threshold if k is None else int(k)
    out = table.copy()
    small = {c: table[c].to_numpy(dtype=float) < k for c in COUNT_COLUMNS if c in table}
    for cols, basis in DERIVED.items():
        hide = np.zeros(len(table), dtype=bool)
        for c in basis:
            hide |= small.get(c, False)
        for c in cols:
            if c in out:
                out[c] = np.where(hide, np.nan, out[c].to_numpy(dtype=float))
        if "recording_flag" in out and "recording_ratio" in cols:
            out["recording_flag"] = np.where(hide, False, out["recording_flag"].to_numpy(bool))
    for c in COUNT_COLUMNS:
        if c in out:
            out[c] = publishable_counts(table[c].to_numpy(dtype=np.int64), privacy, k)
    return out


def verdict(rec: Any) -> str:
    """Plain words for a measured rate ratio and its interval."""
    if not _finite(rec.rate_ratio):
        return "not measured (too few records, or hidden because counts are small)"
    pct = round(100 * abs(1 - rec.rate_ratio))
    if rec.rr_hi < 1:
        return f"worked: {pct} % fewer incidents than expected without it"
    if rec.rr_lo > 1:
        return f"did not work: {pct} % more incidents than at comparable places"
    return "no clear change: the interval includes no effect"


def versus_prior(rec: Any) -> str:
    """Plain words comparing the measured effect with the evidence library's prior."""
    if not (_finite(rec.rate_ratio) and _finite(rec.prior_rr)):
        return ""
    if rec.rr_lo > rec.prior_hi:
        return "weaker than the published evidence"
    if rec.rr_hi < rec.prior_lo:
        return "stronger than the published evidence"
    return "in line with the published evidence"


def performance_html(result: Evaluation, privacy: str = "public", *,
                     simulated: bool = False, k: int | None = None) -> str:
    """The performance report page (HTML, every text escaped)."""
    k = settings.k_threshold if k is None else int(k)
    table = published_table(result.table, privacy, k)
    parts = _head_html(result, privacy, k, simulated=simulated)
    parts += _done_html(result.ledger)
    parts += _effects_html(table)
    parts += _displacement_html(table)
    parts += _recording_html(table, result.warnings)
    parts += _counts_html(table)
    parts += _method_html(result.choices)
    parts.append("</body></html>")
    return "".join(parts)


def _head_html(result: Evaluation, privacy: str, k: int, *, simulated: bool) -> list[str]:
    """Title, the simulated-data banner, the period and what the version shows."""
    esc = html.escape
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<title>Did it work? Environmental crime prevention: results</title>",
             f"<style>{_STYLE}</style></head><body>",
             "<h1>Did it work? Results of the environmental crime prevention work</h1>"]
    if simulated:
        parts.append("<p class='sim'>Simulated data: this report comes from simulated "
                     "incidents, not real records.</p>")
    parts.append(f"<p class='meta'>Incidents from {esc(result.parameters['first_month'])} to "
                 f"{esc(result.parameters['last_month'])}. "
                 + ("Public version: counts below " + str(k) + " are shown as &lt;" + str(k)
                    + " and figures resting on them are left out." if privacy == "public"
                    else "Internal version: exact counts.") + " Places, never people: this "
                 "report shows streets and lots that were changed, never where an incident "
                 "happened or who was involved.</p>")
    return parts


def _done_html(ledger: pd.DataFrame) -> list[str]:
    """What was done: places and money per measure, per district, and every work order."""
    esc = html.escape
    parts: list[str] = []
    parts.append("<h2>What was done</h2>")
    by_type = ledger.groupby("type", sort=True).agg(
        n=("intervention_id", "size"), quantity=("quantity", "sum"),
        capital=("capital_cost", "sum"), cost=("cost", "sum"),
        first=("done_date", "min"), last=("done_date", "max"))
    rows = "".join(
        f"<tr><td>{esc(_label(t))}</td><td class='num'>{int(r.n)}</td>"
        f"<td class='num'>{_num(r.quantity, 0)}</td><td class='num'>{_num(r.capital, 0)}</td>"
        f"<td class='num'>{_num(r.cost, 0)}</td><td>{esc(str(r.first))} to {esc(str(r.last))}"
        "</td></tr>" for t, r in by_type.iterrows())
    parts.append("<table><thead><tr><th>Measure</th><th>Places</th><th>Quantity</th>"
                 "<th>Money spent (USD)</th><th>Yearly cost (USD)</th><th>Done</th></tr>"
                 f"</thead><tbody>{rows}</tbody></table>")
    total_capital = float(np.nansum(ledger["capital_cost"].to_numpy(dtype=float)))
    parts.append(f"<p>In total {len(ledger)} places were changed for {total_capital:,.0f} USD "
                 "of one-off spending.</p>")
    if "district" in ledger and ledger["district"].astype(str).str.len().gt(0).any():
        dist = ledger.groupby("district", sort=True).agg(n=("intervention_id", "size"),
                                                        capital=("capital_cost", "sum"))
        rows = "".join(f"<tr><td>{esc(str(d))}</td><td class='num'>{int(r.n)}</td>"
                       f"<td class='num'>{_num(r.capital, 0)}</td></tr>"
                       for d, r in dist.iterrows())
        parts.append("<details><summary>By district</summary><table><thead><tr><th>District"
                     "</th><th>Places</th><th>Money spent (USD)</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table></details>")
    rows = "".join(
        f"<tr><td><code>{esc(str(r.intervention_id))}</code></td><td>{esc(_label(r.type))}</td>"
        f"<td>{esc(str(r.location))}</td><td>{esc(str(r.district))}</td>"
        f"<td>{esc(str(r.done_date))}</td><td class='num'>{_num(r.capital_cost, 0)}</td></tr>"
        for r in ledger.itertuples())
    parts.append("<details><summary>Every completed work order</summary><table><thead><tr>"
                 "<th>ID</th><th>Measure</th><th>Where</th><th>District</th><th>Done</th>"
                 f"<th>Spent (USD)</th></tr></thead><tbody>{rows}</tbody></table></details>")
    return parts


def _effects_html(table: pd.DataFrame) -> list[str]:
    """Did it work: measured against published effects, then what did not work."""
    esc = html.escape
    level = f"{LEVEL:.0%}"
    parts: list[str] = []
    parts.append("<h2>Did it work?</h2>")
    parts.append(
        "<p>Each changed place is compared with similar places that were not changed (same "
        "kind of place, similar past incidents, same kind of district), before and after the "
        "work. A rate ratio below 1 means fewer incidents than expected without the work "
        f"(0.80 = 20 % fewer). Ranges are {level} intervals for the measured effect and 95 % "
        "intervals for the published evidence.</p>")
    head = ("<tr><th>Measure</th><th>Counted</th><th>Expected (published evidence)</th>"
            f"<th>Measured here ({level})</th><th>Verdict</th><th>Prevented per year: "
            "expected / measured</th></tr>")
    body = []
    for r in table.itertuples():
        expected = (f"{r.prior_rr:.2f} ({r.prior_lo:.2f}-{r.prior_hi:.2f})<br><span "
                    f"class='small'>{esc(str(r.prior_source))}</span>"
                    if _finite(r.prior_rr) else "–")
        measured = (f"{r.rate_ratio:.2f} ({r.rr_lo:.2f}-{r.rr_hi:.2f})"
                    if _finite(r.rate_ratio) else "–")
        prevented = (f"{_num(r.prevented_expected, 1)} / "
                     + (f"{r.prevented_measured:.1f} ({r.prevented_measured_lo:.1f} to "
                        f"{r.prevented_measured_hi:.1f})" if _finite(r.prevented_measured)
                        else "–"))
        text = verdict(r)
        prior = versus_prior(r)
        body.append(f"<tr><td>{esc(_label(r.type))}</td><td class='small'>{esc(str(r.outcome))}"
                    f"</td><td>{expected}</td><td>{measured}</td><td>{esc(text)}"
                    f"{'; ' + esc(prior) if prior else ''}</td><td>{prevented}</td></tr>")
    parts.append(f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>")

    failed = [r for r in table.itertuples()
              if r.type != OVERALL and not (_finite(r.rr_hi) and r.rr_hi < 1)]
    parts.append("<h2>What did not work (or cannot be told yet)</h2>")
    if failed:
        parts.append("<ul>" + "".join(f"<li>{esc(_label(r.type))}: {esc(verdict(r))}.</li>"
                                      for r in failed) + "</ul>")
    else:
        parts.append("<p>Every measure evaluated reduced incidents at its places.</p>")
    return parts


def _displacement_html(table: pd.DataFrame) -> list[str]:
    """Did incidents move next door: the ring's rate ratio and the WDQ."""
    esc = html.escape
    parts: list[str] = []
    parts.append("<h2>Did incidents move next door?</h2>")
    rows = []
    for r in table.itertuples():
        ring = (f"{r.ring_rr:.2f} ({r.ring_lo:.2f}-{r.ring_hi:.2f})" if _finite(r.ring_rr)
                else "–")
        rows.append(f"<tr><td>{esc(_label(r.type))}</td><td>{ring}</td>"
                    f"<td>{esc(_ring_words(r))}</td><td class='num'>"
                    f"{'' if not _finite(r.wdq) else f'{r.wdq:.2f}'}</td></tr>")
    parts.append("<p>Around every changed place a ring of the same width is watched: more "
                 "incidents there would mean they moved (displacement), fewer that the benefit "
                 "spread (diffusion). The weighted displacement quotient (Bowers &amp; Johnson "
                 "2003) compares the ring's change with the places' own.</p>"
                 "<table><thead><tr><th>Measure</th><th>Ring rate ratio</th><th>Reading</th>"
                 f"<th>WDQ</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return parts


def _recording_html(table: pd.DataFrame, warnings: list[str]) -> list[str]:
    """Did recording change rather than harm: the officer-initiated shares, and warnings."""
    esc = html.escape
    parts: list[str] = []
    parts.append("<h2>Did recording change rather than harm?</h2>")
    rows = []
    for r in table.itertuples():
        rows.append(f"<tr><td>{esc(_label(r.type))}</td>"
                    f"<td>{_pct(r.officer_share_treated_before)} → "
                    f"{_pct(r.officer_share_treated_after)}</td>"
                    f"<td>{_pct(r.officer_share_control_before)} → "
                    f"{_pct(r.officer_share_control_after)}</td>"
                    f"<td>{'<b class=flag>yes</b>' if r.recording_flag else 'no'}</td></tr>")
    parts.append("<p>Measured effects count residents' reports, not records patrols created "
                 "themselves. If the share of officer-initiated records changes at the changed "
                 "places, more or less patrolling, not safety, may explain part of a change.</p>"
                 "<table><thead><tr><th>Measure</th><th>Officer-initiated share at changed "
                 "places (before → after)</th><th>At comparison places</th><th>Flagged</th>"
                 f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    if warnings:
        parts.append("<ul class='warn'>" + "".join(f"<li>{esc(w)}</li>" for w in warnings)
                     + "</ul>")
    return parts


def _counts_html(table: pd.DataFrame) -> list[str]:
    """The incidents counted, and the updated evidence when it was computed."""
    esc = html.escape
    parts: list[str] = []
    parts.append("<h2>Incidents counted</h2>")
    rows = "".join(
        f"<tr><td>{esc(_label(r.type))}</td>" + "".join(
            f"<td class='num'>{esc(str(getattr(r, c)))}</td>" for c in COUNT_COLUMNS[:6])
        + "</tr>" for r in table.itertuples())
    parts.append("<table><thead><tr><th>Measure</th><th>Changed places, before</th><th>after</th>"
                 "<th>Ring, before</th><th>after</th><th>Comparison places, before</th>"
                 f"<th>after</th></tr></thead><tbody>{rows}</tbody></table>")
    if "posterior_rr" in table:
        rows = "".join(
            f"<tr><td>{esc(_label(r.type))}</td><td>{r.posterior_rr:.2f} ({r.posterior_lo:.2f}"
            f"-{r.posterior_hi:.2f})</td></tr>" for r in table.itertuples()
            if r.type != OVERALL and _finite(r.posterior_rr))
        parts.append("<h2>Evidence for the next ranking</h2><p>The measured effects update the "
                     "published evidence conservatively (one city counts for a quarter of its "
                     "statistical weight); see evidence_updated.csv.</p><table><thead><tr>"
                     f"<th>Measure</th><th>Updated rate ratio (95 %)</th></tr></thead><tbody>{rows}"
                     "</tbody></table>")
    return parts


def _method_html(choices: list[Any]) -> list[str]:
    """Caveats in plain words, and how the results were worked out (the choices made)."""
    esc = html.escape
    parts: list[str] = []
    parts.append("<h2>Caveats in plain words</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in (
        "Recorded incidents are not all harm: many are never reported, and reporting can change.",
        "Comparison places were not chosen at random: they were similar before the work, but "
        "something else may have changed at one group and not the other.",
        "Small numbers give wide ranges: a range that includes 1 means the data cannot tell an "
        "effect from chance yet, not that there was none.",
        "Only the incidents a measure could plausibly affect are counted (for lighting: those "
        "after dark), within the distance the published studies found effects.",
        "A year or two of data shows short-term effects; effects can fade or grow.",
    )) + "</ul>")
    parts.append("<h2>How this was worked out</h2><ul>" + "".join(
        f"<li>{esc(c.message())}</li>" for c in choices) + "</ul>")
    return parts


def updated_evidence(evidence_path: str | os.PathLike[str], table: pd.DataFrame,
                     n_done: dict[str, int] | None = None) -> str:
    """The evidence CSV with each evaluated type's rows updated by the local estimate.

    Each row of an evaluated type gets the posterior of
    :func:`hotspot_env.evaluation.did.update_prior` from *its own* prior
    (rate ratio and 95 % interval) and the type's measured effect; a note
    records the update. Other rows are unchanged.
    """
    from hotspot_env.evaluation.estimation import Estimate, update_prior

    raw = pd.read_csv(evidence_path, dtype=str, keep_default_na=False)
    measured = {r.type: r for r in table.itertuples() if r.type != OVERALL}
    for i, rec in raw.iterrows():
        m = measured.get(rec["intervention_type"])
        if m is None or not _finite(m.rate_ratio):
            continue
        rr, lo, hi = update_prior((float(rec["rate_ratio"]), float(rec["ci_low"]),
                                   float(rec["ci_high"])), Estimate(m.rate_ratio, m.rr_lo,
                                                                    m.rr_hi))
        raw.loc[i, ["rate_ratio", "ci_low", "ci_high"]] = [f"{rr:.3f}", f"{lo:.3f}", f"{hi:.3f}"]
        note = (f"updated with a local evaluation ({int(m.n_done)} places; measured "
                f"{m.rate_ratio:.2f}, {LEVEL:.0%} interval {m.rr_lo:.2f}-{m.rr_hi:.2f}; "
                "power-prior weight 0.25)")
        raw.loc[i, "notes"] = (rec["notes"] + " | " if rec["notes"] else "") + note
    return raw.to_csv(index=False, lineterminator="\n")


def write_evaluation(
    result: Evaluation, out: str | os.PathLike[str], *, privacy: str = "public",
    simulated: bool = False, inputs: dict[str, Any] | None = None,
    evidence_path: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write the evaluation files into ``out`` atomically (see the module docstring)."""
    from hotspot_env._hashing import file_sha256
    from hotspot_env.outputs.manifest import manifest_json, package_versions

    out = Path(out)
    table = published_table(result.table, privacy)
    names: dict[str, str] = {}
    with staged_folder(out) as stage:
        (stage / "evaluation.csv").write_text(_csv(table), encoding="utf-8")
        names["evaluation.csv"] = "evaluation.csv"
        doc = {"simulated": simulated, "privacy": privacy, "level": LEVEL,
               "rows": json.loads(table.to_json(orient="records")),
               "choices": [c.to_dict() for c in result.choices], "warnings": result.warnings,
               "parameters": result.parameters}
        (stage / "evaluation.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
        names["evaluation.json"] = "evaluation.json"
        (stage / "performance.html").write_text(
            performance_html(result, privacy, simulated=simulated), encoding="utf-8")
        names["performance.html"] = "performance.html"
        if "posterior_rr" in result.table and evidence_path is not None:
            (stage / "evidence_updated.csv").write_text(
                updated_evidence(evidence_path, result.table), encoding="utf-8")
            names["evidence_updated.csv"] = "evidence_updated.csv"
        manifest = {"tool": "hotspot_env", "command": "evaluate", "simulated_incidents": simulated,
                    "inputs": inputs or {}, "parameters": result.parameters,
                    "automatic_choices": [c.to_dict() for c in result.choices],
                    "privacy": {"mode": privacy, "k_threshold": settings.k_threshold},
                    "versions": package_versions(),
                    "outputs": [{"path": n, "sha256": file_sha256(stage / n)}
                                for n in sorted(names)]}
        (stage / "manifest.json").write_text(manifest_json(manifest) + "\n", encoding="utf-8")
    return {n: out / n for n in [*names, "manifest.json"]}


# ==================================================================== helpers
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:68rem;color:#111}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:1.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0}
th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee} td.num{text-align:right;white-space:nowrap} .small{font-size:.8rem;color:#444}
.sim{background:#fff3cd;border:1px solid #e0c060;padding:.4rem .8rem} .meta{color:#333}
.flag{color:#a00} ul.warn li{color:#7a4a00}
"""


def _finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _num(value: Any, decimals: int) -> str:
    return f"{float(value):,.{decimals}f}" if _finite(value) else "–"


def _pct(value: Any) -> str:
    return f"{100 * float(value):.0f} %" if _finite(value) else "–"


def _label(itype: str) -> str:
    return "All measures together" if itype == OVERALL else str(itype).replace("_", " ")


def _ring_words(rec: Any) -> str:
    if not _finite(rec.ring_rr):
        return "not measured"
    if rec.ring_lo > 1:
        return "incidents moved next door (displacement)"
    if rec.ring_hi < 1:
        return "the benefit spread next door (diffusion)"
    return "no clear change next door"


def _csv(table: pd.DataFrame) -> str:
    out = table.copy()
    for col in out.columns:
        values = out[col]
        if values.dtype.kind == "f":
            out[col] = [("" if not math.isfinite(v) else f"{v:.6g}") for v in values]
        elif values.dtype.kind == "b":
            out[col] = np.where(values.to_numpy(), "true", "false")
    return out.to_csv(index=False, lineterminator="\n")


def run_evaluation(
    ledger_path: str | os.PathLike[str], incidents_path: str | os.PathLike[str],
    out: str | os.PathLike[str], *, analysis_dir: str | os.PathLike[str] | None = None,
    privacy: str = "public", crs: str | None = None, timezone: str | None = None,
    update_evidence: bool = False, evidence_path: str | os.PathLike[str] | None = None,
) -> tuple[Evaluation, dict[str, Path]]:
    """``hotspot-env evaluate``: read the ledger, pool and incidents; evaluate; write ``out``.

    The control pool is the ``interventions.gpkg`` of ``analysis_dir``
    (default: the ledger's own folder, where ``hotspot-env done`` writes it).
    """
    from hotspot_env._atomic import check_output_folder
    from hotspot_env._hashing import file_sha256
    from hotspot_env.errors import InputError
    from hotspot_env.evaluation.did import evaluate
    from hotspot_env.evaluation.ledger import read_ledger, read_pool
    from hotspot_env.inputs.io import read_incidents
    from hotspot_env.interventions.evidence import load_library

    if privacy not in ("public", "internal"):
        raise InputError(f"--privacy must be public or internal, got {privacy!r}")
    check_output_folder(out)
    ledger_path = Path(ledger_path)
    ledger = read_ledger(ledger_path)
    folder = Path(analysis_dir) if analysis_dir is not None else ledger_path.parent
    pool = read_pool(folder)
    data = read_incidents(incidents_path, crs=crs, timezone=timezone)
    library = load_library(evidence_path)
    result = evaluate(ledger, data.frame, pool, library, timezone=timezone,
                      update_evidence=update_evidence)
    result.choices[:0] = data.choices
    simulated = _simulated(folder, Path(incidents_path))
    inputs = {"ledger": {"path": ledger_path.name, "sha256": file_sha256(ledger_path)},
              "incidents": {"path": Path(incidents_path).name, "sha256": data.sha256},
              "candidates": {"path": "interventions.gpkg",
                             "sha256": file_sha256(folder / "interventions.gpkg")},
              "evidence": library.sha256}
    written = write_evaluation(result, out, privacy=privacy, simulated=simulated, inputs=inputs,
                               evidence_path=library.evidence_path)
    return result, written


def _simulated(folder: Path, incidents: Path) -> bool:
    """True when the analysis or the incidents say they are simulated."""
    for path, key in ((folder / "manifest.json", "simulated_incidents"),
                      (incidents.with_name(incidents.stem + ".meta.json"), "simulated"),
                      (folder / "truth_treatment.json", "simulated")):
        if path.is_file():
            try:
                if json.loads(path.read_text(encoding="utf-8")).get(key):
                    return True
            except (ValueError, AttributeError, UnicodeDecodeError):
                continue
    return False


def evaluate_analysis(analysis: Analysis, orders: pd.DataFrame,
                      evidence_path: str | os.PathLike[str] | None = None) -> Evaluation:
    """Evaluate completed work orders against an in-memory analysis (the app's Results).

    The control pool is the analysis' ranked candidates and the incidents are
    the ones it used (officer-initiated records are already left out there,
    so the recording guard has nothing to compare and says so).

    Parameters
    ----------
    analysis : Analysis
        A finished analysis with interventions.
    orders : DataFrame
        ``intervention_id`` and ``done_date`` (:func:`hotspot_env.evaluation.ledger.read_orders`).
    evidence_path : path-like, optional
        Evidence table (default: the library's).
    """
    from hotspot_env.errors import InputError
    from hotspot_env.evaluation.did import evaluate
    from hotspot_env.evaluation.ledger import build_ledger
    from hotspot_env.interventions.evidence import load_library

    result = analysis.interventions
    if result is None:
        raise InputError("this analysis has no interventions to evaluate: run the full analysis")
    pool = result.table()
    ledger = build_ledger(orders, pool)
    evaluation = evaluate(ledger, analysis.points, pool, load_library(evidence_path),
                          timezone=analysis.parameters.get("timezone"))
    excluded = analysis.counts.get("incidents_excluded_source", 0)
    if excluded:
        evaluation.warnings.append(
            f"The analysis left out {excluded:,} officer-initiated records, so a change in "
            "recording cannot be checked here: run 'hotspot-env evaluate' on the full records.")
    return evaluation
