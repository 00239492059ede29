"""Open-data formats read as they come: columns, dates, categories, outdoor, identifiers.

Fixtures in tests/data/: the real police.uk slices (West Yorkshire, Leeds
centre, July 2016-2018, OGL v3) and synthetic header-faithful samples of the
other portals (see its README).
Expected values are worked out by hand from the rows and the portals' zones.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hotspot_env.inputs.formats import category_map, recognise
from hotspot_env.inputs.io import read_incidents
from hotspot_env.interventions.strata import CATEGORY_GROUPS, map_categories
from hotspot_env.models.forecast import month_periods
from hotspot_env.temporal.trends import month_time_step

DATA = Path(__file__).resolve().parent / "data"
WY_DIR = DATA / "west_yorkshire"
WY = WY_DIR / "2018-07-west-yorkshire-street-leeds-centre.csv"
WY_YEARS = [WY_DIR / f"{y}-07-west-yorkshire-street-leeds-centre.csv" for y in (2016, 2017, 2018)]

SAMPLES = {  # file -> (format, rows with coordinates, (outdoor, indoor, unknown))
    "chicago_sample.csv": ("chicago", 30, (12, 12, 6)),
    "nyc_sample.csv": ("nyc", 30, (8, 15, 7)),
    "san_francisco_sample.csv": ("san_francisco", 30, (0, 0, 30)),
    "los_angeles_sample.csv": ("los_angeles", 30, (15, 8, 7)),
    "toronto_sample.csv": ("toronto", 30, (5, 15, 10)),
    "sao_paulo_ssp_sample.csv": ("sao_paulo_ssp", 30, (8, 15, 7)),
    "west_yorkshire/2018-07-west-yorkshire-street-leeds-centre.csv": ("police_uk", 1034,
                                                                      (0, 0, 1034)),
}


def _header(name: str) -> list[str]:
    with open(DATA / name, encoding="utf-8") as handle:
        first = handle.readline()
    return next(csv.reader([first], delimiter=";" if ";" in first else ","))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_format_is_recognised_and_read(name):
    fmt, n_rows, (n_out, n_in, n_na) = SAMPLES[name]
    assert recognise(_header(name)).name == fmt
    data = read_incidents(DATA / name)
    frame = data.frame
    assert len(frame) == n_rows
    assert [c.value for c in data.choices if c.name == "input_format"] == [fmt]
    assert list(frame.columns) == ["geometry", "datetime", "time_known", "category", "source",
                                   "outdoor"]
    assert str(frame["outdoor"].dtype) == "boolean"
    assert (int(frame["outdoor"].eq(True).sum()), int(frame["outdoor"].eq(False).sum()),
            int(frame["outdoor"].isna().sum())) == (n_out, n_in, n_na)
    assert frame["datetime"].notna().all()
    assert (map_categories(frame["category"]) >= 0).all()


def test_identifying_columns_never_enter_the_frame():
    for name in SAMPLES:
        frame = read_incidents(DATA / name).frame
        assert set(frame.columns) <= {"geometry", "datetime", "time_known", "category",
                                      "source", "outdoor"}


@pytest.mark.parametrize(("name", "row", "utc", "timed"), [
    # Chicago row 0: 07/01/2023 with hour 1 PM, America/Chicago (CDT, UTC-5)
    ("chicago_sample.csv", 0, None, True),
    # NYC row 1: 03/02/2024 05:07, America/New_York (EST, UTC-5) -> 10:07 UTC
    ("nyc_sample.csv", 1, "2024-03-02 10:07", True),
    # SF row 0: 2023/05/01 01:15 PM, America/Los_Angeles (PDT, UTC-7) -> 20:15 UTC
    ("san_francisco_sample.csv", 0, "2023-05-01 20:15", True),
    # LA row 1: DATE OCC 06/02/2023 (its 12:00 AM ignored) + TIME OCC 107 = 01:07 PDT
    ("los_angeles_sample.csv", 1, "2023-06-02 08:07", True),
    # Toronto row 1: 2023-08-02, OCC_HOUR 5, America/Toronto (EDT, UTC-4) -> 09:00 UTC
    ("toronto_sample.csv", 1, "2023-08-02 09:00", True),
    # SSP row 0: 2023-02-01 00:30, America/Sao_Paulo (UTC-3) -> 03:30 UTC
    ("sao_paulo_ssp_sample.csv", 0, "2023-02-01 03:30", True),
    # police.uk: month only -> first of the month, 00:00 UTC, no time
    ("west_yorkshire/2018-07-west-yorkshire-street-leeds-centre.csv", 0, "2018-07-01 00:00",
     False),
])
def test_dates_and_times_in_each_portal_style(name, row, utc, timed):
    frame = read_incidents(DATA / name).frame
    raw = pd.read_csv(DATA / name, dtype=str, sep=None, engine="python")
    if utc is None:  # Chicago: compute the expected instant from the raw text independently
        local = pd.Timestamp(raw.loc[row, "Date"]).tz_localize("America/Chicago")
        utc = local.tz_convert("UTC").strftime("%Y-%m-%d %H:%M")
    assert frame["datetime"].iloc[row].strftime("%Y-%m-%d %H:%M") == utc
    assert bool(frame["time_known"].iloc[row]) is timed


def test_police_uk_slice_is_month_precision_with_police_categories():
    data = read_incidents(WY)
    assert data.n_read == 1039 and data.n_invalid == 5  # five "No Location" rows
    assert data.date_precision == "month"
    assert not data.frame["time_known"].any()
    assert sorted(data.frame["datetime"].dt.strftime("%Y-%m").unique()) == ["2018-07"]
    cats = set(pd.read_csv(WY, dtype=str)["Crime type"].str.lower())
    assert set(data.frame["category"]) == cats - {np.nan}


def _three_years(tmp_path: Path) -> Path:
    """The three July slices as one file (as a user would concatenate downloads)."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in WY_YEARS]
    path = tmp_path / "west-yorkshire-2016-2018.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_three_julys_give_year_on_year_trends_and_forecast(tmp_path):
    from hotspot_env.core.pipeline import run

    path = _three_years(tmp_path)
    analysis = run(path, stages=["factors", "forecast", "rtm", "trends"])
    choices = {c.name: c for c in analysis.choices}
    assert analysis.parameters["date_precision"] == "month"
    assert analysis.parameters["record_period"] == ["2016-07-01", "2018-07-31"]
    assert choices["time_step"].value == "year"
    assert choices["forecast_period"].value == "year"
    cube = analysis.trends["cube"]
    # each year's step holds exactly that July's located incidents (counted independently)
    per_year = [int(pd.read_csv(p, dtype=str)["Longitude"].notna().sum()) for p in WY_YEARS]
    assert cube["labels"] == ["2016", "2017", "2018"]
    assert cube["incidents_per_step"] == per_year
    change = analysis.trends["change"]
    assert change["before"].startswith("2017-01-01") and change["after"].startswith("2018-01-01")
    assert analysis.forecast is not None


