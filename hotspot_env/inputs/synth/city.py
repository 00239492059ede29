"""A whole synthetic city whose incidents follow a known log-linear risk model.

See :mod:`hotspot_env.inputs.synth` for the planted model. The layout comes
from :func:`hotspot_env.inputs.synth.layout.build_layout`; this module turns it
into layers, draws the incidents on a lattice and records the truth.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from hotspot_env._atomic import atomic_path, write_text
from hotspot_env.inputs.synth._common import (
    CATEGORIES,
    SOURCES,
    _category_probabilities,
    _ids,
    _incident_table,
    _local_to_utc,
    _normalised,
    _write_csv,
)
from hotspot_env.inputs.synth.layout import CityLayout, build_layout

#: Size presets for :func:`simulate_city`: side of the square study area (m)
#: and expected number of incidents over the period.
SCALES: dict[str, dict[str, float]] = {
    "quick": {"size_m": 3_000.0, "n_incidents": 20_000},
    "city": {"size_m": 10_000.0, "n_incidents": 150_000},
    "metro": {"size_m": 24_500.0, "n_incidents": 1_000_000},
}

#: Planted factors of :func:`simulate_city`: ``layer name -> (RRV, distance in
#: block lengths)``. ``youth`` is protective (RRV < 1); the two decoys have no
#: effect (RRV = 1) and exist so a model can be seen *not* to select them.
DEFAULT_FACTORS: dict[str, tuple[float, float]] = {
    "bars": (2.5, 1.0),
    "vacant": (1.8, 1.0),
    "dark_segments": (1.6, 1.0),
    "youth": (0.75, 2.0),
    "decoy_kiosks": (1.0, 1.0),
    "decoy_benches": (1.0, 0.5),
}

#: Layers of :func:`simulate_city` that are decoys (RRV fixed at 1).
DECOYS: tuple[str, ...] = ("decoy_kiosks", "decoy_benches")

#: Evening-heavy hour-of-day profile (local time) used by :func:`simulate_city`.
CITY_HOUR_PROFILE: tuple[float, ...] = (
    4.5, 3.5, 2.8, 2.0, 1.4, 1.0, 1.0, 1.4, 2.0, 2.5, 2.8, 3.1,
    3.4, 3.6, 3.8, 4.1, 4.6, 5.1, 5.6, 6.0, 6.2, 6.1, 5.7, 5.0,
)

_CITY_CENTRE_LONLAT = (16.0, 55.5)  # open water east of Bornholm, UTM zone 33N
_CITY_TZ = "Europe/Copenhagen"
_CITY_OFFICER_SHARE = 0.15
_MODEL_TEXT = (
    "log-linear: expected incidents in lattice cell s = exp(beta0 + sum_k log(rrv_k) * "
    "1[dist(centre(s), layer_k) <= distance_m_k]); Poisson counts per cell, incidents "
    "uniform within their cell; times and categories independent of place"
)


@dataclass
class SyntheticCity:
    """A simulated city, its incidents and the model they were drawn from.

    Attributes
    ----------
    layers : dict of str to GeoDataFrame
        Context layers (``streets``, ``lamps``, ``buildings``, ``landuse``)
        with the columns of :mod:`hotspot_env.inputs.osm`, plus one layer per planted
        factor, named as in ``truth["factors"]``. All in :attr:`crs`.
    incidents : GeoDataFrame
        Points in :attr:`crs` with ``incident_id``, ``datetime`` (tz-aware UTC),
        ``category`` and ``source``; ``attrs["simulated"]`` is True.
    truth : dict
        ``{"factors": {name: {"rrv", "distance_m"}}, "seed", "model", "notes",
        ...}`` plus the lattice, ``beta0`` and the generation parameters.
    boundary : shapely.Polygon
        The square study area in :attr:`crs`.
    """

    layers: dict[str, gpd.GeoDataFrame]
    incidents: gpd.GeoDataFrame
    truth: dict[str, Any]
    boundary: shapely.Polygon = field(repr=False)

    @property
    def crs(self) -> CRS:
        """Projected CRS of every layer and of the incidents."""
        return CRS.from_user_input(self.incidents.crs)

    def incidents_table(self) -> pd.DataFrame:
        """Incidents as the CSV table: ``lon``, ``lat``, ``datetime``, ``category``, ``source``."""
        return _incident_table(self.incidents, ["category", "source"])

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``incidents.csv``, ``layers.gpkg`` and ``truth.json`` atomically.

        Each file is written to a temporary name in ``out_dir`` and moved into
        place with :func:`os.replace`, so readers never see a partial file.

        Parameters
        ----------
        out_dir : path-like
            Folder, created if needed.

        Returns
        -------
        dict of str to Path
            ``{"incidents": ..., "layers": ..., "truth": ...}``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"incidents": out / "incidents.csv", "layers": out / "layers.gpkg",
                 "truth": out / "truth.json"}
        table = self.incidents_table()
        with atomic_path(paths["incidents"]) as tmp:
            _write_csv(table, tmp)

        def write_gpkg(tmp: Path) -> None:
            for name, frame in self.layers.items():
                frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")

        with atomic_path(paths["layers"]) as tmp:
            write_gpkg(tmp)
        write_text(paths["truth"], json.dumps(self.truth, indent=2, sort_keys=False) + "\n")
        return paths


@dataclass(frozen=True)
class _Lattice:
    """Cell-centre lattice in local coordinates (origin at the SW corner)."""

    h: float
    nx: int
    ny: int


def simulate_city(
    seed: int,
    size_m: float | None = None,
    *,
    scale: str = "quick",
    n_incidents: int | None = None,
    block_m: float = 100.0,
    rrv: Mapping[str, float] | None = None,
    distance_m: Mapping[str, float] | None = None,
    layout: CityLayout | None = None,
    lattice_m: float = 10.0,
    start: str = "2023-01-01",
    years: int = 2,
    crs: str = "EPSG:32633",
    centre_lonlat: tuple[float, float] = _CITY_CENTRE_LONLAT,
) -> SyntheticCity:
    """Simulate a city whose incidents follow a known log-linear risk model.

    Parameters
    ----------
    seed : int
        Random seed. The layout, the incident locations and the incident marks
        use separate streams, so changing ``n_incidents`` leaves the layers
        unchanged.
    size_m : float, optional
        Side of the square study area in metres (default from ``scale``).
    scale : {"quick", "city", "metro"}
        Preset from :data:`SCALES` (3 km / 20k, 10 km / 150k, 24.5 km / 1M).
    n_incidents : int, optional
        Expected number of incidents (default from ``scale``); the realised
        number is Poisson around it.
    block_m : float
        Street block length (distance between parallel streets).
    rrv : mapping, optional
        Relative risk per factor, overriding :data:`DEFAULT_FACTORS`. Decoys
        cannot be given an effect.
    distance_m : mapping, optional
        Distance of influence per factor in metres (default: the block
        multiples of :data:`DEFAULT_FACTORS` times ``block_m``).
    layout : CityLayout, optional
        Densities and shares of the street network and features.
    lattice_m : float
        Cell side of the lattice on which the intensity is defined (10 m).
    start : str
        First day of the period (``YYYY-MM-DD``, local time).
    years : int
        Length of the period in years.
    crs : str
        Projected CRS (metres) of the output layers; must contain ``centre_lonlat``.
    centre_lonlat : tuple of float
        Longitude and latitude of the city centre.

    Returns
    -------
    SyntheticCity
        Layers, incidents and the planted truth. Everything is simulated.

    Raises
    ------
    ValueError
        For an unknown scale or factor, a decoy given an effect, or too small a block.
    """
    layout = layout or CityLayout()
    size, n_target = _scaled(scale, size_m, n_incidents)
    factors = _resolve_factors(rrv, distance_m, block_m)
    _check_sizes(layout, block_m, size)
    ss = np.random.SeedSequence(seed)
    rng_layout, rng_space, rng_marks = (np.random.default_rng(s) for s in ss.spawn(3))
    crs_obj = CRS.from_user_input(crs)
    x0, y0 = _south_west_corner(crs_obj, centre_lonlat, size)
    parts = build_layout(rng_layout, size, block_m, layout)
    lattice = _Lattice(lattice_m, math.ceil(size / lattice_m), math.ceil(size / lattice_m))
    x, y, beta0 = _planted_points(rng_space, parts, factors, lattice, n_target)
    incidents = _city_incidents(rng_marks, x0 + x, y0 + y, start, years, crs_obj)
    layers = _layers_to_gdf(parts, x0, y0, crs_obj)
    boundary = shapely.box(x0, y0, x0 + size, y0 + size)
    truth = _city_truth(factors, seed, beta0, lattice, (x0, y0), crs_obj, len(incidents), layers,
                        dict(scale=scale, size_m=size, block_m=block_m,
                             n_incidents_expected=n_target, start=start, years=years))
    return SyntheticCity(layers, incidents, truth, boundary)


def _scaled(scale: str, size_m: float | None, n_incidents: int | None) -> tuple[float, int]:
    """Side of the study area and expected incidents: as given, else the scale's preset."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    size = float(size_m if size_m is not None else SCALES[scale]["size_m"])
    return size, int(n_incidents if n_incidents is not None else SCALES[scale]["n_incidents"])


