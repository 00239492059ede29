"""Plain words for people (``hotspot_env.outputs.labels``) and reasons that fit their type."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from hotspot_env import settings
from hotspot_env.interventions.reasons import timing_for
from hotspot_env.outputs import labels


def test_every_cost_table_type_has_a_label_without_underscores():
    types = pd.read_csv(settings.data_folder / "costs.csv")["intervention_type"].unique()
    for kind in types:
        assert kind in labels.TYPE_LABELS, kind
        assert "_" not in labels.type_label(kind)
    assert labels.type_label("streetlight_upgrade") == "Street light upgrade"
    assert labels.type_label("made_up_kind") == "Made up kind"


def test_field_labels_and_units():
    assert labels.field_label("gi_z") == "Hot-spot score (Gi* z)"
    assert labels.field_label("cell_id") == "Place (cell) number"
    assert "(m)" in labels.field_label("youth_walk_m")
    assert labels.field_label("some_new_column") == "Some new column"
    assert labels.method_label("rtm_x_kde") == "Risk terrain × incident density"


@pytest.mark.parametrize(("value", "text"), [
    (105000, "105,000"), (1234.5, "1,234"), (12.345, "12.35"), (2.0, "2"),
    (0.000123456, "0.00012"), (1.6e-13, "0.00000000000016"), (0, "0"),
    (float("nan"), "–"), (-2500, "-2,500"),
])
def test_plain_number_never_uses_scientific_notation(value, text):
    assert labels.plain_number(value) == text
    assert "e" not in labels.plain_number(value).lower()


def test_weights_in_the_words_of_the_sliders():
    text = labels.weights_text({"violence": 2, "gun_violence": 2, "robbery": 2,
                                "burglary": 1, "theft": 1, "vandalism": 1, "youth_space": 1.5})
    assert text == "Preventing violence ×2, Youth provision ×1.5"
    assert labels.weights_text({"theft": 2}) == "Preventing property crime ×2"
    assert labels.weights_text({"vacant_lot_greening": 3}) == "Vacant lot greening ×3"
    assert labels.weights_text({"violence": 1}) == ""
    assert not re.search(r"[a-z]_[a-z]", labels.weights_text(
        {"gun_violence": 2, "violence": 1, "robbery": 1}))


def test_risk_headline_says_what_was_measured():
    text = labels.risk_headline({"top_pct": 10, "area_pct": 27.7, "incident_pct": 61.0})
    assert "27.7 % of the study area" in text and "61.0 %" in text
    assert "top 10 % highest-risk cells cover 27.7 %" not in text
    assert "could not" in labels.risk_headline({"area_pct": float("nan"),
                                                "incident_pct": float("nan")})


def test_glossary_has_the_terms_the_pages_use():
    for term in ("Gi*", "RRV", "KDE", "PAI", "RMSE", "Poisson deviance", "risk terrain",
                 "emerging hot spot"):
        assert len(labels.glossary(term)) > 30


TIMING = ("order lighting work before October: 70 % of incidents here with a known time "
          "happen in darkness, most in Nov–Feb; incidents peak 18–22 h (40 % of timed "
          "incidents): match youth-space opening hours to them")


def test_streetlight_reason_does_not_schedule_youth_spaces():
    text = timing_for(TIMING, "streetlight_upgrade")
    assert "youth" not in text
    assert text.startswith("order lighting work") and "incidents peak 18–22 h" in text


def test_youth_space_reason_keeps_opening_hours_and_drops_lighting():
    text = timing_for(TIMING, "youth_space")
    assert text.endswith("match youth-space opening hours to them")
    assert "lighting" not in text


def test_other_types_keep_only_the_peak_hours():
    assert timing_for(TIMING, "vacant_lot_greening") == (
        "incidents peak 18–22 h (40 % of timed incidents)")
    assert timing_for("", "youth_space") == ""
