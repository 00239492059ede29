"""hotspot_env: prevent crime hot spots through environmental design.

Overlay place-level risk factors (street lighting, sightlines, vacant land,
access to youth and community spaces) on aggregate incident density, and rank
environmental interventions by expected prevented incidents per unit cost.
Places, never people: every output is aggregated to cells or street segments.
"""

from hotspot_env.analysis import Analysis, analyze
from hotspot_env.choices import Choice
from hotspot_env.density import choose_bandwidth, count_incidents, kde
from hotspot_env.errors import (
    GridTooLargeError,
    HotspotEnvError,
    InputError,
    NoIncidentsError,
    OutputError,
)
from hotspot_env.export import write_outputs
from hotspot_env.grid import Grid, choose_cell_size, choose_crs
from hotspot_env.hotspots import GiStar, gi_star
from hotspot_env.io import Incidents, read_incidents, read_layers
from hotspot_env.osm import read_osm
from hotspot_env.pipeline import run

__version__ = "0.1.0"

__all__ = [
    "Analysis", "Choice", "GiStar", "Grid", "GridTooLargeError", "HotspotEnvError", "Incidents",
    "InputError", "NoIncidentsError", "OutputError", "analyze", "choose_bandwidth",
    "choose_cell_size", "choose_crs", "count_incidents", "gi_star", "kde", "read_incidents",
    "read_layers", "read_osm", "run", "write_outputs",
]
