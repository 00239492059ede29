"""The ``hotspot-env`` command line (typer).

A thin face over the public API: each command calls the same function a
notebook or the app would, prints every automatic choice, and turns a
:class:`~hotspot_env.errors.HotspotEnvError` into a one-line message and exit
status 2.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from hotspot_env.errors import HotspotEnvError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Prevent crime hot spots through environmental design.")


def _friendly(func):
    """Run a command; user errors become one line on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except HotspotEnvError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except MemoryError:
            typer.echo("error: out of memory: use a larger --cell-size or a smaller area",
                       err=True)
            raise typer.Exit(2) from None

    return wrapper


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hotspot_env")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _summary(analysis, out: Path | None, seconds: float) -> None:
    c = analysis.counts
    typer.echo(f"incidents: {c['incidents_read']:,} read, {c['incidents_used']:,} used, "
               f"{c['incidents_dropped']:,} dropped")
    typer.echo(f"grid: {analysis.grid.n_cells:,} cells of {analysis.grid.cell_size:g} m "
               f"({analysis.grid.crs.to_string()})")
    hot = int((analysis.arrays["gi_bin"] > 0).sum())
    typer.echo(f"hot spot cells (Gi*, FDR 10 %): {hot:,}")
    if out is not None:
        typer.echo(f"outputs written to {out}")
    typer.echo(f"done in {seconds:.1f} s")


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors and the summary.")]
CellSize = Annotated[float | None, typer.Option(help="Cell side in metres (default: automatic).")]
Bandwidth = Annotated[float | None, typer.Option(help="KDE radius in metres (default: automatic).")]
Privacy = Annotated[str, typer.Option(help="internal, or public (suppress counts below k).")]


@app.command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/demo"),
    privacy: Privacy = "internal",
    quiet: Quiet = False,
) -> None:
    """Run the embedded demo: real OSM of central Helsinki, simulated incidents."""
    from hotspot_env.demo import run_demo

    _setup_logging(quiet)
    typer.echo("Demo: OpenStreetMap of central Helsinki (© OpenStreetMap contributors) with "
               "SIMULATED incidents.")
    start = time.perf_counter()
    analysis = run_demo(out=out, privacy=privacy)
    _summary(analysis, out, time.perf_counter() - start)


@app.command()
@_friendly
def analyze(
    incidents: Annotated[Path, typer.Option(help="Incidents: CSV, GeoJSON, GPKG or Parquet.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    osm: Annotated[Path | None, typer.Option(help="OSM extract (.pbf or .osm).")] = None,
    layers: Annotated[Path | None, typer.Option(help="GeoPackage of factor layers.")] = None,
    place: Annotated[str | None, typer.Option(help="Place name (osmnx, online).")] = None,
    bbox: Annotated[str | None, typer.Option(help="Study area W,S,E,N in degrees.")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of CSV x/y columns.")] = None,
    timezone: Annotated[str | None, typer.Option(help="Zone of times without offset.")] = None,
    cell_size: CellSize = None,
    bandwidth: Bandwidth = None,
    privacy: Privacy = "internal",
    quiet: Quiet = False,
) -> None:
    """Analyse incidents: grid, density, hot spots (and later stages), written to OUT."""
    from hotspot_env.pipeline import run

    _setup_logging(quiet)
    start = time.perf_counter()
    analysis = run(incidents, out=out, osm=osm, layers=layers, place=place, bbox=bbox,
                   crs=crs, timezone=timezone, cell_size=cell_size, bandwidth=bandwidth,
                   privacy=privacy)
    _summary(analysis, out, time.perf_counter() - start)


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m hotspot_env``."""
    app()
