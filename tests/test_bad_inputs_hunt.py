"""The hunt for the next hundred bad inputs: generated options and files (hypothesis).

Where ``test_bad_inputs.py`` lists hostile inputs one by one, these properties
throw generated values at the CLI options and generated files at the readers
and check the contract for each: a usable input runs, anything else is one
``error:`` line with exit status 2 (or an :class:`InputError` from the API),
never a traceback, a hang or an unannounced guess. Examples are derandomised
(the same every run) and no example database is written.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hotspot_env.cli import app
from hotspot_env.errors import HotspotEnvError, InputError

runner = CliRunner()

HUNT = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

#: Each example of a whole CLI run costs about a second: fewer of them.
CLI_HUNT = settings(HUNT, max_examples=25)

CENTRE = (-46.633, -23.550)

#: Floats a user can type: ordinary, huge, tiny, subnormal, signed zero, nan, inf.
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-310, 1e-300, 1e308, 1.7976931348623157e308,
                     0.5, 1.0, 10.0, 25.0, 1e6, 1e9]),
)

#: Text a user can type where a number or a name is expected.
WORDS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["ten", "", " ", "1e", "--", "1,5", "0x10", "NaN", "-inf", "1_000",
                     "١٠", "\x1b[31m5", "5;rm -rf /"]),
)


def _incidents(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    lon = CENTRE[0] + rng.uniform(-0.01, 0.01, 40)
    lat = CENTRE[1] + rng.uniform(-0.01, 0.01, 40)
    path = folder / "incidents.csv"
    if not path.exists():
        path.write_text("lon,lat,date\n" + "".join(
            f"{a:.6f},{b:.6f},2023-0{1 + i % 9}-1{i % 10}\n"
            for i, (a, b) in enumerate(zip(lon, lat, strict=True))), encoding="utf-8")
    return path


def _check_outcome(result, out: Path, written: str = "manifest.json") -> None:
    """Exit 0 with outputs, or exit 2 with one ``error:`` line and nothing written."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{result.output}")
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert lines[0].isprintable()
        assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    else:
        assert result.stderr.strip() == ""
        assert (out / written).is_file()


@pytest.fixture
def core_only(monkeypatch):
    """Stop after the core analysis (the options under test act there), on small grids.

    A lower cell ceiling keeps each generated run under a second: a 1 m cell
    is then refused like a 1e-310 m one, through the same check.
    """
    from hotspot_env import settings

    monkeypatch.setattr("hotspot_env.core.pipeline.default_stages", lambda: [])
    monkeypatch.setattr(settings, "max_cells", 200_000)


@CLI_HUNT
@given(option=st.sampled_from(["--cell-size", "--bandwidth"]), value=NUMBERS)
def test_numeric_options_never_crash(option, value, tmp_path_factory, core_only):
    tmp = tmp_path_factory.mktemp("num")
    out = tmp / "out"
    result = runner.invoke(app, ["analyze", "--incidents", str(_incidents(tmp)), "--out",
                                 str(out), option, repr(value)])
    _check_outcome(result, out)
    if not (math.isfinite(value) and value > 0):
        assert result.exit_code == 2 and option in result.stderr


@CLI_HUNT
@given(option=st.sampled_from(["--cell-size", "--bandwidth", "--bbox", "--crs", "--timezone",
                               "--privacy", "--x", "--weights", "--budget", "--category"]),
       text=WORDS)
def test_text_in_options_never_crashes(option, text, tmp_path_factory, core_only):
    tmp = tmp_path_factory.mktemp("txt")
    out = tmp / "out"
    result = runner.invoke(app, ["analyze", "--incidents", str(_incidents(tmp)), "--out",
                                 str(out), option, text])
    _check_outcome(result, out)


@HUNT
@given(horizon=st.one_of(st.integers(), st.integers(min_value=105, max_value=10**30)),
       step=st.one_of(st.none(), st.sampled_from(["day", "week", "month", "quarter", "year"]),
                      st.text(max_size=10)))
