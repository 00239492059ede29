"""OpenStreetMap layers: read once, cache as GeoParquet.

Sources, all giving the same layer set (see :data:`LAYER_NAMES`):

* a ``.pbf`` extract, read offline with pyrosm;
* an ``.osm`` XML file, read offline with osmnx (``features_from_xml``);
* a place name, fetched online with osmnx (only when the user asks).

Every layer is returned in EPSG:4326 with a small, documented set of columns,
so the risk-factor modules never see raw OSM tags:

``streets``   LineString: ``osm_id``, ``name``, ``highway``, ``lit`` ("yes"/"no"/None)
``lamps``     Point: ``osm_id`` (``highway=street_lamp``)
``buildings`` Polygon: ``osm_id``, ``building``, ``address``
``vacant``    Polygon/Point: ``osm_id``, ``kind`` (see :data:`VACANT_TAGS`)
``youth``     Point/Polygon: ``osm_id``, ``kind``, ``name`` (see :data:`YOUTH_TAGS`)
``landuse``   Polygon: ``osm_id``, ``landuse``
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from hotspot_env import settings
from hotspot_env._hashing import file_sha256
from hotspot_env.errors import InputError

logger = logging.getLogger("hotspot_env")

LAYER_NAMES = ("streets", "lamps", "buildings", "vacant", "youth", "landuse")

#: OSM tags that mark vacant or derelict land and buildings. Keys ending in
#: ``:*`` match any lifecycle-prefixed key (``abandoned:building=*``...).
VACANT_TAGS: dict[str, list[str] | bool] = {
    "landuse": ["brownfield", "greenfield", "vacant"],
    "building": ["ruins", "abandoned", "derelict"],
    "ruins": True,
    "abandoned": True,
    "disused": True,
    "vacant": ["yes"],
}

#: Amenities and leisure that serve young people and communities.
YOUTH_TAGS: dict[str, list[str]] = {
    "amenity": ["community_centre", "youth_centre", "library", "social_centre",
                "arts_centre", "school", "kindergarten"],
    "leisure": ["playground", "park", "sports_centre", "pitch", "fitness_station",
                "youth_club", "recreation_ground", "skatepark", "track"],
    "social_facility": ["youth"],
}

_STREET_EXCLUDE = {"proposed", "construction", "abandoned", "platform", "raceway", "bus_stop"}


def read_osm(
    path: str | os.PathLike[str], cache: bool = True, cache_folder: Path | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Read the hotspot_env layer set from an OSM file, with caching.

    Parameters
    ----------
    path : path-like
        ``.pbf`` (pyrosm) or ``.osm``/``.xml`` (osmnx) file.
    cache : bool
        Read from / write to the GeoParquet cache keyed by the file's SHA-256.
    cache_folder : Path, optional
        Cache location (default :data:`settings.cache_folder`).
    bbox : tuple, optional
        ``(W, S, E, N)`` in WGS 84: read only this box of a ``.pbf`` (pyrosm
        filters while decoding, so a regional extract never enters memory
        whole); ignored for XML. The cache is kept per box.

    Returns
    -------
    dict of str to GeoDataFrame
        One entry per name in :data:`LAYER_NAMES`, in EPSG:4326 (possibly empty).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"OSM file {path} does not exist: check the path given to --osm")
    suffix = "".join(path.suffixes[-2:]).lower()
    if not (suffix.endswith(".pbf") or suffix.endswith(".osm") or suffix.endswith(".xml")):
        raise InputError(f"OSM file {path.name} must end in .pbf, .osm or .xml")
    bbox = tuple(round(float(v), 6) for v in bbox) if bbox is not None and suffix.endswith(
        ".pbf") else None
    key = file_sha256(path)[:16]
    if bbox is not None:
        key += "-" + hashlib.sha256(repr(bbox).encode()).hexdigest()[:8]
    folder = (cache_folder or settings.cache_folder) / key
    if cache and all((folder / f"{name}.parquet").is_file() for name in LAYER_NAMES):
        return {name: gpd.read_parquet(folder / f"{name}.parquet") for name in LAYER_NAMES}
    layers = _read_pbf(path, bbox) if suffix.endswith(".pbf") else _read_xml(path)
    if cache:
        _write_cache(folder, layers)
    return layers


@dataclass
class PlaceOSM:
    """A place name resolved by osmnx: its boundary and its layer set.

    Attributes
    ----------
    name : str
        The place as asked.
    display_name : str
        How Nominatim names the match (shown so a wrong match is noticed).
    boundary : shapely geometry
        The geocoded boundary polygon in WGS 84: the study area.
    layers : dict of str to GeoDataFrame
        :data:`LAYER_NAMES`, in EPSG:4326, clipped to ``boundary``.
    """

    name: str
    display_name: str
    boundary: shapely.Geometry
    layers: dict[str, gpd.GeoDataFrame]


def place_osm(place: str, progress: bool = True) -> PlaceOSM:
    """Geocode ``place`` and fetch its layers with osmnx (needs internet once).

    The boundary osmnx geocodes (Nominatim) *is* the study area; one Overpass
    query inside it brings streets with their ``lit`` tag, lamps, buildings,
    land use, amenities and leisure. osmnx's response cache lives in
    ``settings.cache_folder / "osmnx"``, so a second run of the same place
    reads no network; osmnx's other settings (endpoint, timeout, memory) are
    the user's.

    Parameters
    ----------
    place : str
        A geocodable place name, e.g. ``"Kallio, Helsinki"``.
    progress : bool
        Show a progress bar on stderr (geocode, features, layers).
    """
    import osmnx as ox
    from tqdm import tqdm

    ox.settings.use_cache = True
    ox.settings.cache_folder = str(Path(settings.cache_folder) / "osmnx")
    bar = tqdm(total=3, desc=f"--place {place}", unit="step", disable=not progress,
               leave=False)
    try:
        bar.set_postfix_str("geocoding the boundary")
        try:
            found = ox.geocode_to_gdf(place)
        except Exception as exc:  # osmnx raises several types for offline/no result
            raise InputError(
                f"could not geocode {place!r} ({exc.__class__.__name__}): --place needs "
                "internet the first time; offline, pass an extract with --osm FILE.pbf"
            ) from exc
        polygon = found.to_crs(4326).geometry.iloc[0]
        if polygon.geom_type not in ("Polygon", "MultiPolygon") or polygon.area == 0:
            raise InputError(
                f"{place!r} geocodes to a {polygon.geom_type}, not an area: name a city, "
                "district or neighbourhood (e.g. 'Kallio, Helsinki'), or pass --bbox")
        display = str(found["display_name"].iloc[0]) if "display_name" in found else place
        bar.update(1)
        bar.set_postfix_str("fetching OSM features")
        tags = {**_all_tags(), "highway": True}  # every highway: streets (with lit) and lamps
        try:
            features = ox.features_from_polygon(polygon, tags)
        except Exception as exc:  # InsufficientResponseError: nothing tagged inside
            logger.info("no tagged features in %s (%s)", place, exc)
            features = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
        bar.update(1)
        bar.set_postfix_str("building layers")
        features = features.reset_index()
        if "id" in features.columns:
            features = features.rename(columns={"id": "osm_id"})
        lines = (features[features.geometry.geom_type.isin(["LineString", "MultiLineString"])
                          & _col(features, "highway").notna()]
                 if len(features) else None)
        layers = _layers_from_features(features, lines)
        bar.update(1)
    finally:
        bar.close()
    return PlaceOSM(place, display, polygon, layers)


def osm_from_place(place: str) -> dict[str, gpd.GeoDataFrame]:
    """The layer set of :func:`place_osm` (kept for callers that need only the layers)."""
    return place_osm(place).layers


# ----------------------------------------------------------------- readers
def _all_tags() -> dict[str, list[str] | bool]:
    tags: dict[str, list[str] | bool] = {"highway": ["street_lamp"], "building": True,
                                         "landuse": True}
    for source in (VACANT_TAGS, YOUTH_TAGS):
        for key, values in source.items():
            if key in tags and tags[key] is True:
                continue
            if values is True or tags.get(key) is True:
                tags[key] = True
            else:
                tags[key] = sorted(set(tags.get(key, [])) | set(values))  # type: ignore[arg-type]
    return tags


def _read_pbf(path: Path, bbox: tuple[float, ...] | None = None) -> dict[str, gpd.GeoDataFrame]:
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            osm = pyrosm.OSM(str(path), bounding_box=list(bbox) if bbox else None)
            streets = osm.get_network("all")
        except Exception as exc:
            raise InputError(f"cannot read OSM file {path.name}: {exc}") from exc
        tags = _all_tags()
        features = []
        for key, values in tags.items():
            filt = {key: True if values is True else list(values)}
            got = osm.get_data_by_custom_criteria(
                custom_filter=filt, filter_type="keep", keep_nodes=True, keep_ways=True,
                keep_relations=True,
            )
            if got is not None and len(got):
                features.append(got)
    feats = (pd.concat(features, ignore_index=True) if features
             else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))
    if len(feats) and "id" in feats.columns:
        feats = feats.drop_duplicates(subset=["id", "osm_type"] if "osm_type" in feats else ["id"])
        feats = feats.rename(columns={"id": "osm_id"})
    feats = gpd.GeoDataFrame(feats, geometry="geometry", crs="EPSG:4326")
    if streets is not None and "id" in streets.columns:
        streets = streets.rename(columns={"id": "osm_id"})
    return _layers_from_features(feats, streets)


def _read_xml(path: Path) -> dict[str, gpd.GeoDataFrame]:
    import osmnx as ox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            features = ox.features_from_xml(path, tags=_all_tags())
        except Exception as exc:  # osmnx raises InsufficientResponseError when empty
            logger.info("no tagged features in %s (%s)", path.name, exc)
            features = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
        try:
            graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
            streets = ox.graph_to_gdfs(graph, nodes=False)
        except Exception as exc:
            raise InputError(f"cannot read a street network from {path.name}: {exc}") from exc
    features = features.reset_index()
    if "id" in features.columns:
        features = features.rename(columns={"id": "osm_id"})
    streets = streets.reset_index(drop=True)
    if "osmid" in streets.columns:
        streets["osm_id"] = streets["osmid"].map(lambda v: v[0] if isinstance(v, list) else v)
    return _layers_from_features(features, streets)


# -------------------------------------------------------------- normalise
def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].map(lambda v: v[0] if isinstance(v, list) else v)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _layers_from_features(
    feats: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None
) -> dict[str, gpd.GeoDataFrame]:
    empty = gpd.GeoDataFrame({"osm_id": []}, geometry=[], crs="EPSG:4326")
    layers: dict[str, gpd.GeoDataFrame] = {}

    if streets is None or not len(streets):
        layers["streets"] = empty.assign(name=[], highway=[], lit=[])
    else:
        s = streets.to_crs("EPSG:4326")
        s = s[s.geometry.geom_type.isin(["LineString", "MultiLineString"])]
        highway = _col(s, "highway").astype(object)
        s = s[~highway.isin(_STREET_EXCLUDE)]
        lit = _col(s, "lit").map(_normalise_lit)
        layers["streets"] = gpd.GeoDataFrame(
            {"osm_id": _col(s, "osm_id").astype("int64", errors="ignore"),
             "name": _col(s, "name"), "highway": _col(s, "highway"), "lit": lit},
            geometry=s.geometry.values, crs="EPSG:4326",
        ).reset_index(drop=True)

    f = feats.to_crs("EPSG:4326") if len(feats) else feats
    highway = _col(f, "highway")
    lamps = f[(highway == "street_lamp") & (f.geometry.geom_type == "Point")] if len(f) else f
    layers["lamps"] = gpd.GeoDataFrame({"osm_id": _col(lamps, "osm_id")},
                                       geometry=lamps.geometry.values if len(lamps) else [],
                                       crs="EPSG:4326")

    building = _col(f, "building")
    polys = f.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) if len(f) else []
    b = f[building.notna() & polys] if len(f) else f
    address = (_col(b, "addr:street").fillna("").astype(str) + " "
               + _col(b, "addr:housenumber").fillna("").astype(str)).str.strip()
    layers["buildings"] = gpd.GeoDataFrame(
        {"osm_id": _col(b, "osm_id"), "building": _col(b, "building"),
         "address": address.replace("", None)},
        geometry=b.geometry.values if len(b) else [], crs="EPSG:4326")

    landuse = _col(f, "landuse")
    lu = f[landuse.notna() & polys] if len(f) else f
    layers["landuse"] = gpd.GeoDataFrame({"osm_id": _col(lu, "osm_id"),
                                          "landuse": _col(lu, "landuse")},
                                         geometry=lu.geometry.values if len(lu) else [],
                                         crs="EPSG:4326")

    layers["vacant"] = _match(f, VACANT_TAGS)
    layers["youth"] = _match(f, YOUTH_TAGS)
    return layers


def _normalise_lit(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    if text in ("no", "disused", "false", "0"):
        return "no"
    return "yes"  # yes, 24/7, automatic, limited, interval, sunset-sunrise...


def _match(f: gpd.GeoDataFrame, spec: dict[str, list[str] | bool]) -> gpd.GeoDataFrame:
    if not len(f):
        return gpd.GeoDataFrame({"osm_id": [], "kind": [], "name": []}, geometry=[],
                                crs="EPSG:4326")
    kind = pd.Series([None] * len(f), index=f.index, dtype=object)
    for key, values in spec.items():
        col = _col(f, key)
        hit = col.notna() if values is True else col.isin(values)
        label = (key + "=" + col.astype(str)) if values is not True else (key + "=*")
        kind = kind.where(kind.notna() | ~hit, label)
    sel = f[kind.notna()]
    return gpd.GeoDataFrame({"osm_id": _col(sel, "osm_id"), "kind": kind[kind.notna()],
                             "name": _col(sel, "name")},
                            geometry=sel.geometry.values, crs="EPSG:4326").reset_index(drop=True)


def _write_cache(folder: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in layers.items():
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".parquet.tmp")
        os.close(fd)
        try:
            frame.to_parquet(tmp)
            os.replace(tmp, folder / f"{name}.parquet")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
