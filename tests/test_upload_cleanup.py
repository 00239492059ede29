"""Uploads go when their session ends; a Parquet bomb is refused before it is decoded."""

from __future__ import annotations

import os
import time

import geopandas as gpd
import numpy as np
import pytest

from hotspot_env.app import session
from hotspot_env.errors import InputError
from hotspot_env.inputs import io


def test_sweep_removes_folders_of_ended_sessions_only(tmp_path):
    open_session = session.SessionFolder(root=tmp_path, owner="open")
    ended = session.SessionFolder(root=tmp_path, owner="closed")
    ended.save("incidents", "a.csv", b"lon,lat\n1,2\n")
    removed = session.sweep(lambda sid: sid == "open", root=tmp_path)
    assert removed == [ended.path]
    assert not ended.path.exists() and open_session.path.exists()
    assert session.sweep(lambda sid: sid == "open", root=tmp_path) == []


def test_sweep_removes_orphans_after_their_age_only(tmp_path):
    orphan = session.SessionFolder(root=tmp_path)  # no owner: made outside a browser session
    assert session.sweep(lambda sid: False, root=tmp_path, orphan_seconds=3600) == []
    old = time.time() - 7200
    os.utime(orphan.path, (old, old))
    assert session.sweep(lambda sid: False, root=tmp_path, orphan_seconds=3600) == [orphan.path]


def test_sweep_leaves_other_folders_alone(tmp_path):
    other = tmp_path / "someone_elses_folder"
    other.mkdir()
    session.sweep(lambda sid: False, root=tmp_path, orphan_seconds=0)
    assert other.exists()


def test_the_sweeper_thread_removes_a_folder_once_its_session_ends(tmp_path):
    active = {"s1"}
    folder = session.SessionFolder(root=tmp_path, owner="s1")
    stop = session.start_sweeper(lambda sid: sid in active, root=tmp_path, every=0.05)
    try:
        time.sleep(0.3)
        assert folder.path.exists()  # open session: kept
        active.clear()  # the browser closed
        deadline = time.monotonic() + 10
        while folder.path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not folder.path.exists()
    finally:
        stop.set()


def test_a_folder_saved_to_after_a_sweep_is_recreated(tmp_path):
    folder = session.SessionFolder(root=tmp_path, owner="s")
    session.sweep(lambda sid: False, root=tmp_path)
    saved = folder.save("incidents", "a.csv", b"lon,lat\n1,2\n")
    assert saved.path.read_bytes() == b"lon,lat\n1,2\n"


def test_parquet_rows_are_capped_before_decoding(tmp_path, monkeypatch):
    n = 1_000
    frame = gpd.GeoDataFrame({"v": np.zeros(n)},
                             geometry=gpd.points_from_xy(np.zeros(n), np.zeros(n)), crs=4326)
    path = tmp_path / "bomb.parquet"
    frame.to_parquet(path)
    monkeypatch.setattr(io, "MAX_PARQUET_ROWS", n - 1)

    def never(*args, **kwargs):
        raise AssertionError("the file was decoded before its row count was checked")

    monkeypatch.setattr(gpd, "read_parquet", never)
    monkeypatch.setattr(io.pd, "read_parquet", never)
    with pytest.raises(InputError, match=r"holds 1,000 rows, more than the limit of 999"):
        io.read_incidents(path)


def test_parquet_within_the_cap_reads(tmp_path):
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy([-46.6, -46.7], [-23.5, -23.6]),
                             crs=4326)
    path = tmp_path / "ok.parquet"
    frame.to_parquet(path)
    assert io.read_incidents(path).n_read == 2
