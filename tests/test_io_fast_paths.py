"""The fast readers of hotspot_env.inputs.io give what the general readers give.

CSV text goes through pyarrow first and dates through ISO 8601 first; each
falls back to pandas' general path. These tests pin that the fast path never
changes a value.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from hotspot_env.inputs._columns import _parse_datetimes
from hotspot_env.inputs._csv_points import _read_csv_text

QUIRKY_CSV = (
    'lon,lat,datetime,category,note\n'
    '-46.6,-23.5,2023-05-01T22:30:00Z,theft,"comma, inside"\n'
    '-46.7,-23.6,,NA,\n'
    '-46.8,-23.7,2023-05-02,n/a,"quote "" inside"\n'
    '\n'
    '-46.9,-23.8,2023-05-03 07:15,Vandalismo,ção\n'
)


def test_pyarrow_csv_equals_pandas_c_reader():
    fast = _read_csv_text(QUIRKY_CSV, ",")
    slow = pd.read_csv(io.StringIO(QUIRKY_CSV), sep=",", dtype=str, keep_default_na=True)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["category"].isna().tolist() == [False, True, True, False]


def test_ragged_rows_fall_back_to_the_c_reader():
    text = "lon,lat\n1,2\n3,4,5\n"
    with pytest.raises(pd.errors.ParserError):
        _read_csv_text(text, ",")


@pytest.mark.parametrize("values", [
    ["2023-05-01T22:30:00Z", "2023-05-02T01:00:00Z", None],           # ISO, one offset
    ["2023-05-01 22:30", "2023-05-02", ""],                           # ISO, naive, date only
    ["2023-03-25T23:30:00+02:00", "2023-03-26T12:00:00+03:00"],       # offsets differ (DST)
    ["01/05/2023 22:30", "2023-05-02 10:00", "not a date"],          # not all ISO: mixed
])
def test_iso_fast_path_equals_mixed_parser(values):
    series = pd.Series(values, dtype="object")
    got, known = _parse_datetimes(series, "x.csv", "Europe/Helsinki", [])
    text = series.astype("string").str.strip()
    try:
        ref = pd.to_datetime(text, errors="coerce", utc=False, format="mixed")
    except ValueError:
        ref = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    if getattr(ref.dt, "tz", None) is None:
        ref = ref.dt.tz_localize("Europe/Helsinki", ambiguous="NaT",
                                 nonexistent="shift_forward")
    ref = ref.dt.tz_convert("UTC").reset_index(drop=True)
    pd.testing.assert_series_equal(got, ref, check_names=False, check_dtype=False)
    assert known.sum() == sum(":" in (v or "") for v in values if v and v != "not a date")


@pytest.mark.parametrize("values", [["1.5", "-46.25", None, "1e3"],          # clean: arrow cast
                                    ["1.5", "x", None, " 2 ", "", "inf"]])   # dirty: to_numeric
@pytest.mark.parametrize("dtype", ["string", "object"])
def test_fast_number_parsing_equals_to_numeric(values, dtype):
    import numpy as np

    from hotspot_env.inputs._csv_points import _to_float

    series = pd.Series(values, dtype=dtype)
    np.testing.assert_array_equal(_to_float(series),
                                  pd.to_numeric(series, errors="coerce").to_numpy(float))


@pytest.mark.parametrize("values", [
    ["2023-05-01 22:30", "2023-05-02 01:00", None],                  # naive, with times
    ["2023-05-01", "2023-05-02", None],                              # a date field
    ["2023-03-25T23:30:00+02:00", "2023-03-26T12:00:00+02:00"],      # tz-aware
])
def test_stored_datetimes_equal_their_text(values):
    # A GeoPackage/GeoParquet date column arrives typed; it must give what the
    # same dates give as CSV text, without formatting them to text first.
    typed = pd.Series(pd.to_datetime(pd.Series(values), format="ISO8601"))
    text = typed.dt.strftime("%Y-%m-%d %H:%M:%S%z").where(typed.notna(), None)
    if all(v is None or len(v) == 10 for v in values):
        text = typed.dt.strftime("%Y-%m-%d").where(typed.notna(), None)
    got, known = _parse_datetimes(typed, "x.gpkg", "Europe/Helsinki", [])
    ref, ref_known = _parse_datetimes(text.astype(object), "x.csv", "Europe/Helsinki", [])
    pd.testing.assert_series_equal(got, ref, check_names=False, check_dtype=False)
    assert known.tolist() == ref_known.tolist()