def _check_sizes(layout: CityLayout, block_m: float, size: float) -> None:
    """Refuse blocks too small for their setbacks and study areas smaller than two blocks."""
    if block_m - 2 * (layout.setback_m + layout.jitter_m) < 4 * layout.plots_per_side:
        raise ValueError(f"block_m={block_m} leaves no room for buildings behind the setbacks")
    if size < 2 * block_m:
        raise ValueError(f"size_m={size} must be at least two blocks ({2 * block_m} m)")


def _south_west_corner(crs: CRS, centre_lonlat: tuple[float, float],
                       size: float) -> tuple[float, float]:
    """Corner of the study area, rounded down to whole kilometres so cells align across sizes."""
    cx, cy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*centre_lonlat)
    return (math.floor((cx - size / 2) / 1000.0) * 1000.0,
            math.floor((cy - size / 2) / 1000.0) * 1000.0)


def _city_truth(factors: dict[str, tuple[float, float]], seed: int, beta0: float,
                lattice: _Lattice, origin: tuple[float, float], crs: CRS, n: int,
                layers: dict[str, gpd.GeoDataFrame], run: dict[str, Any]) -> dict[str, Any]:
    """The planted model and the generation parameters, as written to ``truth.json``."""
    x0, y0 = origin
    return {
        "factors": {name: {"rrv": r, "distance_m": d} for name, (r, d) in factors.items()},
        "seed": int(seed),
        "model": _MODEL_TEXT,
        "notes": "simulated",
        "beta0": beta0,
        "lattice": {"cell_m": lattice.h, "x0": x0, "y0": y0, "n_cols": lattice.nx,
                    "n_rows": lattice.ny, "row_0": "south"},
        "crs": crs.to_string(),
        "scale": run["scale"],
        "size_m": run["size_m"],
        "block_m": run["block_m"],
        "n_incidents_expected": run["n_incidents_expected"],
        "n_incidents": int(n),
        "period": {"start": run["start"], "years": run["years"], "local_time_zone": _CITY_TZ},
        "counts": {name: int(len(frame)) for name, frame in layers.items()},
    }


