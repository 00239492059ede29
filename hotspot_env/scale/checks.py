"""The national and tiled runs' options, checked before any work starts.

A country takes minutes to hours; a bad option found by the run itself (a
scheduler nobody listens on, a tile of one cell, a country folder without
incidents in one region) costs that time and leaves a traceback. Each check
here reads at most a file's footer or opens one socket, and refuses with one
actionable line (:class:`~hotspot_env.errors.InputError`).

=====================  ==============================================================
option                 refused
=====================  ==============================================================
``--tile-km``          not a finite number in [:data:`MIN_TILE_KM`, :data:`MAX_TILE_KM`]
``--workers``          not a whole number from 1 to :func:`max_local_workers`
``--scheduler``        not ``PROTOCOL://HOST:PORT``; a TCP address nobody answers on
``--country``          no folder, no ``country.json`` or not JSON, no region, a region
                       without its tile, its incidents partition or any incident
=====================  ==============================================================
"""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any

from hotspot_env.errors import InputError

#: The smallest tile side (km): two cells of 50 m; smaller tiles are mostly halo.
MIN_TILE_KM: float = 0.1

#: The largest tile side (km): wider than any country's study area on one grid.
MAX_TILE_KM: float = 1000.0

#: Seconds to wait for a scheduler's port to answer before saying it cannot be reached.
SCHEDULER_PROBE_S: float = 5.0

#: Local workers allowed per core (a LocalCluster of more processes only thrashes).
WORKERS_PER_CORE: int = 4


def require_dask() -> Any:
    """``dask.distributed``, or a clear error naming the extra to install."""
    try:
        import dask.distributed as distributed
    except ImportError as exc:  # the [scale] extra is optional
        raise InputError("--engine dask needs dask.distributed: install the [scale] extra "
                         "(pip install 'hotspot_env[scale]')") from exc
    return distributed


def check_engine_options(engine: str, scheduler: str | None, tile_km: float | None,
                         workers: int | None) -> None:
    """``analyze``'s engine options, every one checked before anything is read.

    Raises
    ------
    InputError
        An unknown engine, dask options without ``--engine dask``, dask not
        installed, both ``--workers`` and ``--scheduler``, or a bad value of
        one of them (:func:`check_tile_km`, :func:`check_workers`,
        :func:`check_scheduler`).
    """
    if engine not in ("inprocess", "dask"):
        raise InputError(f"--engine must be 'inprocess' or 'dask', got {engine!r}")
    given = [name for name, value in (("--scheduler", scheduler), ("--tile-km", tile_km),
                                      ("--workers", workers)) if value is not None]
    if engine == "inprocess":
        if given:
            raise InputError(f"{', '.join(given)} only apply to --engine dask: add "
                             "--engine dask or drop them")
        return
    require_dask()
    if scheduler is not None and workers is not None:
        raise InputError("--workers sizes the local cluster and --scheduler names a running "
                         "one: give one of them")
    if tile_km is not None:
        check_tile_km(tile_km)
    if workers is not None:
        check_workers(workers)
    if scheduler is not None:
        check_scheduler(scheduler)


def check_tile_km(tile_km: object) -> float:
    """The tile side in km, refused unless a finite number in the sane range."""
    if isinstance(tile_km, bool) or not isinstance(tile_km, int | float) \
            or not math.isfinite(tile_km) or tile_km <= 0:
        raise InputError(f"--tile-km must be a positive number of kilometres, got {tile_km!r} "
                         "(e.g. --tile-km 10)")
    if not MIN_TILE_KM <= tile_km <= MAX_TILE_KM:
        raise InputError(f"--tile-km {tile_km:g} is outside {MIN_TILE_KM:g} to "
                         f"{MAX_TILE_KM:g} km: each tile carries a halo of about a km, so "
                         "use 5 to 50 (default 10)")
    return float(tile_km)


