"""Street lighting: a modelled illuminance proxy from lamp positions.

Model
-----
Each lamp is an idealised point source at height ``h`` that spreads its flux
uniformly over the downward hemisphere, so its luminous intensity is
``I = lumens / (2 pi)`` candela in every downward direction. The horizontal
illuminance it gives at ground distance ``r`` is the cosine-corrected inverse
square law (IES Lighting Handbook; CIE 140)::

    E = I cos(theta) / d^2 = I h / d^3,   d = sqrt(r^2 + h^2)          [lux]

and lamps add up (illuminance is additive). Lamps further than ``radius_m``
(default 60 m) are ignored: a 6,000 lm lamp at 8 m gives 0.03 lux there.

Assumptions, all deliberate simplifications of a proxy (not a lighting design):
no luminaire photometry (real optics throw light along the street), no
maintenance factor or light loss, no shading by buildings or trees, no light
from windows, shops or signs. Defaults for lamps without attributes come from
:mod:`hotspot_env.settings` (``lamp_lumens`` 6,000 lm, ``lamp_height_m`` 8 m),
giving 14.9 lux under a lamp and about 3 lux midway between lamps 30 m apart.

When no lamp layer exists at all (many OSM extracts), the OSM ``lit`` tag is
used instead: ``lit=yes`` streets get :data:`settings.lit_yes_lux` (10 lux),
``lit=no`` 0 lux, untagged streets NaN (unknown, never guessed). Measured
light overrides both: a raster of lux (``lux_raster``) and then lux readings at
points (``measured``), which beat the raster where both exist.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.enums import MergeAlg
from rasterio.features import rasterize

# scipy.spatial is imported where it is used: a kept analysis is unpickled without it
# (the app's first page, tests/test_lazy_imports.py).
from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.grid import Grid
from hotspot_env.errors import InputError
from hotspot_env.factors.base import (
    FactorResult,
    cell_mean,
    centres_flat,
    get_layer,
    nan_grid,
    not_measured,
    outdoor_streets,
    outside_to_nan,
    sample_along,
    sample_raster,
    to_grid_crs,
    usable,
)
from hotspot_env.outputs.privacy import Kind

NAME = "lighting"

#: Cells are evaluated in chunks so the lamp-cell pair list stays small in memory.
_CHUNK = 50_000


def illuminance(
    x: np.ndarray,
    y: np.ndarray,
    lamp_x: np.ndarray,
    lamp_y: np.ndarray,
    lumens: np.ndarray | float,
    height_m: np.ndarray | float,
    radius_m: float = 60.0,
) -> np.ndarray:
    """Horizontal illuminance (lux) at points from point-source lamps.

    ``E = sum_j I_j h_j / (r_ij^2 + h_j^2)^(3/2)`` over lamps within
    ``radius_m`` (ground distance), with ``I_j = lumens_j / (2 pi)`` cd.
    Pairs are found with a KD-tree (``cKDTree.sparse_distance_matrix``), so
    the cost grows with the number of lamp-point pairs, not lamps x points.

    Parameters
    ----------
    x, y : ndarray
        Evaluation points (metres, projected CRS).
    lamp_x, lamp_y : ndarray
        Lamp positions (metres, same CRS).
    lumens : ndarray or float
        Luminous flux per lamp (lm).
    height_m : ndarray or float
        Mounting height per lamp (m), > 0.
    radius_m : float
        Ground distance (m) beyond which a lamp is ignored.

    Returns
    -------
    ndarray of float64
        Illuminance in lux, 0 where no lamp is within ``radius_m``.
    """
    from scipy.spatial import cKDTree

    pts = np.column_stack([np.asarray(x, float).ravel(), np.asarray(y, float).ravel()])
    lamps = np.column_stack([np.asarray(lamp_x, float), np.asarray(lamp_y, float)])
    out = np.zeros(len(pts))
    if not len(lamps) or not len(pts):
        return out
    intensity = np.broadcast_to(np.asarray(lumens, float), (len(lamps),)) / (2.0 * math.pi)
    height = np.broadcast_to(np.asarray(height_m, float), (len(lamps),))
    lamp_tree = cKDTree(lamps)
    for start in range(0, len(pts), _CHUNK):
        chunk = pts[start:start + _CHUNK]
        pairs = cKDTree(chunk).sparse_distance_matrix(lamp_tree, radius_m, output_type="ndarray")
        i, j, r = pairs["i"], pairs["j"], pairs["v"]
        h = height[j]
        e = intensity[j] * h / (r * r + h * h) ** 1.5
        out[start:start + len(chunk)] = np.bincount(i, weights=e, minlength=len(chunk))
    return out


def compute(
    layers: dict[str, gpd.GeoDataFrame], grid: Grid, incidents: gpd.GeoDataFrame | None = None,
    *, lamps: gpd.GeoDataFrame | None = None, lumens: float | None = None,
    height_m: float | None = None, radius_m: float = 60.0, dark_lux: float | None = None,
    lit_yes_lux: float | None = None, lit_tag: str = "fallback", step_m: float = 10.0,
    measured: gpd.GeoDataFrame | None = None, measured_max_dist_m: float = 20.0,
    lux_raster: str | os.PathLike[str] | None = None,
    illuminate: Callable[..., np.ndarray] | None = None,
) -> FactorResult:
    """Model street lighting on the grid and find dark street segments.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Layers in ``grid.crs``; uses ``lamps`` (points) and ``streets``
        (lines with ``name``, ``highway``, ``lit``).
    grid : Grid
        The study grid.
    incidents : GeoDataFrame, optional
        Unused (same signature as every factor).
    lamps : GeoDataFrame, optional
        A user lamp layer (any CRS) that replaces ``layers["lamps"]``. Optional
        columns: ``lumens`` (lm), ``height_m`` (m), ``working`` (bool;
        non-working lamps give no light). Missing values take the defaults.
    lumens, height_m : float, optional
        Flux (lm) and height (m) of lamps without one (default
        :data:`settings.lamp_lumens`, :data:`settings.lamp_height_m`).
    radius_m : float
        Lamps further than this (m) are ignored (default 60).
    dark_lux, lit_yes_lux : float, optional
        Segments whose mean lux is below ``dark_lux`` are dark (default
        :data:`settings.dark_lux`, 2 lux); ``lit=yes`` streets get ``lit_yes_lux``
        when no lamps are mapped (default :data:`settings.lit_yes_lux`, 10 lux).
    lit_tag : {"fallback", "fill", "ignore"}
        How the OSM ``lit`` tag is used. ``"fallback"`` (default): only when no
        lamps are mapped at all. ``"fill"``: also where lamps are mapped, a ``lit=yes``
        street is never darker than ``lit_yes_lux`` (OSM lamp layers are often
        incomplete). ``"ignore"``: never (lit=no streets are not dark by tag either).
    step_m : float
        Spacing (m) of sample points along each street segment (default 10).
    measured : GeoDataFrame, optional
        Points (any CRS) with measured ``lux``; they override the model in their cells
        (cell mean) and on the nearest street segment within ``measured_max_dist_m`` (m).
    lux_raster : path-like, optional
        A raster of measured lux, sampled at cell centres and segment sample
        points; overrides the model where it has data.
    illuminate : callable, optional
        Another :func:`illuminance` (the tiled engine's, :mod:`hotspot_env.scale.tile_factors`).

    Returns
    -------
    FactorResult
        ``values["lamp_lux"]``: illuminance at each cell centre (lux).
        ``layer``: dark segments with ``segment_id`` (row position in
        ``layers["streets"]``), ``osm_id``, ``name``, ``lit``, ``lux_mean``,
        ``lux_min`` (lux), ``length_m`` and ``source`` ("model", "lit tag",
        "raster", "measured"). ``features``: working lamps (points with
        ``lumens``, ``height_m``), or the dark segments when no lamps exist.
    """
    lumens, height_m, dark_lux, lit_yes_lux = _checked_options(
        lumens=lumens, height_m=height_m, radius_m=radius_m, step_m=step_m, dark_lux=dark_lux,
        lit_yes_lux=lit_yes_lux, lit_tag=lit_tag)
    lamp_frame, streets, measured = _inputs(layers, grid, lamps, measured)
    if lamp_frame is None and streets is None and measured is None and lux_raster is None:
        return not_measured(NAME, grid, ["lamp_lux"],
                            "no lamps, streets or measured light: lighting could not be measured")

    choices: list[Choice] = []
    seg = _segments(streets, step_m)
    lamp_pts, cell_lux = _light(lamp_frame, grid, streets, seg, choices, lumens=lumens,
                                height_m=height_m, radius_m=radius_m, lit_tag=lit_tag,
                                lit_yes_lux=lit_yes_lux, illuminate=illuminate or illuminance)
    cell_lux = _apply_measured(cell_lux, grid, seg, lux_raster, measured, measured_max_dist_m,
                               choices)
    layer = _dark_segments(seg, dark_lux, lit_tag, choices, modelled=lamp_pts is not None,
                           light_known=lamp_frame is not None or measured is not None)
    features = (lamp_pts if lamp_pts is not None
                else layer if layer is not None and len(layer) else None)
    return FactorResult(NAME, {"lamp_lux": outside_to_nan(grid, cell_lux)}, layer, choices,
                        features, kinds={"lamp_lux": Kind.FACTOR})


# -------------------------------------------------------------------- steps
def _inputs(layers: dict[str, gpd.GeoDataFrame], grid: Grid, lamps: gpd.GeoDataFrame | None,
            measured: gpd.GeoDataFrame | None
            ) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """Lamps (the user's replace the layer's), outdoor streets and measured readings, or None."""
    lamp_frame = (usable(to_grid_crs(lamps, grid, "lamp")) if lamps is not None
                  else get_layer(layers, "lamps"))
    streets = outdoor_streets(get_layer(layers, "streets"))
    return lamp_frame, streets, _measured_points(measured, grid)


def _checked_options(*, lumens: float | None, height_m: float | None, radius_m: float,
                     step_m: float, dark_lux: float | None, lit_yes_lux: float | None,
                     lit_tag: str) -> tuple[float, float, float, float]:
    """``lumens``, ``height_m``, ``dark_lux``, ``lit_yes_lux`` with defaults, all checked.

    Refuses a non-positive lamp or sampling size, negative lux or an unknown ``lit_tag``.
    """
    lumens = settings.lamp_lumens if lumens is None else lumens
    height_m = settings.lamp_height_m if height_m is None else height_m
    dark_lux = settings.dark_lux if dark_lux is None else dark_lux
    lit_yes_lux = settings.lit_yes_lux if lit_yes_lux is None else lit_yes_lux
    for label, value in (("lumens", lumens), ("height_m", height_m), ("radius_m", radius_m),
                         ("step_m", step_m)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"lighting {label} must be a positive number, got {value!r}")
    for label, value in (("dark_lux", dark_lux), ("lit_yes_lux", lit_yes_lux)):
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"lighting {label} must be a non-negative number, got {value!r}")

    if lit_tag not in ("fallback", "fill", "ignore"):
        raise InputError(f"lighting lit_tag must be fallback, fill or ignore, got {lit_tag!r}")
    return lumens, height_m, dark_lux, lit_yes_lux


def _light(lamp_frame: gpd.GeoDataFrame | None, grid: Grid, streets: gpd.GeoDataFrame | None,
           seg: _Segments | None, choices: list[Choice], *, lit_tag: str, lit_yes_lux: float,
           **lamp_options: Any) -> tuple[gpd.GeoDataFrame | None, np.ndarray]:
    """The working lamps and each cell's lux: from the lamps, or from the ``lit`` tag."""
    if lamp_frame is not None:
        return _lamp_light(lamp_frame, grid, streets, seg, choices, lit_tag=lit_tag,
                           lit_yes_lux=lit_yes_lux, **lamp_options)
    return None, _lit_tag_light(grid, streets, seg, lit_tag, lit_yes_lux, choices)


def _lamp_light(lamp_frame: gpd.GeoDataFrame, grid: Grid, streets: gpd.GeoDataFrame | None,
                seg: _Segments | None, choices: list[Choice], *, lumens: float, height_m: float,
                radius_m: float, lit_tag: str, lit_yes_lux: float,
                illuminate: Callable[..., np.ndarray] = illuminance
                ) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The working lamps and the lux they give each cell (segments: in ``seg``)."""
    lamp_pts, lamp_choices = _lamp_table(lamp_frame, lumens, height_m)
    choices += lamp_choices
    cell_lux = _modelled_light(grid, lamp_pts, seg, radius_m, lumens, height_m, choices,
                               illuminate)
    if lit_tag == "fill" and seg is not None:
        cell_lux = _fill_from_lit_tag(cell_lux, streets, grid, seg, lit_yes_lux, choices)
    return lamp_pts, cell_lux


def _modelled_light(grid: Grid, lamp_pts: gpd.GeoDataFrame, seg: _Segments | None,
                    radius_m: float, lumens: float, height_m: float,
                    choices: list[Choice],
                    illuminate: Callable[..., np.ndarray] = illuminance) -> np.ndarray:
    """Lux from the lamps at each cell centre (returned) and along each segment (in ``seg``)."""
    xy = centres_flat(grid)
    px, py = lamp_pts.geometry.x.to_numpy(), lamp_pts.geometry.y.to_numpy()
    lm, hm = lamp_pts["lumens"].to_numpy(), lamp_pts["height_m"].to_numpy()
    cell_lux = illuminate(xy[:, 0], xy[:, 1], px, py, lm, hm, radius_m).reshape(grid.shape)
    choices.append(announce(Choice(
        "lamp_radius_m", float(radius_m),
        "lamps further than this are ignored (a default lamp gives "
        f"{_point_lux(lumens, height_m, radius_m):.2f} lux there)")))
    if seg is not None:
        lux = illuminate(seg.x, seg.y, px, py, lm, hm, radius_m)
        seg.frame["lux_mean"], seg.frame["lux_min"] = _reduce(lux, seg.line, len(seg.frame))
        seg.frame["source"] = "model"
    return cell_lux


def _fill_from_lit_tag(cell_lux: np.ndarray, streets: gpd.GeoDataFrame, grid: Grid,
                       seg: _Segments, lit_yes_lux: float, choices: list[Choice]) -> np.ndarray:
    """``lit_tag="fill"``: a lit=yes street (and its cells) is never darker than ``lit_yes_lux``."""
    cell_lux = np.fmax(cell_lux, _lit_tag_cells(streets, grid, lit_yes_lux))
    tagged_yes = (seg.frame["lit"] == "yes").to_numpy()
    for col in ("lux_mean", "lux_min"):
        seg.frame.loc[tagged_yes, col] = np.fmax(seg.frame.loc[tagged_yes, col], lit_yes_lux)
    seg.frame.loc[tagged_yes, "source"] = "model + lit tag"
    choices.append(announce(Choice(
        "lighting_source", "lamps + lit tag",
        f"lit=yes streets (and cells they cross) get at least {lit_yes_lux:g} lux "
        f"({int(tagged_yes.sum()):,} segments), as asked by lit_tag='fill'")))
    return cell_lux


def _lit_tag_light(grid: Grid, streets: gpd.GeoDataFrame | None, seg: _Segments | None,
                   lit_tag: str, lit_yes_lux: float, choices: list[Choice]) -> np.ndarray:
    """No lamps mapped: lux from the OSM ``lit`` tag (unless ignored); NaN where unknown."""
    cell_lux = nan_grid(grid)
    if seg is not None and lit_tag != "ignore":
        cell_lux = _lit_tag_cells(streets, grid, lit_yes_lux)
        lit = seg.frame["lit"]
        fallback = np.where(lit == "yes", lit_yes_lux, np.where(lit == "no", 0.0, np.nan))
        seg.frame["lux_mean"] = fallback
        seg.frame["lux_min"] = fallback
        seg.frame["source"] = "lit tag"
        n_tagged = int(pd.Series(lit).notna().sum())
        choices.append(announce(Choice(
            "lighting_source", "lit tag",
            f"no street lamps are mapped, so the OSM lit tag is used: lit=yes = "
            f"{lit_yes_lux:g} lux, lit=no = 0 lux, untagged = unknown "
            f"({n_tagged:,} of {len(lit):,} segments tagged)")))
    elif seg is not None:
        seg.frame["source"] = "none"
    return cell_lux


def _apply_measured(cell_lux: np.ndarray, grid: Grid, seg: _Segments | None,
                    lux_raster: str | os.PathLike[str] | None,
                    measured: gpd.GeoDataFrame | None, max_dist: float,
                    choices: list[Choice]) -> np.ndarray:
    """Measured light overrides the model: the raster first, then point readings."""
    xy = centres_flat(grid)
    if lux_raster is not None:
        raster_cells = sample_raster(lux_raster, grid.crs, xy[:, 0], xy[:, 1]).reshape(grid.shape)
        cell_lux = np.where(np.isfinite(raster_cells), raster_cells, cell_lux)
        n_seg = 0
        if seg is not None:
            vals = sample_raster(lux_raster, grid.crs, seg.x, seg.y)
            n_seg = _override(seg.frame, *_reduce(vals, seg.line, len(seg.frame)), "raster")
        choices.append(announce(Choice(
            "lighting_measured_raster", os.fspath(lux_raster),
            f"measured lux replaces the model in {int(np.isfinite(raster_cells).sum()):,} "
            f"cells and {n_seg:,} segments")))
    if measured is not None:
        mx, my = measured.geometry.x.to_numpy(), measured.geometry.y.to_numpy()
        mlux = measured["lux"].to_numpy(dtype=float)
        point_cells = cell_mean(grid, mx, my, mlux)
        cell_lux = np.where(np.isfinite(point_cells), point_cells, cell_lux)
        n_seg = 0
        if seg is not None:
            mean, low = _nearest_segment_stats(seg.frame, mx, my, mlux, max_dist)
            n_seg = _override(seg.frame, mean, low, "measured")
        choices.append(announce(Choice(
            "lighting_measured_points", len(measured),
            f"measured lux readings replace the model in {int(np.isfinite(point_cells).sum()):,} "
            f"cells (cell mean) and {n_seg:,} segments (readings within "
            f"{max_dist:g} m of the segment)")))
    return cell_lux


def _dark_segments(seg: _Segments | None, dark_lux: float, lit_tag: str, choices: list[Choice],
                   *, modelled: bool, light_known: bool) -> gpd.GeoDataFrame | None:
    """Segments darker than ``dark_lux`` or tagged lit=no (unless measured otherwise).

    ``None`` without streets (announced when lamps or readings gave light to
    place on them: ``light_known``). ``modelled``: the lux come from lamps.
    """
    if seg is None:
        if light_known:
            choices.append(announce(Choice(
                "dark_segments", "not found",
                "no streets layer: dark segments could not be listed")))
        return None
    frame = seg.frame
    dark = frame["lux_mean"] < dark_lux
    if lit_tag != "ignore":  # lit=no is dark unless a measurement says otherwise
        dark |= (frame["lit"] == "no") & ~frame["source"].isin(["raster", "measured"])
    layer = frame[dark.to_numpy()].reset_index(drop=True)
    choices.append(announce(Choice(
        "dark_lux", float(dark_lux),
        f"segments with mean light below this, or tagged lit=no, are dark "
        f"({len(layer):,} of {len(frame):,} segments)")))
    if modelled and lit_tag == "fallback":
        contradicted = int(((frame["lit"] == "yes") & (frame["lux_mean"] < dark_lux)).sum())
        if contradicted:
            choices.append(announce(Choice(
                "lit_tag_conflicts", contradicted,
                "segments tagged lit=yes are modelled dark: their lamps may be missing "
                "from the lamp layer (check them, or pass lit_tag='fill')")))
    return layer


# ------------------------------------------------------------------ helpers
def _point_lux(lumens: float, height: float, r: float) -> float:
    return lumens / (2.0 * math.pi) * height / (r * r + height * height) ** 1.5


def _lamp_table(
    frame: gpd.GeoDataFrame, lumens: float, height_m: float
) -> tuple[gpd.GeoDataFrame, list[Choice]]:
    """Working lamps as points with ``lumens`` and ``height_m`` filled in."""
    geom = frame.geometry
    if not geom.geom_type.isin(["Point"]).all():
        # Lamps drawn as small polygons or multipoints still count once each.
        geom = geom.representative_point()
    table = gpd.GeoDataFrame(
        {"osm_id": frame["osm_id"].to_numpy() if "osm_id" in frame else np.arange(len(frame))},
        geometry=geom.to_numpy(), crs=frame.crs)
    choices = []
    for col, default, unit in (("lumens", lumens, "lm"), ("height_m", height_m, "m")):
        given = (pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                 if col in frame else np.full(len(frame), np.nan))
        given = np.where(given > 0, given, np.nan)  # 0 or negative cannot be a real lamp
        missing = int(np.isnan(given).sum())
        table[col] = np.where(np.isnan(given), default, given)
        if missing:
            choices.append(announce(Choice(
                f"lamp_{col}", float(default),
                f"default {unit} for {missing:,} of {len(frame):,} lamps without a {col} value")))
    if "working" in frame:
        flag = frame["working"]
        # a plain bool column needs no per-lamp look (332k lamps at metro)
        working = (flag.to_numpy(dtype=bool) if flag.dtype == np.bool_
                   else flag.map(_truthy).to_numpy())
        n_off = int((~working).sum())
        table = table[working].reset_index(drop=True)
        if n_off:
            choices.append(announce(Choice(
                "lamps_not_working", n_off, "lamps marked working=False give no light")))
    return table, choices


def _truthy(value: object) -> bool:
    """Lamp ``working`` flag: only an explicit false value switches a lamp off."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "0", "n", "f", "off")
    return bool(value)


@dataclass
class _Segments:
    """Street segments (the future layer) and their light sample points."""

    frame: gpd.GeoDataFrame
    x: np.ndarray
    y: np.ndarray
    line: np.ndarray  # row of ``frame`` of each sample point


def _segments(streets: gpd.GeoDataFrame | None, step_m: float) -> _Segments | None:
    if streets is None:
        return None
    geoms = streets.geometry.to_numpy()
    x, y, line = sample_along(geoms, step_m)
    frame = gpd.GeoDataFrame({
        "segment_id": np.asarray(streets.index, dtype=np.int64),
        "osm_id": streets["osm_id"].to_numpy() if "osm_id" in streets else None,
        "name": streets["name"].to_numpy() if "name" in streets else None,
        "lit": streets["lit"].to_numpy() if "lit" in streets else None,
        "lux_mean": np.nan, "lux_min": np.nan,
        "length_m": shapely.length(geoms), "source": "model",
    }, geometry=geoms, crs=streets.crs)
    return _Segments(frame, x, y, line)


def _reduce(values: np.ndarray, line: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-line mean and minimum of sample values, ignoring NaN (NaN if no finite sample)."""
    finite = np.isfinite(values)
    counts = np.bincount(line[finite], minlength=size)
    sums = np.bincount(line[finite], weights=values[finite], minlength=size)
    low = np.full(size, np.inf)
    np.minimum.at(low, line[finite], values[finite])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return mean, np.where(counts > 0, low, np.nan)


def _override(frame: gpd.GeoDataFrame, mean: np.ndarray, low: np.ndarray, source: str) -> int:
    has = np.isfinite(mean)
    frame.loc[has, "lux_mean"] = mean[has]
    frame.loc[has, "lux_min"] = low[has]
    frame.loc[has, "source"] = source
    return int(has.sum())


def _nearest_segment_stats(
    frame: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray, lux: np.ndarray, max_dist: float
) -> tuple[np.ndarray, np.ndarray]:
    tree = shapely.STRtree(frame.geometry.to_numpy())
    (ip, iseg) = tree.query_nearest(shapely.points(x, y), max_distance=max_dist,
                                    all_matches=False)
    return _reduce(lux[ip], iseg, len(frame))


def _measured_points(measured: gpd.GeoDataFrame | None, grid: Grid) -> gpd.GeoDataFrame | None:
    measured = usable(measured)
    if measured is None:
        return None
    if "lux" not in measured.columns:
        raise InputError("the measured-light layer needs a 'lux' column (lux at each point)")
    measured = to_grid_crs(measured, grid, "measured-light")
    if not measured.geometry.geom_type.eq("Point").all():
        raise InputError("the measured-light layer must contain points only")
    lux = pd.to_numeric(measured["lux"], errors="coerce")
    if (lux < 0).any():
        raise InputError("measured lux values must be >= 0")
    measured = measured.assign(lux=lux)[lux.notna().to_numpy()]
    return measured if len(measured) else None


def _lit_tag_cells(streets: gpd.GeoDataFrame, grid: Grid, lit_yes_lux: float) -> np.ndarray:
    """Cells touched by tagged streets: the brightest tagged street in the cell; NaN elsewhere."""
    lit = streets["lit"] if "lit" in streets else pd.Series(None, index=streets.index)
    unlit = _as_geojson(streets.geometry[(lit == "no").to_numpy()].to_numpy())
    lit_yes = _as_geojson(streets.geometry[(lit == "yes").to_numpy()].to_numpy())
    shapes = [(g, 0.0) for g in unlit]
    # Drawn last so a lit street wins a cell it shares with an unlit one.
    shapes += [(g, float(lit_yes_lux)) for g in lit_yes]
    if not shapes:
        return nan_grid(grid)
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=np.nan,
                     all_touched=True, dtype="float64", merge_alg=MergeAlg.replace)


def _as_geojson(geoms: np.ndarray) -> list[Any]:
    """Plain 2-D line strings as GeoJSON mappings, built from one coordinate array.

    rasterio reads each shape's ``__geo_interface__``; shapely builds it one
    geometry at a time (most of the rasterising time at metro scale). The
    mappings hold the same coordinates, so the raster is the same. Anything
    else (multi-part, empty, 3-D) is handed over as it is.
    """
    if not len(geoms) or not (
            (shapely.get_type_id(geoms) == 1).all() and not shapely.is_empty(geoms).any()
            and not shapely.has_z(geoms).any()):
        return list(geoms)
    coords = shapely.get_coordinates(geoms)
    ends = np.cumsum(shapely.get_num_coordinates(geoms))[:-1]
    return [{"type": "LineString", "coordinates": part.tolist()}
            for part in np.split(coords, ends)]