def _planted_points(
    rng: np.random.Generator, parts: dict[str, Any], factors: dict[str, tuple[float, float]],
    lattice: _Lattice, n_target: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Incident points (local metres) drawn from the planted log-linear model, and ``beta0``.

    Arrays are freed as soon as they are used: at metro scale the lattice has
    six million cells and the incidents number a million.
    """
    eta = np.zeros((lattice.ny, lattice.nx), dtype=np.float64)
    for name, (r, d) in factors.items():
        if r == 1.0:
            continue  # no effect: skip the proximity computation
        segs, boxes = parts["factor_geoms"][name]
        eta += math.log(r) * _near_mask(lattice, d, segs=segs, boxes=boxes)
    weight = np.exp(eta, out=eta)
    beta0 = math.log(n_target / float(weight.sum()))
    counts = rng.poisson(weight.ravel() * math.exp(beta0))
    del weight, eta
    cells = np.flatnonzero(counts)
    cell_of = np.repeat(cells, counts[cells])
    del counts, cells
    n = cell_of.size
    row, col = np.divmod(cell_of, lattice.nx)
    del cell_of
    x = (col + rng.random(n)) * lattice.h
    y = (row + rng.random(n)) * lattice.h
    return x, y, beta0


def _city_incidents(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, start: str,
                    years: int, crs: CRS) -> gpd.GeoDataFrame:
    """The incidents at ``x, y`` with times, categories and sources independent of place."""
    n = x.size
    when = _city_times(rng, n, start, years)
    category = rng.choice(len(CATEGORIES), size=n, p=_category_probabilities())
    officer = rng.random(n) < _CITY_OFFICER_SHARE
    order = np.argsort(when, kind="stable")
    incidents = gpd.GeoDataFrame(
        {
            "incident_id": _ids("sim-", n),
            "datetime": pd.DatetimeIndex(when[order]).tz_localize("UTC"),
            "category": pd.Categorical.from_codes(category[order], CATEGORIES),
            "source": pd.Categorical.from_codes(officer[order].astype(np.int8), SOURCES),
        },
        geometry=shapely.points(x[order], y[order]),
        crs=crs,
    )
    incidents.attrs["simulated"] = True
    return incidents


def _resolve_factors(
    rrv: Mapping[str, float] | None, distance_m: Mapping[str, float] | None, block_m: float
) -> dict[str, tuple[float, float]]:
    rrv = dict(rrv or {})
    distance_m = dict(distance_m or {})
    for name in set(rrv) | set(distance_m):
        if name not in DEFAULT_FACTORS:
            raise ValueError(f"unknown factor {name!r}: use one of {', '.join(DEFAULT_FACTORS)}")
    out = {}
    for name, (r, blocks) in DEFAULT_FACTORS.items():
        r = float(rrv.get(name, r))
        d = float(distance_m.get(name, blocks * block_m))
        if name in DECOYS and r != 1.0:
            raise ValueError(f"{name} is a decoy: its rrv must stay 1.0")
        if not (r > 0 and math.isfinite(r) and d > 0 and math.isfinite(d)):
            raise ValueError(f"factor {name!r} needs rrv > 0 and distance_m > 0")
        out[name] = (r, d)
    return out


def _city_times(rng: np.random.Generator, n: int, start: str, years: int) -> np.ndarray:
    """UTC instants (datetime64[ns]): uniform days, evening-heavy local hours."""
    first = pd.Timestamp(start)
    n_days = (first + pd.DateOffset(years=years) - first).days
    day = rng.integers(0, n_days, n)
    hour = rng.choice(24, size=n, p=_normalised(CITY_HOUR_PROFILE))
    second = rng.integers(0, 3600, n)
    local = (np.datetime64(first.date(), "s") + (day * 86400 + hour * 3600 + second)
             .astype("timedelta64[s]"))
    return _local_to_utc(local, _CITY_TZ)


def _near_mask(
    lat: _Lattice,
    dist: float,
    segs: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    max_pairs: int = 4_000_000,
) -> np.ndarray:
    """Lattice cells whose centre is within ``dist`` of any segment or box.

    ``segs`` rows are ``(ax, ay, bx, by)``; ``boxes`` rows ``(xmin, ymin, xmax,
    ymax)`` (points are zero-size boxes). Distances are exact: for each feature
    the cells in its bounding box grown by ``dist`` are enumerated (vectorised,
    in chunks of at most ``max_pairs`` cell-feature pairs) and measured.
    """
    out = np.zeros(lat.ny * lat.nx, dtype=bool)
    d2 = dist * dist
    for geom, is_seg in ((segs, True), (boxes, False)):
        if geom is None or not len(geom):
            continue
        geom = np.asarray(geom, dtype=np.float64)
        xmin = np.minimum(geom[:, 0], geom[:, 2])
        xmax = np.maximum(geom[:, 0], geom[:, 2])
        ymin = np.minimum(geom[:, 1], geom[:, 3])
        ymax = np.maximum(geom[:, 1], geom[:, 3])
        c0 = np.clip(np.ceil((xmin - dist) / lat.h - 0.5), 0, lat.nx).astype(np.int64)
        c1 = np.clip(np.floor((xmax + dist) / lat.h - 0.5), -1, lat.nx - 1).astype(np.int64)
        r0 = np.clip(np.ceil((ymin - dist) / lat.h - 0.5), 0, lat.ny).astype(np.int64)
        r1 = np.clip(np.floor((ymax + dist) / lat.h - 0.5), -1, lat.ny - 1).astype(np.int64)
        w = np.maximum(c1 - c0 + 1, 0)
        npairs = w * np.maximum(r1 - r0 + 1, 0)
        cum = np.concatenate([[0], np.cumsum(npairs)])
        lo = 0
        while lo < len(geom):
            hi = int(np.searchsorted(cum, cum[lo] + max_pairs, side="right")) - 1
            hi = min(max(hi, lo + 1), len(geom))
            sl = slice(lo, hi)
            cnt = npairs[sl]
            f = np.repeat(np.arange(lo, hi), cnt)
            k = np.arange(f.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            wf = w[f]
            col = c0[f] + k % np.maximum(wf, 1)
            row = r0[f] + k // np.maximum(wf, 1)
            px = (col + 0.5) * lat.h
            py = (row + 0.5) * lat.h
            g = geom[f]
            if is_seg:
                ex, ey = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
                ll = ex * ex + ey * ey
                with np.errstate(invalid="ignore", divide="ignore"):
                    t = np.where(ll > 0, ((px - g[:, 0]) * ex + (py - g[:, 1]) * ey) / ll, 0.0)
                t = np.clip(t, 0.0, 1.0)
                qx = px - g[:, 0] - t * ex
                qy = py - g[:, 1] - t * ey
            else:
                qx = np.maximum(np.maximum(g[:, 0] - px, px - g[:, 2]), 0.0)
                qy = np.maximum(np.maximum(g[:, 1] - py, py - g[:, 3]), 0.0)
            hit = qx * qx + qy * qy <= d2
            out[row[hit] * lat.nx + col[hit]] = True
            lo = hi
    return out.reshape(lat.ny, lat.nx)


def _layers_to_gdf(
    parts: dict[str, Any], x0: float, y0: float, crs: CRS
) -> dict[str, gpd.GeoDataFrame]:
    """Turn the local-coordinate arrays into GeoDataFrames in ``crs``."""
    seg = parts["seg"]
    xy = parts["seg_xy"] + np.array([x0, y0, x0, y0])
    lines = shapely.linestrings(xy.reshape(-1, 2, 2))
    n_seg = len(lines)
    sid = np.arange(1, n_seg + 1, dtype=np.int64)

    def frame(data: dict[str, Any], geometry: np.ndarray) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)

    def points(a: np.ndarray) -> np.ndarray:
        return shapely.points(a[:, 0] + x0, a[:, 1] + y0) if len(a) else np.array([], object)

    def boxes(a: np.ndarray) -> np.ndarray:
        if not len(a):
            return np.array([], dtype=object)
        return shapely.box(a[:, 0] + x0, a[:, 1] + y0, a[:, 2] + x0, a[:, 3] + y0)

    lamps = parts["lamps"]
    dark = parts["dark"]
    n_bars, n_vac = len(parts["bars_xy"]), len(parts["vacant_boxes"])
    n_parks, n_yc = len(parts["park_boxes"]), len(parts["yc_xy"])
    n_b = len(parts["bld_boxes"])
    layers = {
        "streets": frame({"osm_id": sid, "name": seg["name"], "highway": seg["highway"],
                          "lit": seg["lit"]}, lines),
        "lamps": frame({"osm_id": np.arange(1, len(lamps["x"]) + 1, dtype=np.int64),
                        "street_id": lamps["street_id"], "lumens": lamps["lumens"],
                        "height_m": lamps["height_m"], "working": lamps["working"]},
                       shapely.points(lamps["x"] + x0, lamps["y"] + y0)),
        "buildings": frame({"osm_id": np.arange(1, n_b + 1, dtype=np.int64),
                            "building": parts["building_type"],
                            "address": parts["address"]}, boxes(parts["bld_boxes"])),
        "landuse": frame({"osm_id": np.arange(1, n_parks + n_vac + 1, dtype=np.int64),
                          "landuse": ["recreation_ground"] * n_parks + ["brownfield"] * n_vac},
                         np.concatenate([boxes(parts["park_boxes"]),
                                         boxes(parts["vacant_boxes"])])),
        "bars": frame({"osm_id": np.arange(1, n_bars + 1, dtype=np.int64),
                       "kind": parts["bar_kind"], "address": parts["bar_address"]},
                      points(parts["bars_xy"])),
        "vacant": frame({"osm_id": np.arange(1, n_vac + 1, dtype=np.int64),
                         "kind": ["vacant lot"] * n_vac, "name": [None] * n_vac},
                        boxes(parts["vacant_boxes"])),
        "dark_segments": frame({"osm_id": sid[dark], "name": seg["name"][dark],
                                "reason": np.where(seg["no_lamps"][dark], "no lamps",
                                                   "lamps not working")}, lines[dark]),
        "youth": frame({"osm_id": np.arange(1, n_parks + n_yc + 1, dtype=np.int64),
                        "kind": np.concatenate([np.full(n_parks, "leisure=park", object),
                                                parts["yc_kind"]]),
                        "name": np.concatenate([parts["park_name"],
                                                np.full(n_yc, None, object)])},
                       np.concatenate([boxes(parts["park_boxes"]), points(parts["yc_xy"])])),
        "decoy_kiosks": frame({"osm_id": np.arange(1, len(parts["kiosks"]) + 1, dtype=np.int64),
                               "kind": ["kiosk"] * len(parts["kiosks"])},
                              points(parts["kiosks"])),
        "decoy_benches": frame({"osm_id": np.arange(1, len(parts["benches"]) + 1,
                                                    dtype=np.int64),
                                "kind": ["bench"] * len(parts["benches"])},
                               points(parts["benches"])),
    }
    return layers
