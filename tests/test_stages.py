"""The stage contract: typed fields on Analysis, declared reads/adds, a checked order."""

from __future__ import annotations

import dataclasses

import pytest

from hotspot_env.core import pipeline
from hotspot_env.core.analysis import Analysis
from hotspot_env.core.stages import check_order, declares

FIELDS = {f.name for f in dataclasses.fields(Analysis)}


def test_analysis_has_no_untyped_extras_dict():
    assert "extras" not in FIELDS
    for name in ("factors", "forecast", "rtm", "trends", "interventions", "kinds", "protection",
                 "timings"):
        assert name in FIELDS


def test_every_default_stage_declares_real_fields():
    for name, func in pipeline.default_stages():
        assert hasattr(func, "reads") and hasattr(func, "adds"), name
        assert func.adds, f"stage {name} adds nothing"
        for field in (*func.reads, *func.adds):
            head, _, rest = field.partition(".")
            # "arrays.why" names a per-cell layer; anything else must be a typed field
            assert head in FIELDS and (not rest or head in ("arrays", "map_layers")), (name, field)


def test_default_order_is_accepted_and_every_read_has_an_earlier_producer():
    stages = pipeline.default_stages()
    check_order(stages)
    added: set[str] = set()
    for name, func in stages:
        assert set(func.reads) <= added, name
        added.update(func.adds)


def test_a_reader_before_its_producer_is_refused():
    stages = dict(pipeline.default_stages())
    with pytest.raises(ValueError, match="'rtm' reads factors.*'factors'"):
        check_order([("rtm", stages["rtm"]), ("factors", stages["factors"])])
    with pytest.raises(ValueError, match="'interventions'.*run 'forecast' first"):
        check_order([("interventions", stages["interventions"]), ("forecast", stages["forecast"])])


def test_leaving_a_producer_out_is_allowed():
    stages = dict(pipeline.default_stages())
    check_order([("interventions", stages["interventions"])])


def test_undeclared_stages_read_and_add_nothing():
    @declares(reads=("factors",))
    def reader(analysis):
        return None

    check_order([("reader", reader), ("other", lambda analysis: None)])


def test_pipeline_refuses_a_wrong_order_before_reading_anything(monkeypatch):
    stages = dict(pipeline.default_stages())
    monkeypatch.setattr(pipeline, "default_stages",
                        lambda: [("rtm", stages["rtm"]), ("factors", stages["factors"])])
    with pytest.raises(ValueError, match="run 'factors' first"):
        pipeline.run("/nonexistent/never-read.csv")