def test_category_map_covers_police_uk_and_only_known_targets():
    table = pd.read_csv(Path(__file__).resolve().parent.parent / "data" / "category_map.csv",
                        dtype=str, keep_default_na=False)
    cats = table[table["field"] == "category"]
    assert set(cats["maps_to"]) <= set(CATEGORY_GROUPS)
    assert set(table.loc[table["field"] == "premise", "maps_to"]) <= {"outdoor", "indoor"}
    police = cats[cats["format"] == "police_uk"]
    assert len(police) == 14  # the 14 police.uk crime types
    mapped = category_map()
    # where the keywords alone go wrong, the map decides
    assert mapped["vehicle crime"] == "theft"
    assert mapped["weapons violation"] == "other"  # "violation" is not violence
    assert mapped["burglary from vehicle"] == "theft"  # not a residential burglary
    groups = map_categories(["Vehicle crime", "WEAPONS VIOLATION", "Anti-social behaviour"])
    assert [CATEGORY_GROUPS[g] for g in groups] == ["theft", "other", "disorder"]


def test_sampled_months_compare_whole_years_and_consecutive_months_never_go_finer():
    dates = np.array(["2016-07-01", "2017-07-01", "2018-07-01"], dtype="datetime64[D]")
    period = (np.datetime64("2016-07-01"), np.datetime64("2018-07-31"))
    step, choice, cube_period = month_time_step(dates, period)
    assert step == "year"
    assert cube_period == (np.datetime64("2016-01-01"), np.datetime64("2018-12-31"))
    assert "not consecutive" in choice.rule
    one = np.array(["2018-07-01"] * 5, dtype="datetime64[D]")
    step, _, cube_period = month_time_step(one, (np.datetime64("2018-07-01"),
                                                 np.datetime64("2018-07-31")))
    assert step == "month" and cube_period[1] == np.datetime64("2018-07-31")


def test_month_periods_year_on_year_and_none_for_one_month():
    times = pd.to_datetime(["2016-07-01", "2017-07-01", "2017-07-01", "2018-07-01"], utc=True)
    periods, _ = month_periods(times)
    assert periods.name == "year" and periods.n == 3
    assert periods.end == np.datetime64("2018-08-01", "ns")
    assert periods.index(times.tz_localize(None).to_numpy()).tolist() == [0, 1, 1, 2]
    periods, choice = month_periods(pd.to_datetime(["2018-07-01"] * 3, utc=True))
    assert periods is None and "31 days" in choice.rule


def test_police_uk_end_to_end_no_identifier_in_any_output(tmp_path):
    from hotspot_env.cli import app

    result = CliRunner().invoke(app, ["analyze", "--incidents", str(WY), "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "input_format set to police_uk" in result.output
    assert "date_precision set to month" in result.output
    raw = pd.read_csv(WY, dtype=str)
    secrets = ([i for i in raw["Crime ID"].dropna()] + ["Investigation complete",
                                                          "Status update unavailable",
                                                          "Leeds 111"])
    for path in tmp_path.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in blob, (path.name, secret)
    manifest = (tmp_path / "manifest.json").read_text()
    assert '"date_precision": "month"' in manifest
