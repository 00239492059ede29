"""The risk terrain model in the pipeline: its candidate layers, the stage and its writer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from hotspot_env.core.stages import declares
from hotspot_env.models.rtm.constants import (
    BLOCK_MULTIPLES,
    FWER,
    OPERATIONS,
    STREET_LAYER_NAMES,
    TOP_PERCENT,
    USE_LAYER,
)
from hotspot_env.models.rtm.reasons import explain
from hotspot_env.models.rtm.selection import DesignBuilder, fit
from hotspot_env.outputs.privacy import Kind, basis_kind, count_basis, declare, publish

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis


def candidate_layers(analysis: Analysis) -> dict[str, gpd.GeoDataFrame]:
    """Candidate factor layers of an analysis: factor features, then user layers.

    Factors come from ``analysis.factors`` (their ``features``; for
    lighting the dark-segment ``layer``, see :data:`USE_LAYER`), user layers
    from ``analysis.map_layers["user:<name>"]`` under ``<name>``. A user layer
    named like a street network (:data:`STREET_LAYER_NAMES`) is not a
    candidate, and neither is a user layer whose name is already a factor's
    (the factors stage turns user layers into custom factors of the same
    name). Empty layers are skipped.
    """
    return collect_layers(analysis.factors, analysis.map_layers)


def collect_layers(
    factors: dict[str, Any] | None, map_layers: dict[str, gpd.GeoDataFrame]
) -> dict[str, gpd.GeoDataFrame]:
    """:func:`candidate_layers` from factor results and map layers given separately."""
    out: dict[str, gpd.GeoDataFrame] = {}
    for name, fr in (factors or {}).items():
        frame = getattr(fr, "layer", None) if name in USE_LAYER else getattr(fr, "features", None)
        if frame is not None and len(frame):
            out[str(name)] = frame
    for key, frame in map_layers.items():
        if not key.startswith("user:") or frame is None or not len(frame):
            continue
        name = key[len("user:"):]
        if name.lower() in STREET_LAYER_NAMES:
            continue
        if name not in out:  # a user layer already turned into a factor of that name
            out[name] = frame
    return out


def street_layer(analysis: Analysis) -> gpd.GeoDataFrame | None:
    """The street network of an analysis: OSM ``streets``, else a user ``streets`` layer."""
    layers = analysis.map_layers
    for key in ["streets", *(f"user:{n}" for n in sorted(STREET_LAYER_NAMES))]:
        frame = layers.get(key)
        if frame is not None and len(frame):
            return frame
    return None


@declares(reads=("factors",), adds=("rtm", "arrays.rtm_score", "arrays.why"))
def stage(
    analysis: Analysis,
    *,
    block_length_m: float | None = None,
    top_pct: float = TOP_PERCENT,
    fwer: float = FWER,
    protective: bool = False,
    family: str = "auto",
    operations: tuple[str, ...] = OPERATIONS,
    multiples: tuple[float, ...] = BLOCK_MULTIPLES,
    design: DesignBuilder | None = None,
) -> None:
    """Pipeline stage: fit the risk terrain model and explain every cell.

    Reads factor features from ``analysis.factors`` and user layers
    from ``analysis.map_layers`` (:func:`candidate_layers`) and the incident
    counts ``analysis.arrays["incidents"]``. Adds ``arrays["rtm_score"]``,
    ``arrays["why"]`` (object array of str, :func:`explain`),
    ``analysis.rtm`` (:class:`RTMResult`), ``parameters["rtm"]`` and the
    choices made. Options are those of :func:`fit` (``design``: where the design
    matrix lives; ``--engine dask`` keeps it on the tiles).
    """
    grid = analysis.grid
    counts = count_basis(analysis)  # public mode: the protected counts, so fit and score are too
    result = fit(grid, counts, candidate_layers(analysis),
                 streets=street_layer(analysis), block_length_m=block_length_m,
                 multiples=multiples, operations=operations, top_pct=top_pct, fwer=fwer,
                 protective=protective, family=family, design=design)
    declare(analysis, "rtm_score", result.score, basis_kind(analysis))
    declare(analysis, "why", explain(
        grid, result, analysis.factors, counts,
        k_threshold=analysis.parameters.get("k_threshold"),
        youth_gap_m=analysis.youth_walk_m), Kind.LABEL)
    analysis.rtm = result
    analysis.parameters["rtm"] = {
        "block_length_m": result.block_length_m,
        "distances_blocks": list(multiples), "operations": list(operations),
        "density_threshold": "mean + 2 SD of the kernel density (RTMDx)",
        "selection": "per-factor best operationalisation by BIC, bidirectional stepwise BIC, "
                     f"Holm correction over all tested operationalisations (FWER {fwer:g})",
        "family": result.family, "nb_alpha": result.alpha, "protective": bool(protective),
        "top_pct": float(top_pct), "n_tested": result.n_tested, "headline": result.headline,
    }
    analysis.choices.extend(result.choices)


def write_rtm(analysis: Analysis, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``rtm.csv`` (selected factors) and ``rtm_candidates.csv`` (all tested), atomically.

    Returns ``{}`` when the RTM stage has not run.
    """
    from hotspot_env._atomic import write_text

    result = analysis.rtm
    if result is None:
        return {}
    folder = Path(folder)
    table = publish(analysis, result.table, RTM_KINDS)
    written = {"rtm.csv": write_text(folder / "rtm.csv",
                                     table.to_csv(index=False, lineterminator="\n"))}
    if len(result.candidates):
        candidates = publish(analysis, result.candidates, RTM_KINDS)
        written["rtm_candidates.csv"] = write_text(
            folder / "rtm_candidates.csv", candidates.to_csv(index=False, lineterminator="\n"))
    return written


#: Privacy kinds of ``rtm.csv`` and ``rtm_candidates.csv``. The fit's statistics
#: come from :func:`hotspot_env.outputs.privacy.count_basis`: the protected counts in public mode.
RTM_KINDS: dict[str, Kind] = {
    "factor": Kind.LABEL, "operation": Kind.LABEL, "distance_m": Kind.FACTOR,
    "cells": Kind.FACTOR, "coefficient": Kind.PROTECTED_DERIVED,
    "rrv": Kind.PROTECTED_DERIVED, "ci_low": Kind.PROTECTED_DERIVED,
    "ci_high": Kind.PROTECTED_DERIVED, "p_value": Kind.PROTECTED_DERIVED,
    "bic": Kind.PROTECTED_DERIVED, "converged": Kind.LABEL, "chosen": Kind.LABEL,
    "selected": Kind.LABEL}
