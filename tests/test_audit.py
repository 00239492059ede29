"""The audit trail: one JSON line per action, never incident data, exportable."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
from datetime import UTC, datetime

import pytest

from hotspot_env.app.audit import FIELDS, AuditLog, sha256_bytes
from hotspot_env.errors import HotspotEnvError


def test_entries_round_trip(tmp_path):
    log = AuditLog(tmp_path / "sub" / "audit.jsonl")
    data = b"rank,type\n1,lighting\n"
    when = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
    log.record("export", role="staff", user="local", detail="interventions.csv",
               manifest_hash="ab" * 32, file_hash=sha256_bytes(data), now=when)
    log.record("privacy_mode", role="staff", user="local", detail="public", now=when)
    lines = (tmp_path / "sub" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == list(FIELDS)
    assert first["time"] == "2026-12-05T21:00:00+00:00"
    assert first["file_hash"] == hashlib.sha256(data).hexdigest()  # independent reference
    assert [e["action"] for e in log.entries()] == ["export", "privacy_mode"]


def test_log_file_is_private(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("flag", role="public", user="anonymous", detail="flag-1")
    assert (log.path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("detail", [
    "-23.5505,-46.6333", "23.5505 46.6333", "POINT (-46.63 -23.55)", "a note typed by someone",
    "x" * 81, "1.0", "<script>"])
def test_details_cannot_carry_coordinates_or_text(tmp_path, detail):
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(HotspotEnvError, match="audit detail"):
        log.record("proposal", role="public", user="anonymous", detail=detail)
    assert not log.path.exists()  # nothing half-written


def test_unknown_action_and_bad_hash_refused(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(HotspotEnvError, match="unknown audit action"):
        log.record("download_everything", role="staff", user="local")
    with pytest.raises(HotspotEnvError, match="hex digest"):
        log.record("export", role="staff", user="local", file_hash="-46.63,-23.55")


def test_no_coordinates_in_a_realistic_log(tmp_path):
    """Every number in the log is a timestamp part or inside a hash: no coordinate can appear."""
    log = AuditLog(tmp_path / "audit.jsonl")
    for action, detail in [("export", "interventions.gpkg"), ("upload", "incidents"),
                           ("proposal", "P001"), ("flag", "flag-3"), ("sign_in", "crew"),
                           ("privacy_mode", "internal")]:
        log.record(action, role="staff", user="ana", detail=detail,
                   manifest_hash=sha256_bytes("manifest"), file_hash=sha256_bytes(detail))
    text = log.path.read_text()
    assert not re.search(r"-?\d+\.\d+", text)  # no decimal number anywhere
    for entry in log.entries():
        assert set(entry) == set(FIELDS)


def test_concurrent_appends_never_interleave(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")

    def work(i: int) -> None:
        for j in range(25):
            log.record("export", role="staff", user=f"user{i}", detail=f"file{j}.csv")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log.path.read_text().splitlines()
    assert len(lines) == 100
    assert all(json.loads(line)["action"] == "export" for line in lines)


def test_truncated_last_line_is_skipped(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("flag", role="public", user="anonymous", detail="flag-1")
    with log.path.open("a") as f:
        f.write('{"time": "2026-')  # a crash mid-write
    assert len(log.entries()) == 1


def test_exports(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.entries() == [] and log.export_jsonl() == ""
    log.record("upload", role="staff", user="local", detail="osm", file_hash="0" * 64)
    rows = list(csv.DictReader(io.StringIO(log.export_csv())))
    assert rows[0]["action"] == "upload" and rows[0]["file_hash"] == "0" * 64
    assert list(rows[0]) == list(FIELDS)
    assert json.loads(log.export_jsonl())["detail"] == "osm"
