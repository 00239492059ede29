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

Modules: :mod:`~hotspot_env.inputs.synth.layout` (the street plan),
:mod:`~hotspot_env.inputs.synth.city` (the planted model and its incidents),
:mod:`~hotspot_env.inputs.synth.demo_incidents` (incidents on real OSM layers) and
``_common`` (marks, clocks and the CSV table both share).
"""

from hotspot_env.inputs.synth._common import CATEGORIES, CATEGORY_SHARES, SOURCES
from hotspot_env.inputs.synth.city import (
    CITY_HOUR_PROFILE,
    DECOYS,
    DEFAULT_FACTORS,
    SCALES,
    SyntheticCity,
    simulate_city,
)
from hotspot_env.inputs.synth.demo_incidents import (
    DEMO_EFFECTS,
    DEMO_HOUR_PROFILES,
    DEMO_OFFICER_SHARE,
    DEMO_RULES,
    simulate_incidents,
    write_demo_incidents,
)
from hotspot_env.inputs.synth.layout import CityLayout

__all__ = [
    "CATEGORIES", "CATEGORY_SHARES", "CITY_HOUR_PROFILE", "DECOYS", "DEFAULT_FACTORS",
    "DEMO_EFFECTS", "DEMO_HOUR_PROFILES", "DEMO_OFFICER_SHARE", "DEMO_RULES", "SCALES",
    "SOURCES", "CityLayout", "SyntheticCity", "simulate_city", "simulate_incidents",
    "write_demo_incidents",
]
