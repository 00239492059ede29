"""The inputs of one analysis, read and checked: incidents, OSM, place, walk audit, user layers.

:func:`read_sources` is the first step of :func:`hotspot_env.core.analysis.analyze`:
it reads every input the user gave, records each file's hash for the manifest
and announces what it assumed (a regional extract read only around the
incidents, a geocoded place boundary, record sources left out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.timing import timed
from hotspot_env.errors import InputError
from hotspot_env.inputs.io import Incidents, incidents_from_frame, read_incidents, read_layers
from hotspot_env.inputs.land import check_frame_on_land
from hotspot_env.inputs.osm import file_sha256, place_osm, read_osm

#: Margin (degrees, about 1 km) around the incidents when a regional extract is cut to them.
REGIONAL_MARGIN_DEG: float = 0.01


@dataclass
class Sources:
    """Everything read for one run, before any projection.

    Attributes
    ----------
    data : Incidents
        The incidents as read.
    choices : list of Choice
        Assumptions made while reading, in order (later steps append theirs).
    inputs : list of dict
        ``{"path", "sha256"}`` per input, for the manifest.
    osm_layers : dict of str to GeoDataFrame, optional
        OSM layers (``--osm`` or ``--place``), in WGS 84.
    place_polygon : shapely geometry, optional
        The geocoded boundary of ``--place``.
    audit_layer : GeoDataFrame, optional
        Walk-audit ratings (``--walk-audit``).
    user_layers : dict of str to GeoDataFrame, optional
        The user's own layers (``--layers``).
    """

    data: Incidents
    choices: list[Choice] = field(default_factory=list)
    inputs: list[dict[str, str | None]] = field(default_factory=list)
    osm_layers: dict[str, gpd.GeoDataFrame] | None = None
    place_polygon: shapely.Geometry | None = None
    audit_layer: gpd.GeoDataFrame | None = None
    user_layers: dict[str, gpd.GeoDataFrame] | None = None


def read_sources(
    incidents: str | os.PathLike[str] | gpd.GeoDataFrame | Incidents,
    *,
    bbox: tuple[float, float, float, float] | None,
    osm: str | os.PathLike[str] | None = None,
    layers: str | os.PathLike[str] | None = None,
    place: str | None = None,
    walk_audit: str | os.PathLike[str] | None = None,
    crs: str | None = None,
    timezone: str | None = None,
    x: str | None = None,
    y: str | None = None,
) -> Sources:
    """Read the incidents and every other input of the run (arguments as for ``analyze``)."""
    sources = _read_incidents(incidents, crs=crs, x=x, y=y, timezone=timezone)
    if osm is not None:
        read_box = _regional_box(osm, bbox, sources.data.frame, sources.choices)
        sources.osm_layers = _read_osm_checked(osm, read_box)
        sources.inputs.append({"path": os.path.basename(str(osm)), "sha256": file_sha256(osm)})
    if place is not None:  # the geocoded boundary is the area, not a hull of its streets
        fetched = place_osm(place)
        sources.osm_layers, sources.place_polygon = fetched.layers, fetched.boundary
        sources.inputs.append({"path": f"place: {place}", "sha256": None})
        sources.choices.append(announce(Choice(
            "place", fetched.display_name,
            f"--place {place!r} geocoded by osmnx (Nominatim) to this boundary; its OSM layers "
            "fetched inside it (Overpass, osmnx cache)")))
    if walk_audit is not None:
        from hotspot_env.factors.walkaudit import read_walk_audit

        sources.audit_layer = read_walk_audit(walk_audit)
        sources.inputs.append({"path": os.path.basename(str(walk_audit)),
                               "sha256": file_sha256(walk_audit)})
    if layers is not None:
        with timed("load_layers"):
            sources.user_layers = read_layers(layers)
        sources.inputs.append({"path": os.path.basename(str(layers)),
                               "sha256": file_sha256(layers)})
    return sources


def _read_incidents(incidents: str | os.PathLike[str] | gpd.GeoDataFrame | Incidents, *,
                    crs: str | None, x: str | None, y: str | None, timezone: str | None
                    ) -> Sources:
    """The incidents (a file, a frame or already read), checked for points at sea."""
    if isinstance(incidents, Incidents):
        data = incidents
    elif isinstance(incidents, gpd.GeoDataFrame):
        data = incidents_from_frame(incidents, timezone)
    else:
        with timed("load_incidents"):
            data = read_incidents(incidents, crs=crs, x=x, y=y, timezone=timezone)
    choices = list(data.choices)
    at_sea = check_frame_on_land(data.frame, os.path.basename(data.path or "incidents"))
    if at_sea is not None:
        choices.append(at_sea)
    inputs = [{"path": os.path.basename(data.path), "sha256": data.sha256}] if data.path else []
    return Sources(data, choices, inputs)


def drop_excluded_sources(frame: gpd.GeoDataFrame, excluded: tuple[str, ...],
                          choices: list[Choice]) -> tuple[gpd.GeoDataFrame, int]:
    """Leave out the records of the ``excluded`` sources (announced).

    Returns
    -------
    frame : GeoDataFrame
        The records kept.
    n_excluded : int
        How many records were left out.
    """
    n_excluded = 0
    if frame["source"].notna().any() and excluded:
        drop = frame["source"].isin(excluded).to_numpy()
        n_excluded = int(drop.sum())
        frame = frame.loc[~drop].reset_index(drop=True)
        choices.append(announce(Choice(
            "excluded_sources", list(excluded),
            f"{n_excluded:,} records from these sources left out: they show where enforcement "
            "looked rather than where harm happened")))
    return frame, n_excluded


def _regional_box(osm: str | os.PathLike[str], bbox: tuple[float, float, float, float] | None,
                  frame: gpd.GeoDataFrame, choices: list[Choice]
                  ) -> tuple[float, float, float, float] | None:
    """The box to read from a regional ``.pbf`` (``None``: read the whole file).

    A ``.pbf`` larger than :data:`settings.regional_pbf_mb` is read only
    inside ``--bbox``, else inside the incidents' extent plus about 1 km.
    """
    path = Path(osm)
    if (not path.is_file() or not path.name.lower().endswith(".pbf")
            or path.stat().st_size <= settings.regional_pbf_mb * 1024**2):
        return None
    if bbox is not None:
        box, rule = bbox, "the --bbox"
    else:
        pts = frame.to_crs(4326) if frame.crs is not None and not frame.crs.equals(4326) else frame
        w, s, e, n = pts.total_bounds
        m = REGIONAL_MARGIN_DEG
        box, rule = (w - m, s - m, e + m, n + m), "the incidents' extent plus about 1 km"
    choices.append(announce(Choice(
        "osm_read_box", [round(float(v), 4) for v in box],
        f"{path.name} is {path.stat().st_size / 1024**2:,.0f} MB, a regional extract (over "
        f"{settings.regional_pbf_mb:g} MB): only {rule} is read from it")))
    return box


def _read_osm_checked(osm: str | os.PathLike[str],
                      bbox: tuple[float, float, float, float] | None = None
                      ) -> dict[str, gpd.GeoDataFrame]:
    """:func:`read_osm` behind cheap checks that give damaged files a clear message."""
    path = Path(osm)
    if path.is_dir():
        raise InputError(f"--osm {path} is a folder: pass the .pbf or .osm file itself")
    if not path.name.lower().endswith((".pbf", ".osm", ".xml")):
        raise InputError(f"OSM file {path.name} must end in .pbf, .osm or .xml: pass an OSM "
                         "extract to --osm (e.g. a .osm.pbf from Geofabrik)")
    if path.is_file():
        _check_osm_head(path)
    try:
        return read_osm(path, bbox=bbox)
    except InputError as exc:
        if str(exc).startswith("cannot read"):
            raise InputError(f"{exc}; the extract looks damaged or incomplete: download or "
                             "export it again") from exc
        raise


def _check_osm_head(path: Path) -> None:
    """Refuse an empty file, or one whose first bytes are neither OSM PBF nor OSM XML."""
    if path.stat().st_size == 0:
        raise InputError(f"OSM file {path.name} is empty (0 bytes): download or export the "
                         "extract again")
    with open(path, "rb") as handle:
        head = handle.read(1024)
    suffix = path.suffix.lower()
    if suffix == ".pbf" and (int.from_bytes(head[:4], "big") > 65536
                             or b"OSMHeader" not in head[:64]):
        raise InputError(f"{path.name} is not an OSM PBF extract (no OSMHeader block): "
                         "download it again, e.g. from Geofabrik or BBBike")
    if suffix in (".osm", ".xml") and not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise InputError(f"{path.name} is not OSM XML (it does not start with '<'): export "
                         "it again, e.g. from JOSM or the Overpass API")
