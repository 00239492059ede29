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
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click since 0.22
from typer.core import TyperGroup

from hotspot_env.cli_options import (
    Bandwidth,
    Bbox,
    CellSize,
    CsvCrs,
    DpEpsilon,
    DpSeed,
    Engine,
    LayersPath,
    OsmPath,
    PlaceName,
    Privacy,
    Quiet,
    Scheduler,
    TileKm,
    Timezone,
    TreatableShare,
    Workers,
)
from hotspot_env.errors import HotspotEnvError


class _OneLineErrors(TyperGroup):
    """The command group, with click's usage errors shortened to one ``error:`` line.

    Typer prints a framed usage box for a value it cannot parse (``--cell-size
    ten``, a bad ``HOTSPOT_ENV_DP_SEED``); every other refusal of the tool is one
    line on stderr and exit status 2, so these are too.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:  # a bare command: show its help as before
            exc.show()
            code = exc.exit_code
        except typer.TyperException as exc:  # click's usage errors
            command = (f"hotspot-env {exc.ctx.info_name} --help"
                       if getattr(exc, "ctx", None) is not None and exc.ctx.parent is not None
                       else "hotspot-env --help")
            try:
                _error(f"{exc.format_message().rstrip('.')}: check the command line "
                       f"(see {command})")
            except typer.Exit as stop:
                code = stop.exit_code
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="Prevent crime hot spots through environmental design.")


def _friendly(func):
    """Run a command; user errors become one line on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except HotspotEnvError as exc:
            _error(str(exc))
        except MemoryError:
            _error("out of memory: use a larger --cell-size or a smaller area")
        except OSError as exc:  # disk full, permission denied... while reading or writing
            where = f" ({exc.filename})" if exc.filename else ""
            _error(f"{exc.strerror or exc}{where}: check the path, its permissions and free "
                   "disk space")

    return wrapper


def _error(message: str) -> None:
    """Print ``message`` as exactly one ``error:`` line on stderr and exit with status 2."""
    line = " ".join(message.split())
    line = "".join(ch if ch.isprintable() else "?" for ch in line)  # no terminal escapes
    typer.echo("error: " + line, err=True)
    raise typer.Exit(2) from None


def _setup_logging(quiet: bool) -> None:
    # Announcements and warnings go to stdout with the summary, so stderr holds
    # nothing but the one-line error of a failed run.
    handler = logging.StreamHandler(sys.stdout)
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


@app.command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/demo"),
    privacy: Privacy = "internal",
    quiet: Quiet = False,
) -> None:
    """Run the embedded demo: real OSM of central Helsinki, simulated incidents."""
    from hotspot_env.inputs.demo import run_demo

    _setup_logging(quiet)
    typer.echo("Demo: OpenStreetMap of central Helsinki (© OpenStreetMap contributors) with "
               "SIMULATED incidents (and simulated vacant land and hedges beside them).")
    start = time.perf_counter()
    analysis = run_demo(out=out, privacy=privacy)
    _summary(analysis, out, time.perf_counter() - start)