def test_trends_sizes_are_refused_before_any_work(horizon, step, tmp_path, monkeypatch):
    from hotspot_env.inputs import io

    if 1 <= horizon <= 104 and (step is None or step in ("day", "week", "month", "quarter",
                                                         "year")):
        return  # a usable size: running the analysis is another test's job

    def no_read(*args, **kwargs):
        raise AssertionError("the incidents were read before the sizes were checked")

    monkeypatch.setattr(io, "read_incidents", no_read)
    args = ["trends", "--incidents", str(tmp_path / "never-read.csv"), "--out",
            str(tmp_path / "out"), "--horizon-weeks", str(horizon)]
    if step is not None:
        args += ["--time-step", step]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "--horizon-weeks" in lines[0] or "--time-step" in lines[0]


CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NA", "null", "-", "1e400", "-46,63", "abc", '"', "\\", "\x00"]),
    st.text(max_size=12),
)


@HUNT
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), max_size=30),
       header=st.sampled_from(["lon,lat,date", "x,y,datetime", "Longitude;Latitude;Date",
                               "lat,lon,date", "lon,lat"]))
def test_csv_reader_returns_or_refuses(rows, header, tmp_path_factory):
    from hotspot_env.inputs.io import read_incidents

    sep = ";" if ";" in header else ","
    width = header.count(sep) + 1
    text = header + "\n" + "".join(sep.join(r[:width]) + "\n" for r in rows)
    path = tmp_path_factory.mktemp("csv") / "incidents.csv"
    path.write_text(text, encoding="utf-8")
    try:
        data = read_incidents(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    frame = data.frame
    assert len(frame) >= 1 and data.n_read >= len(frame)
    xs, ys = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    assert np.isfinite(xs).all() and np.isfinite(ys).all()
    if frame.crs.is_geographic:
        assert (np.abs(xs) <= 180).all() and (np.abs(ys) <= 90).all()


@HUNT
@given(data=st.binary(max_size=2000),
       name=st.sampled_from(["incidents.csv", "incidents.geojson", "incidents.gpkg",
                             "incidents.parquet", "incidents.json"]))
def test_readers_refuse_random_bytes(data, name, tmp_path_factory):
    from hotspot_env.inputs.io import read_incidents

    path = tmp_path_factory.mktemp("bin") / name
    path.write_bytes(data)
    try:
        read_incidents(path)
    except HotspotEnvError as exc:
        assert "\n" not in str(exc) and str(exc)


GEOMETRY = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("Point"), "coordinates": st.lists(
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6),
                  st.just(-46.6), st.just(-23.5)), min_size=0, max_size=4)}),
    st.fixed_dictionaries({"type": st.sampled_from(["LineString", "Polygon", "MultiPoint",
                                                    "Nonsense"]),
                           "coordinates": st.just([[-46.6, -23.5], [-46.5, -23.4]])}),
)


@HUNT
@given(geometries=st.lists(GEOMETRY, max_size=12),
       props=st.dictionaries(st.sampled_from(["date", "category", "datetime", "id"]),
                             st.one_of(st.text(max_size=12), st.integers(), st.none()),
                             max_size=3))
def test_geojson_reader_returns_or_refuses(geometries, props, tmp_path_factory):
    import json

    from hotspot_env.inputs.io import read_incidents

    features = [{"type": "Feature", "properties": props, "geometry": g} for g in geometries]
    path = tmp_path_factory.mktemp("gj") / "incidents.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # GDAL's complaints are announced, never printed
            data = read_incidents(path)
    except HotspotEnvError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    xs, ys = data.frame.geometry.x.to_numpy(), data.frame.geometry.y.to_numpy()
    assert len(xs) and np.isfinite(xs).all() and (np.abs(ys) <= 90).all()