def max_local_workers() -> int:
    """The most worker processes a local cluster may start on this machine."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def check_workers(workers: object) -> int:
    """The local cluster's worker count, refused unless a whole number in range."""
    limit = max_local_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"--workers must be a whole number of 1 or more, got {workers!r} "
                         "(e.g. --workers 2)")
    if workers > limit:
        raise InputError(f"--workers {workers} would start {workers} processes on "
                         f"{os.cpu_count()} cores: use at most {limit}, or --scheduler for a "
                         "cluster of several machines")
    return workers


def check_scheduler(address: str) -> str:
    """A dask scheduler address, refused when malformed or when its TCP port is closed.

    Only ``tcp://`` addresses are probed (one connection, :data:`SCHEDULER_PROBE_S`
    at most); other protocols (``tls://``, ``ucx://``...) are left to dask.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    text = str(address).strip()
    hint = ("give the scheduler's address as tcp://HOST:PORT (dask scheduler prints it), or "
            "drop --scheduler for a local cluster")
    try:
        scheme, location = parse_address(text, strict=True)
        host, port = parse_host_port(location)
    except ValueError:
        raise InputError(f"--scheduler {text!r} is not a scheduler address: {hint}") from None
    if scheme != "tcp":
        return text
    try:
        with socket.create_connection((host, int(port)), timeout=SCHEDULER_PROBE_S):
            pass
    except OSError as exc:  # refused, timed out, unknown host
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot reach the dask scheduler at {text} ({reason}): start it "
                         "(dask scheduler) and its workers, check the address, or drop "
                         "--scheduler for a local cluster") from None
    return text


def check_country(folder: str | os.PathLike[str], option: str = "--country") -> dict[str, Any]:
    """A country folder's metadata, refused unless every region can be analysed.

    Parameters
    ----------
    folder : path
        Folder of :func:`hotspot_env.scale.country.write_country`.
    option : str
        How the message names the folder (the option it came from).

    Returns
    -------
    dict
        ``country.json``, with every region checked: it has its tile (bounds)
        and an incidents partition holding at least one row (read from the
        Parquet footer only).
    """
    path = Path(folder)
    again = "give the 'country' folder an earlier national benchmark wrote (its --out/country)"
    if not path.is_dir():
        raise InputError(f"{option} {path}: no such folder; {again}")
    if not (path / "country.json").is_file():
        raise InputError(f"{option} {path}: no country.json there; {again}")
    try:
        meta = json.loads((path / "country.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("regions"), list) \
            or not isinstance(meta.get("tiles"), list):
        raise InputError(f"{option} {path}: country.json is not a country's description "
                         f"(no list of regions and tiles); {again}")
    if not meta["regions"]:
        raise InputError(f"{option} {path}: country.json lists no region; {again}")
    _check_regions(path, meta, option)
    return meta


def _check_regions(path: Path, meta: dict[str, Any], option: str) -> None:
    """Every region has a tile and a partition with incidents; one line naming the first bad."""
    import pyarrow.parquet as pq

    tiles = {t.get("region") for t in meta["tiles"] if isinstance(t, dict)}
    empty = []
    for region in meta["regions"]:
        part = path / "incidents" / f"{region}.parquet"
        if region not in tiles:
            raise InputError(f"{option} {path}: region {region} has no tile in country.json; "
                             "write the country again")
        if not part.is_file():
            raise InputError(f"{option} {path}: region {region} has no incidents file "
                             f"(incidents/{region}.parquet); write the country again")
        try:
            rows = pq.ParquetFile(part).metadata.num_rows
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise InputError(f"{option} {path}: incidents/{region}.parquet is not a Parquet "
                             f"file ({type(exc).__name__}); write the country again") from None
        if rows == 0:
            empty.append(str(region))
    if empty:
        shown = ", ".join(empty[:8]) + (f", ... ({len(empty)} in all)" if len(empty) > 8 else "")
        raise InputError(f"{option} {path}: region {shown} holds no incident, and a region "
                         "without incidents cannot be analysed; drop it from country.json's "
                         "regions or write the country again")