@app.command()
@_friendly
def analyze(
    incidents: Annotated[Path, typer.Option(help="Incidents: CSV, GeoJSON, GPKG or Parquet.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    osm: OsmPath = None,
    layers: LayersPath = None,
    place: PlaceName = None,
    bbox: Bbox = None,
    walk_audit: Annotated[Path | None, typer.Option(
        help="Walk-audit ratings (Safetipin-style CSV/GeoJSON, 0-3): risk factors and "
             "measured light.")] = None,
    crs: CsvCrs = None,
    timezone: Timezone = None,
    cell_size: CellSize = None,
    bandwidth: Bandwidth = None,
    privacy: Privacy = "internal",
    dp_epsilon: DpEpsilon = None,
    dp_seed: DpSeed = None,
    x: Annotated[str | None, typer.Option("--x", help="CSV column of x/longitude.")] = None,
    y: Annotated[str | None, typer.Option("--y", help="CSV column of y/latitude.")] = None,
    category: Annotated[str | None, typer.Option(
        help="Category of every incident when the file has none (e.g. violence for "
             "homicides), so the matching evidence applies.")] = None,
    budget: Annotated[float | None, typer.Option(
        help="Yearly budget (USD) for the intervention portfolio.")] = None,
    weights: Annotated[str | None, typer.Option(
        help='Priority weights, e.g. "violence=2,youth_space=1.5".')] = None,
    region_budget: Annotated[list[str] | None, typer.Option(
        help="Cap on the yearly spending (USD) in one district, NAME=AMOUNT, within "
             "--budget; repeat for several districts.")] = None,
    treatable_share: TreatableShare = 0.05,
    youth_walk_m: Annotated[float | None, typer.Option(
        help="Walk in metres beyond which a cell is a youth-space service gap, where youth "
             "spaces are proposed (default 800, about 10 minutes).")] = None,
    engine: Engine = "inprocess",
    scheduler: Scheduler = None,
    tile_km: TileKm = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Analyse incidents: grid, density, hot spots, risk factors, RTM, interventions -> OUT."""
    from hotspot_env._atomic import check_output_folder
    from hotspot_env.factors.access import check_walk_threshold
    from hotspot_env.interventions.optimise import check_budget
    from hotspot_env.interventions.region_budgets import parse_region_budgets

    if youth_walk_m is not None:
        check_walk_threshold(youth_walk_m, "--youth-walk-m")
    interventions = {"default_category": category, "budget": budget, "weights": weights}
    # a bad cap fails before the work; its names once the grid is known (core.pipeline)
    caps = parse_region_budgets(region_budget or None, check_budget(budget))
    if caps is not None:  # only when given: runs without caps get exactly today's options
        interventions["region_budgets"] = caps
    run = _engine_runner(engine, scheduler, tile_km, workers)
    _setup_logging(quiet)
    check_output_folder(out, (incidents, osm, layers))  # before the analysis, not after
    start = time.perf_counter()
    analysis = run(incidents, out=out, osm=osm, layers=layers, place=place, bbox=bbox,
                   walk_audit=walk_audit,
                   crs=crs, timezone=timezone, cell_size=cell_size, bandwidth=bandwidth,
                   privacy=privacy, dp_epsilon=dp_epsilon, dp_seed=dp_seed, x=x, y=y,
                   stage_options={"interventions": interventions,
                                  "forecast": {"treatable_share": treatable_share},
                                  "validation": {"treatable_share": treatable_share},
                                  "factors": {"youth_walk_m": youth_walk_m}})
    _summary(analysis, out, time.perf_counter() - start)


def _engine_runner(engine: str, scheduler: str | None, tile_km: float | None,
                   workers: int | None) -> Any:
    """The run function of ``--engine``: the in-process pipeline, or the tiled dask run."""
    from hotspot_env.core.pipeline import run
    from hotspot_env.scale.checks import check_engine_options

    check_engine_options(engine, scheduler, tile_km, workers)  # before anything is read
    if engine == "inprocess":
        return run
    from hotspot_env.scale.engine import DEFAULT_TILE_KM, analyze_tiled

    def tiled(incidents: Any, **options: Any) -> Any:
        return analyze_tiled(incidents, tile_km=DEFAULT_TILE_KM if tile_km is None else tile_km,
                             scheduler=scheduler, n_workers=2 if workers is None else workers,
                             **options).analysis

    return tiled


@app.command()
@_friendly
def validate(
    incidents: Annotated[Path, typer.Option(help="Dated incidents: CSV, GeoJSON, GPKG, Parquet.")],
    out: Annotated[Path, typer.Option(help="Folder for validation.csv and validation.json.")],
    osm: OsmPath = None,
    layers: LayersPath = None,
    place: PlaceName = None,
    bbox: Bbox = None,
    split_date: Annotated[str | None, typer.Option(
        help="First day of the test window, YYYY-MM-DD (default: start of the last period).")
    ] = None,
    crs: CsvCrs = None,
    timezone: Timezone = None,
    cell_size: CellSize = None,
    treatable_share: TreatableShare = 0.05,
    quiet: Quiet = False,
) -> None:
    """Fit on an earlier period, predict the next: the forecast against every baseline -> OUT."""
    from hotspot_env._atomic import check_output_folder
    from hotspot_env.core.pipeline import run
    from hotspot_env.models.validation import LABELS, summary
    from hotspot_env.models.validation import validate as run_validation

    _setup_logging(quiet)
    check_output_folder(out, (incidents, osm, layers))
    start = time.perf_counter()
    # the stages validation reads (factors and risk terrain for its RTM methods, the forecast);
    # validate() scores them itself, so the pipeline's own validation stage is not run
    analysis = run(incidents, osm=osm, layers=layers, place=place, bbox=bbox, crs=crs,
                   timezone=timezone, cell_size=cell_size, stages=["factors", "forecast", "rtm"],
                   stage_options={"forecast": {"treatable_share": treatable_share}})
    table = run_validation(analysis, split_date, out=out, treatable_share=treatable_share)
    meta = table.attrs["meta"]
    typer.echo(f"trained on {meta['n_train']:,} incidents before {meta['split_date']}, tested on "
               f"{meta['n_test']:,} up to {meta['test_end']}")
    wide = summary(table)
    share = round(100 * treatable_share, 6)
    typer.echo(f"{'method':<36} {'PAI 1%':>7} {'PAI 5%':>7} {'PAI 10%':>8} "
               f"{f'PEI {share:g}%':>9} {'hits 5%':>8}")
    for method, row in wide.iterrows():
        pei = row[f"pei_{share:g}pct"]
        typer.echo(f"{LABELS.get(method, method):<36} {row['pai_1pct']:7.2f} "
                   f"{row['pai_5pct']:7.2f} {row['pai_10pct']:8.2f} {pei:9.3f} "
                   f"{100 * row['hit_rate_5pct']:7.1f}%")
    typer.echo(meta["comparison"]["verdict"])
    typer.echo(f"outputs written to {out}")
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


@app.command()
@_friendly
def synth(
    seed: Annotated[int, typer.Option(min=0, help="Random seed (0 or more).")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    scale: Annotated[str, typer.Option(help="quick, city, metro, or national (regional).")
                     ] = "quick",
    treated: Annotated[bool, typer.Option(
        help="Evaluation scenario: plant interventions with known effects (rate ratios, "
             "displacement, a change in recording) from a treatment date; also writes "
             "interventions.gpkg, the done-ledger and truth_treatment.json.")] = False,
) -> None:
    """Simulate a city with a known risk model: incidents.csv, layers.gpkg, truth.json."""
    from hotspot_env.errors import InputError
    from hotspot_env.inputs.synth import SCALES, simulate_city

    if scale not in SCALES:
        raise InputError(f"--scale {scale!r} is unknown: use one of {', '.join(SCALES)}")
    start = time.perf_counter()
    if treated:
        from hotspot_env.inputs.synth_treatment import simulate_treated_city

        if scale != "quick":
            raise InputError("--treated has one scenario (4 km, 40,000 incidents): drop --scale")
        paths = simulate_treated_city(seed).write(out)
    else:
        paths = simulate_city(seed, scale=scale).write(out)
    typer.echo("SIMULATED data (no record describes a real event): "
               + ", ".join(str(p) for p in paths.values()))
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


@app.command()
@_friendly
def trends(
    incidents: Annotated[Path, typer.Option(help="Dated incidents: CSV, GeoJSON, GPKG, Parquet.")],
    out: Annotated[Path, typer.Option(help="Folder for trends.csv and demand_forecast.csv.")],
    osm: OsmPath = None,
    bbox: Bbox = None,
    crs: CsvCrs = None,
    timezone: Annotated[str | None, typer.Option(help="Local zone of the incidents.")] = None,
    cell_size: CellSize = None,
    time_step: Annotated[str | None, typer.Option(
        help="day, week, month, quarter or year (default: from the span).")] = None,
    horizon_weeks: Annotated[int, typer.Option(help="Weeks to forecast.")] = 8,
    privacy: Privacy = "internal",
    quiet: Quiet = False,
) -> None:
    """Emerging hot spots, change between periods and a weekly demand forecast, written to OUT."""
    from hotspot_env._atomic import check_output_folder
    from hotspot_env.core.analysis import analyze as run_analysis
    from hotspot_env.errors import InputError
    from hotspot_env.inputs.io import read_incidents
    from hotspot_env.temporal import trends as time_trends
    from hotspot_env.temporal.demand import check_horizon
    from hotspot_env.temporal.profiles import record_period

    _setup_logging(quiet)
    check_horizon(horizon_weeks)  # every size the user sets is checked before any work
    if time_step is not None:
        time_trends.check_time_steps(None, time_step)
    check_output_folder(out, (incidents, osm))
    start = time.perf_counter()
    data = read_incidents(incidents, crs=crs, timezone=timezone)
    if not data.has_dates:
        raise InputError(f"{incidents.name} has no dates: {time_trends.TRENDS_MESSAGE}")
    period = record_period(data.frame, timezone)
    if time_step is not None:  # before the analysis: the span alone decides
        time_trends.check_time_steps(period, time_step)
    analysis = run_analysis(data, osm=osm, bbox=bbox, crs=crs, timezone=timezone,
                            cell_size=cell_size, privacy=privacy)
    time_trends.stage(analysis, period=period, timezone=timezone,
                      time_step=time_step, horizon_weeks=horizon_weeks)
    written = time_trends.write_trends(analysis, out)
    info = analysis.trends
    cube = info["cube"]
    typer.echo(f"space-time cube: {cube['n_steps']} {cube['step']}s, "
               f"{sum(cube['incidents_per_step']):,} incidents")
    patterns = {k: v for k, v in info["classes"].items() if k != time_trends.NO_PATTERN}
    typer.echo("emerging hot spots: " + (", ".join(f"{v:,} {k}" for k, v in patterns.items())
                                          or "none"))
    if info["change"]:
        c = info["change"]
        typer.echo(f"change {c['after']} vs {c['before']}: {c['increase']:,} cells up, "
                   f"{c['decrease']:,} down (FDR 5 %)")
    bt = info["backtest"]
    if bt:
        typer.echo(f"forecast back-test RMSE per district-week: {bt['rmse_model']:.3f} "
                   f"(same weeks last year {bt['rmse_seasonal_naive']:.3f}, "
                   f"8-week mean {bt['rmse_recent_mean']:.3f})")
    for message in info["messages"]:
        typer.echo(f"note: {message}")
    typer.echo("outputs written to " + ", ".join(str(p) for p in written.values()))
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


@app.command()
@_friendly
def bench(
    scale: Annotated[str, typer.Option(help="quick, city, metro, or national (regional).")
                     ] = "quick",
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Keep the pipeline outputs and results-SCALE.json in this folder.")] = None,
    peers: Annotated[bool, typer.Option(help="Compare with scikit-learn, esda, geopandas.")
                     ] = True,
    engine: Annotated[str, typer.Option(help="national scales: regions or dask.")] = "regions",
    workers: Annotated[int, typer.Option(help="national scales: LocalCluster workers.")] = 2,
    scheduler: Annotated[str | None, typer.Option(
        help="national scales: dask scheduler address, e.g. tcp://HOST:8786.")] = None,
    country: Annotated[Path | None, typer.Option(
        help="national scales: reuse the country folder an earlier run wrote (OUT/country).")
                       ] = None,
    national_budget: Annotated[float | None, typer.Option(
        help="national scales, --engine regions: one national portfolio under this yearly "
             "budget (USD).")] = None,
    region_budget: Annotated[list[str] | None, typer.Option(
        help="With --national-budget: cap on one region's yearly spending (USD), "
             "NAME=AMOUNT; repeat for several regions.")] = None,
) -> None:
    """Benchmark the whole pipeline on a synthetic city, stage by stage, against peers."""
    from hotspot_env.bench import SCALES, format_table, run_bench, to_json
    from hotspot_env.errors import InputError
    from hotspot_env.scale.bench_national import NATIONAL_SCALES, bench_national_cli

    if scale in NATIONAL_SCALES:
        _setup_logging(quiet=True)
        typer.echo(bench_national_cli(scale, engine, workers, scheduler, out, json_output,
                                      country, national_budget, region_budget or None))
        return
    if national_budget is not None or region_budget:
        raise InputError("--national-budget and --region-budget apply to the national scales "
                         "(--scale country-test, country-small, regional, national)")
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}: use quick, city, metro, regional or national")
    _setup_logging(quiet=True)
    result = run_bench(scale, out=out, peers=peers)
    text = to_json(result)
    if out is not None:
        (Path(out) / f"results-{scale}.json").write_text(text + "\n", encoding="utf-8")
    typer.echo(text if json_output else format_table(result))


@app.command()
@_friendly
def rank(
    analysis: Annotated[Path, typer.Option(help="Folder of a finished 'analyze' run.")],
    budget: Annotated[float, typer.Option(
        help="Budget in USD per year (annualised costs: capital / lifetime + maintenance).")],
    out: Annotated[Path, typer.Option(help="Output folder for the ranked interventions.")],
    weights: Annotated[str | None, typer.Option(
        help='Weights, e.g. "violence=2,youth_space=1.5" (crime categories or types).')] = None,
    proposals: Annotated[Path | None, typer.Option(
        help="Resident/user proposals: GeoJSON/GPKG, or CSV with lon, lat (type, note).")] = None,
    time_limit: Annotated[float, typer.Option(help="Optimiser time limit in seconds.")] = 60.0,
    region_budget: Annotated[list[str] | None, typer.Option(
        help="Cap on the yearly spending (USD) in one district, NAME=AMOUNT, within "
             "--budget; repeat for several districts.")] = None,
    quiet: Quiet = False,
) -> None:
    """Re-rank interventions under a budget and weights, without recomputing the analysis."""
    from hotspot_env._atomic import check_output_folder
    from hotspot_env.interventions import rank_folder

    _setup_logging(quiet)
    check_output_folder(out, (analysis, proposals))
    start = time.perf_counter()
    result, ranking, written = rank_folder(analysis, out, budget, weights, proposals,
                                           time_limit=time_limit,
                                           region_budgets=region_budget or None)
    from hotspot_env.interventions.workorders import headline_text, secondary_text

    effect = result.portfolio(ranking)
    typer.echo(ranking.message)
    if ranking.selected.any():
        typer.echo(headline_text(effect))
        typer.echo(secondary_text(effect))
    for warning in result.cost_warnings(ranking):
        typer.echo(f"warning: {warning}")
    unknown = result.effect_unknown_types()
    if unknown:
        typer.echo("effect unknown (community-led options, not ranked): "
                   + ", ".join(t.replace("_", " ") for t in unknown))
    if ranking.optimal is not None and ranking.optimal.status != "empty":
        typer.echo(f"optimiser: {ranking.optimal.status} in {ranking.optimal.seconds:.1f} s; "
                   f"the fast re-rank (overlap-aware greedy) is {ranking.gap:.1%} below it")
    flagged = result.equity(ranking)
    flagged = flagged[flagged["flagged"]]
    if len(flagged) and ranking.selected.any():
        typer.echo("equity: little investment where harm is high in " + ", ".join(
            flagged["district"].astype(str)))
    typer.echo(f"outputs written to {out}")
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


@app.command("hash-password")
@_friendly
def hash_password_command() -> None:
    """Print an argon2id hash of a password (asked twice, never echoed) for access.toml."""
    from hotspot_env.app.access import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    typer.echo(hash_password(password))


@app.command("check-access")
@_friendly
def check_access(
    address: Annotated[str, typer.Option(
        help="The address Streamlit will bind to (server.address).")] = "localhost",
    app_dir: Annotated[Path, typer.Option(
        help="The folder holding app.py and .streamlit/.")] = Path("."),
) -> None:
    """Check the sign-in configuration before serving, and say who will get which role."""
    from hotspot_env.app import access

    config = access.startup_check(app_dir, auth=access.read_secrets_auth(app_dir))
    decided = access.decide_access(config, address)
    if config is not None:
        typer.echo(f"sign-in: {config.sign_in} ({config.source}); visitors not signed in: "
                   "public mode only")
    else:
        typer.echo(f"access: {decided.role} for everyone: {decided.message}")


@app.command()
@_friendly
def done(
    analysis: Annotated[Path, typer.Option(help="Folder of the 'analyze' run the work orders "
                                                "came from.")],
    orders: Annotated[Path, typer.Option(
        help="Work orders with intervention_id and done_date (YYYY-MM-DD): the re-imported "
             "interventions.csv/.gpkg or any CSV of the two columns.")],
    out: Annotated[Path | None, typer.Option(
        help="Folder of the ledger (default: the analysis folder).")] = None,
) -> None:
    """Record completed work orders in the done-ledger (interventions_done.csv / .gpkg)."""
    from hotspot_env.evaluation.ledger import done_from_folder

    ledger, written = done_from_folder(analysis, orders, out)
    spent = float(ledger["capital_cost"].fillna(0).sum())
    typer.echo(f"ledger: {len(ledger):,} completed interventions ({spent:,.0f} USD capital), "
               f"{ledger['done_date'].min()} to {ledger['done_date'].max()}")
    typer.echo("written: " + ", ".join(str(p) for p in written.values()))


@app.command()
@_friendly
def evaluate(
    ledger: Annotated[Path, typer.Option(help="The done-ledger (interventions_done.gpkg/.csv).")],
    incidents: Annotated[Path, typer.Option(
        help="Incidents covering months before and after the work.")],
    out: Annotated[Path, typer.Option(help="Folder for evaluation.csv/.json, performance.html.")],
    analysis: Annotated[Path | None, typer.Option(
        help="Folder with the analysis' interventions.gpkg (control candidates); default: "
             "the ledger's folder.")] = None,
    privacy: Annotated[str, typer.Option(
        help="public (default: counts below k hidden) or internal.")] = "public",
    crs: CsvCrs = None,
    timezone: Timezone = None,
    update_evidence: Annotated[bool, typer.Option(
        help="Also write evidence_updated.csv: a conservative Bayesian update of each prior "
             "by the measured effect.")] = False,
    quiet: Quiet = False,
) -> None:
    """Did it work? Difference-in-differences against matched controls -> performance.html."""
    from hotspot_env.evaluation.performance import published_table, run_evaluation

    _setup_logging(quiet)
    start = time.perf_counter()
    result, written = run_evaluation(ledger, incidents, out, analysis_dir=analysis,
                                     privacy=privacy, crs=crs, timezone=timezone,
                                     update_evidence=update_evidence)
    table = published_table(result.table, privacy)
    typer.echo(f"{'measure':<24} {'places':>6} {'rate ratio (90 %)':>20} {'prior (95 %)':>18} "
               f"{'ring':>6} {'recording':>9}")
    for r in table.itertuples():
        rr = (f"{r.rate_ratio:.2f} ({r.rr_lo:.2f}-{r.rr_hi:.2f})" if r.rate_ratio == r.rate_ratio
              else "-")
        prior = (f"{r.prior_rr:.2f} ({r.prior_lo:.2f}-{r.prior_hi:.2f})"
                 if r.prior_rr == r.prior_rr else "-")
        ring = f"{r.ring_rr:.2f}" if r.ring_rr == r.ring_rr else "-"
        typer.echo(f"{r.type:<24} {r.n_done:>6} {rr:>20} {prior:>18} {ring:>6} "
                   f"{'CHANGED' if r.recording_flag else 'ok':>9}")
    for message in result.warnings:
        typer.echo(f"warning: {message}")
    typer.echo("outputs written to " + ", ".join(str(p) for p in written.values()))
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m hotspot_env``."""
    app()