@HUNT
@given(text=WORDS)
def test_weights_and_bbox_parsers_refuse_with_input_error(text):
    from hotspot_env.core.area import parse_bbox
    from hotspot_env.interventions.weights import parse_weights

    for parse in (parse_bbox, parse_weights):
        try:
            parse(text)
        except InputError as exc:
            assert "\n" not in str(exc)


@HUNT
@given(lon=st.floats(allow_nan=True, allow_infinity=True),
       lat=st.floats(allow_nan=True, allow_infinity=True))
def test_proposal_coordinates_are_refused_or_finite(lon, lat, tmp_path_factory):
    import geopandas as gpd
    import shapely
    from pyproj import CRS

    from hotspot_env.interventions.candidates import _check_proposal_coordinates

    frame = gpd.GeoDataFrame({"type": ["street_lighting"]},
                             geometry=[shapely.Point(lon, lat)], crs=4326)
    valid = (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90)
    try:
        _check_proposal_coordinates(frame)
    except InputError:
        assert not valid
        return
    assert valid
    projected = frame.to_crs(CRS.from_epsg(32723))  # 90 degrees off the meridian: infinite
    finite = np.isfinite(shapely.get_coordinates(projected.geometry.to_numpy())).all()
    try:
        _check_proposal_coordinates(projected)
    except InputError:
        assert not finite
        return
    assert finite


@pytest.fixture(scope="module")
def analysis_folder(tmp_path_factory) -> Path:
    """A finished analysis with the interventions state, for ``rank``."""
    from hotspot_env import interventions
    from hotspot_env.core.pipeline import run

    tmp = tmp_path_factory.mktemp("analysis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("hotspot_env.core.pipeline.default_stages",
                   lambda: [("interventions", interventions.stage)])
        run(_incidents(tmp), out=tmp / "out")
    return tmp / "out"


@CLI_HUNT
@given(budget=st.one_of(NUMBERS.map(repr), WORDS),
       time_limit=st.one_of(NUMBERS.map(repr), WORDS),
       weights=st.one_of(st.none(), WORDS, st.sampled_from(
           ["violence=1e308", "violence=nan", "=2", "youth_space=-0", "theft=1,theft=2"])))
def test_rank_options_never_crash(budget, time_limit, weights, analysis_folder,
                                  tmp_path_factory):
    out = tmp_path_factory.mktemp("rank") / "out"
    args = ["rank", "--analysis", str(analysis_folder), "--out", str(out), "--budget", budget,
            "--time-limit", time_limit]
    if weights is not None:
        args += ["--weights", weights]
    _check_outcome(runner.invoke(app, args), out, written="interventions.csv")


@HUNT
@given(text=st.one_of(WORDS, st.dates().map(str), st.sampled_from(
    ["9999-12-31", "0001-01-01", "2023-02-30", "2023-06-01T25:00", "2023-06-01+99:00"])))
def test_split_dates_never_crash(text, tmp_path_factory, core_only):
    tmp = tmp_path_factory.mktemp("split")
    out = tmp / "out"
    result = runner.invoke(app, ["validate", "--incidents", str(_incidents(tmp)), "--out",
                                 str(out), "--split-date", text])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{result.output}")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_an_empty_timezone_is_refused_not_read_as_utc(tmp_path):
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    csv = tmp_path / "incidents.csv"
    csv.write_text("x,y,date\n24.94,60.17,2024-01-01 10:00\n24.95,60.17,2024-01-02 11:00\n")
    result = CliRunner().invoke(app, ["analyze", "--incidents", str(csv), "--out",
                                      str(tmp_path / "out"), "--timezone", " "])
    assert result.exit_code == 2
    assert "--timezone is empty" in result.output
    assert not (tmp_path / "out").exists()


def test_a_world_wide_bbox_says_it_is_too_wide():
    from hotspot_env.core.area import parse_bbox
    from hotspot_env.errors import InputError

    with pytest.raises(InputError, match="spans 360° x 180°"):
        parse_bbox("-180,-90,180,90")
    assert parse_bbox("-6,50,2,59") == (-6.0, 50.0, 2.0, 59.0)  # England and Wales fit
