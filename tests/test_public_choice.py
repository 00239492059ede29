"""Announcements in public mode: tallies rounded to 10, parameters (percentages, years) kept.

``public_choice`` rounds whole numbers in a choice's sentence because exact
tallies ("256 of 2,445 incidents ...") add up to the exact total, which public
mode does not publish. A percentage is a parameter or a share, never a tally:
"95 % interval" must not become "~100 % interval", nor a radius "300 m" "~300 m"
(hand-written expectations).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hotspot_env.core.choices import Choice
from hotspot_env.outputs.privacy import Protection, public_choice

PUBLIC = SimpleNamespace(protection=Protection(k=5))
INTERNAL = SimpleNamespace(protection=None)


def _public(rule: str, value: object = "x") -> Choice:
    return public_choice(PUBLIC, Choice("name", value, rule))


@pytest.mark.parametrize(("rule", "expected"), [
    ("the whole 95 % bootstrap interval", "the whole 95 % bootstrap interval"),
    ("a 95% interval", "a 95% interval"),
    ("rate ratio (90 %)", "rate ratio (90 %)"),
    ("Gi* at FDR 10 % and 5 %", "Gi* at FDR 10 % and 5 %"),
    ("the top 15 percent of cells", "the top 15 percent of cells"),
    ("cells above the 99 % quantile", "cells above the 99 % quantile"),
    ("counts smoothed over 1,250 m", "counts smoothed over 1,250 m"),
    ("a building within 100 m", "a building within 100 m"),
    ("a 15 km² area, tiles of 2 km", "a 15 km² area, tiles of 2 km"),
    ("cells of 150 metres", "cells of 150 metres"),
])
def test_percentages_and_distances_are_parameters_and_stay_as_written(rule, expected):
    assert _public(rule).rule == expected


@pytest.mark.parametrize(("rule", "expected"), [
    ("256 of 2,447 incidents have no time of day", "~260 of ~2,450 incidents have no time of day"),
    ("348 incidents before the first month", "~350 incidents before the first month"),
    # a count next to a percentage: the count is rounded, the percentage is not
    ("1,234 incidents (95 % of them dated)", "~1,230 incidents (95 % of them dated)"),
    ("256 incidents, 12 % of 2,133", "~260 incidents, 12 % of ~2,130"),
    ("348 incidents within 250 m", "~350 incidents within 250 m"),
    ("124 incidents in 2019", "~120 incidents in 2019"),
])
def test_tallies_are_still_rounded_to_ten(rule, expected):
    assert _public(rule).rule == expected


@pytest.mark.parametrize("rule", [
    "records from 2018 to 2021", "EPSG:32723", "2018-07-31 18:30", "x10 and P6", "3 cells",
    "a 12.5 % share",
])
def test_years_codes_dates_and_small_numbers_stay(rule):
    assert _public(rule).rule == rule


def test_an_integer_value_is_rounded_but_a_percentage_sentence_is_not():
    shown = _public("incidents outside the study area were dropped (95 % kept)", value=256)
    assert shown.value == 260
    assert shown.rule.endswith("(95 % kept)")
    assert shown.message().startswith("name set to 260 automatically")


def test_internal_mode_changes_nothing():
    choice = Choice("name", 256, "the whole 95 % interval; 2,445 incidents")
    assert public_choice(INTERNAL, choice) is choice
