"""Global defaults for hotspot_env.

Like ``osmnx.settings``, these module-level values are the single place where a
default lives; functions read them when the caller passes ``None``. Change them
at run time (``hotspot_env.settings.max_cells = 2_000_000``) rather than editing
code.
"""

from __future__ import annotations

from pathlib import Path

#: Largest number of grid cells an analysis may create before refusing with a
#: clear error instead of running out of memory (5 million cells of float64
#: layers is about 40 MB per layer).
max_cells: int = 5_000_000

#: Target number of cells along the shorter side of the study area when the cell
#: size is chosen automatically (sfhotspot's rule).
cells_on_short_side: int = 50

#: Bounds (metres) for an automatically chosen cell size: micro-place analysis
#: needs cells no larger than a street block, and cells below 10 m only add noise.
min_auto_cell_size_m: float = 10.0
max_auto_cell_size_m: float = 200.0

#: Minimum KDE bandwidth as a multiple of the cell size, so the surface is
#: smoother than the grid it is drawn on.
min_bandwidth_cells: float = 2.0

#: Bounds (metres) on a KDE bandwidth the user gives: below a metre the kernel
#: is narrower than any geocoding precision (and its normalising constant
#: underflows); beyond 50 km it smooths a city into one blob.
min_bandwidth_m: float = 1.0
max_bandwidth_m: float = 50_000.0

#: Ceilings on sizes a user sets, checked before any work so a typo cannot
#: run for hours or fill the disk: time steps of the space-time cube (the
#: Mann-Kendall test is quadratic in them; 400 is 7 years of weeks or 33 of
#: months), cells x steps of the cube, weeks of demand forecast, and incident
#: rows read.
max_time_steps: int = 400
max_cube_values: int = 200_000_000
max_horizon_weeks: int = 104
max_incidents: int = 20_000_000

#: Privacy: counts below this are shown as "<k" in public mode.
k_threshold: int = 5

#: Privacy: minimum KDE bandwidth (metres) in public mode, so a single incident
#: cannot be pinpointed from the surface.
public_min_bandwidth_m: float = 150.0

#: Privacy: smallest cell side (metres) public mode accepts, so a "<k" cell
#: cannot locate an incident closer than a street frontage. Raise it, never lower.
public_min_cell_size_m: float = 100.0

#: Privacy: in public mode a study area taken from the incidents alone is the box of
#: the lattice squares of this step (metres) holding at least k incidents, so that its
#: edges, and the cell size chosen from it, do not follow single incidents. 1 km is a multiple of
#: every automatic cell size that divides it (10-100 and 200 m), so those grids'
#: lines fall on the lattice too.
public_area_lattice_m: float = 1000.0

#: Privacy: accepted range of the run's differential-privacy budget epsilon.
#: Below 0.01 the noise swamps any count; above 10 the guarantee is nominal.
dp_epsilon_bounds: tuple[float, float] = (0.01, 10.0)

#: A ``.pbf`` larger than this (MB) is a regional extract (a Geofabrik region file):
#: only the study area's bounding box is read from it (pyrosm's bounding-box
#: filter), so memory follows the area, not the region.
regional_pbf_mb: float = 50.0

#: Where OSM extracts are cached as GeoParquet after their first read.
cache_folder: Path = Path.home() / ".cache" / "hotspot_env"

def _shipped_data_folder() -> Path:
    """``hotspot_env/data`` in an installed wheel, else the checkout's ``data/`` folder.

    A wheel carries the repository's ``data/`` inside the package (``setup.py``); a checkout
    or an editable install has none there and reads ``data/`` beside the package.
    """
    package = Path(__file__).resolve().parent
    inside = package / "data"
    return inside if (inside / "evidence.csv").is_file() else package.parent / "data"


#: The folder holding the editable evidence and cost tables, the category map and the demo's
#: inputs: :func:`_shipped_data_folder` unless a caller points it elsewhere.
data_folder: Path = _shipped_data_folder()

#: Seed used wherever randomness is involved and the caller gives none.
default_seed: int = 20261123

#: Benjamini-Hochberg false-discovery rates that define Gi* bins 3, 2, 1.
gi_fdr_levels: tuple[float, float, float] = (0.01, 0.05, 0.10)

# ------------------------------------------------------------ risk factors
#: Luminous flux (lumens) of a street lamp when the lamp layer gives none:
#: a mid-range residential luminaire (70 W high-pressure sodium or a ~50 W LED
#: give 5,000-7,000 lm).
lamp_lumens: float = 6000.0

#: Mounting height (metres) of a street lamp when the layer gives none
#: (residential columns are typically 5-10 m).
lamp_height_m: float = 8.0

#: Modelled street lighting below this horizontal illuminance (lux) is "dark";
#: EN 13201-2's lowest pedestrian class (P6) asks for 2 lux on average.
dark_lux: float = 2.0

#: Illuminance (lux) assumed on a street tagged ``lit=yes`` when no lamps are
#: mapped: a typical average for residential roads (EN 13201 classes P3-P4
#: are 7.5-5 lux, P1 is 15 lux).
lit_yes_lux: float = 10.0

#: Walking distance (metres) beyond which a cell is a youth/community-space
#: service gap: 800 m is about a 10-minute walk at 1.33 m/s.
youth_walk_threshold_m: float = 800.0
