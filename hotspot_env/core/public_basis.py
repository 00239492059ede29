"""Public mode's view of the incidents: their cells and the protected counts, never positions.

Privacy by construction: an attacker holding every public file must not
rebuild a small count, nor learn where inside its cell an incident lies. Three
steps keep every public output a function of public inputs and protected
counts (``tests/test_privacy_moved_incidents.py`` moves every incident within
its cell and checks that no public output byte changes); :func:`cells_only`
and :func:`published_inputs` are what :func:`hotspot_env.core.analysis.analyze` calls:

- :func:`snap_to_cells`: once the grid exists, every later stage (factors,
  forecast, validation, trends, interventions) sees each incident at its
  cell's centre, so nothing downstream can read a position inside a cell;
- :func:`protected_bandwidth`: the automatic KDE radius comes from the cell
  centres weighted by the protected counts (the published column), not from
  the incidents' spread;
- :func:`withhold_incident_hash`: the manifest does not publish the incident
  file's hash (a test of any guess of its records).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from hotspot_env import settings
from hotspot_env.core.choices import Choice, announce
from hotspot_env.core.density import choose_bandwidth, count_incidents
from hotspot_env.core.grid import Grid
from hotspot_env.core.sources import Sources
from hotspot_env.outputs.privacy import Budget, Protection


def snap_to_cells(points: gpd.GeoDataFrame, grid: Grid,
                  choices: list[Choice]) -> gpd.GeoDataFrame:
    """``points`` (all inside the grid's study area) moved to their cells' centres.

    Parameters
    ----------
    points : GeoDataFrame
        Incidents inside the study area, in ``grid.crs``.
    grid : Grid
        The study grid.
    choices : list of Choice
        The run's choices; the snap is announced there.

    Returns
    -------
    GeoDataFrame
        A copy with the same rows and columns; each geometry is its cell's centre.
    """
    geoms = points.geometry.values
    row, col = grid.cell_index(shapely.get_x(geoms), shapely.get_y(geoms))
    # one shared point per occupied cell: a metro's million incidents fill a few
    # hundred thousand cells, and making points costs more than indexing them
    cells, which = np.unique(row * grid.n_cols + col, return_inverse=True)
    cx, cy = (c.ravel()[cells] for c in grid.centres())
    centres = shapely.points(cx, cy)[which.ravel()]
    name = points.geometry.name
    out = points.set_geometry(gpd.GeoSeries(centres, crs=points.crs, index=points.index,
                                            name=name))
    choices.append(announce(Choice(
        "incident_positions", "cell centres",
        "public mode: every stage after the grid sees each incident at its cell's centre, so "
        "no output depends on where inside its cell an incident lies")))
    return out


def protected_bandwidth(grid: Grid, xs: np.ndarray, ys: np.ndarray,
                        protection: Protection) -> tuple[float, Choice]:
    """The rule-of-thumb KDE radius of the protected cell counts.

    Releases the ``incidents`` count layer through ``protection`` (the same
    release the surfaces then reuse) and applies
    :func:`hotspot_env.core.density.choose_bandwidth` to the cell centres,
    each weighted by its imputed protected count.

    Parameters
    ----------
    grid : Grid
        The study grid.
    xs, ys : ndarray
        The incidents used, in ``grid.crs`` (only their cells are read).
    protection : Protection
        The public run's releases.

    Returns
    -------
    bandwidth : float
        Quartic radius in metres (rounded to 1 m).
    choice : Choice
        The announcement ("public mode: bandwidth from the protected cell counts").
    """
    counts = np.where(grid.mask, count_incidents(grid, xs, ys), 0)
    basis = np.where(grid.mask, protection.counts("incidents", counts).imputed, 0)
    cx, cy = grid.centres()
    value, choice = choose_bandwidth(cx.ravel(), cy.ravel(), grid.cell_size,
                                     weights=basis.ravel(), announced=False)
    return value, announce(Choice(
        choice.name, value, "public mode: bandwidth from the protected cell counts (cell "
        f"centres weighted by them); {choice.rule}"))


def withhold_incident_hash(inputs: list[dict[str, str | None]], incidents_path: str | None,
                           choices: list[Choice]) -> list[dict[str, str | None]]:
    """``inputs`` with the incident file's hash withheld (public mode).

    A hash of the incident file is a function of every record: anyone who
    knows all records but one could confirm a guess of that one's place and
    time. The other inputs (OSM, layers, walk audit) are public and keep theirs.

    Parameters
    ----------
    inputs : list of dict
        ``{"path", "sha256"}`` per input; the incident file comes first when it has a path.
    incidents_path : str or None
        The incident file read (``None`` for incidents given as a frame).
    choices : list of Choice
        The run's choices; the withholding is announced there.
    """
    if not incidents_path or not inputs:
        return inputs
    first = {**inputs[0], "sha256": None}
    choices.append(announce(Choice(
        "incidents_sha256", "withheld", "public mode: the incident file's hash is not "
        "published (with it anyone could confirm a guess of the file's records)")))
    return [first, *inputs[1:]]


def cells_only(points: gpd.GeoDataFrame, grid: Grid, privacy: str, dp_epsilon: float | None,
               choices: list[Choice]) -> tuple[gpd.GeoDataFrame, Protection | None]:
    """The incidents as later stages see them, and the run's protection.

    Internal mode: unchanged, no protection. Public mode: the count releases
    and DP budget, and the incidents at their cells' centres
    (:func:`snap_to_cells`): no later stage can read where inside its cell an
    incident lies.
    """
    if privacy != "public":
        return points, None
    protection = Protection(settings.k_threshold,
                            None if dp_epsilon is None else Budget(dp_epsilon))
    return snap_to_cells(points, grid, choices), protection


def published_inputs(sources: Sources, protection: Protection | None,
                     choices: list[Choice]) -> list[dict[str, str | None]]:
    """The inputs as the manifest records them (public: the incident file's hash withheld)."""
    if protection is None:
        return sources.inputs
    return withhold_incident_hash(sources.inputs, sources.data.path, choices)
