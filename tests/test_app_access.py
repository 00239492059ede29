# ruff: noqa: F811 - pytest fixtures are imported from tests.app_server
"""Who may see what, in a real browser: public visitors, crew, staff, the audit log.

Two Streamlit servers of this module's own (not the shared ``app_server``):

* ``open_server``: bound to 0.0.0.0 with no sign-in configured -> public mode only;
* ``signin_server``: on loopback with the hashed-password fallback configured
  (``HOTSPOT_ENV_ACCESS`` names a config in a temporary folder; the audit log
  goes there too), so visitors are public until they sign in as crew or staff.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app_server import (
    AppServer,
    Session,
    assert_no_exception,
    checked_session,
    make_session,
    running_server,
    wait_idle,
)
from tests.browser import chromium_available

pytestmark = pytest.mark.browser

PUBLIC_LABEL = "Public (counts below 5 hidden)"
INTERNAL_LABEL = "Internal (exact counts)"
PASSWORDS = {"ana": ("staff", "ana's long staff password"),
             "cruz": ("crew", "cruz's long crew password")}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory) -> Iterator[AppServer]:
    """A server on every interface with no sign-in configured."""
    if not chromium_available():
        pytest.fail("chromium is missing: run 'make test' (installs Debian's chromium)")
    tmp = tmp_path_factory.mktemp("open")
    with running_server(tmp, tmp / "cache", "0.0.0.0",
                        {"HOTSPOT_ENV_AUDIT_LOG": str(tmp / "audit.jsonl")}) as server:
        yield server


@pytest.fixture(scope="module")
def signin(tmp_path_factory) -> Iterator[tuple[AppServer, Path]]:
    """A loopback server with the hashed-password fallback; yields it and its audit log."""
    from hotspot_env.app.access import hash_password

    if not chromium_available():
        pytest.fail("chromium is missing: run 'make test' (installs Debian's chromium)")
    tmp = tmp_path_factory.mktemp("signin")
    audit = tmp / "audit.jsonl"
    lines = ['sign_in = "password"', f'audit_log = "{audit}"']
    for user, (role, password) in PASSWORDS.items():
        lines += [f"[users.{user}]", f'role = "{role}"',
                  f'password_hash = "{hash_password(password)}"']
    config = tmp / "access.toml"
    config.write_text("\n".join(lines) + "\n")
    with running_server(tmp, tmp / "cache", "127.0.0.1",
                        {"HOTSPOT_ENV_ACCESS": str(config)}) as server:
        yield server, audit


@pytest.fixture
def visitor(browser, request) -> Iterator[Session]:
    """A fresh browser session on the server named by the test's ``server`` parameter."""
    server = request.getfixturevalue(request.param)
    server = server[0] if isinstance(server, tuple) else server
    with checked_session(browser, server) as s:
        yield s


def _main(page: Any) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _sidebar(page: Any) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def _sign_in(page: Any, user: str) -> None:
    bar = page.locator('[data-testid="stSidebar"]')
    bar.get_by_role("textbox", name="User").fill(user)
    bar.get_by_role("textbox", name="Password").fill(PASSWORDS[user][1])
    bar.get_by_role("button", name="Sign in").click()
    bar.get_by_text(f"signed in as {user}").wait_for(timeout=60_000)
    wait_idle(page)


def _download(page: Any, name: str) -> bytes:
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name=name).click()
    return Path(info.value.path()).read_bytes()


def _assert_public_only(s: Session) -> None:
    """Every route to internal counts a public visitor could try, tried."""
    # by URL: the default page, and a made-up query parameter
    page = s.open("explore")
    assert f"privacy mode: {PUBLIC_LABEL}" in _main(page)
    assert "Access: public" in _sidebar(page)
    page.goto(f"{s.server.url}/?privacy=internal")
    page.get_by_role("heading", name="Explore", level=1).wait_for(timeout=60_000)
    wait_idle(page)
    assert f"privacy mode: {PUBLIC_LABEL}" in _main(page)
    # by widget: no privacy switch on the Data page, no upload form
    page = s.open("data", page)
    assert page.get_by_text(INTERNAL_LABEL).count() == 0
    assert page.locator('[data-testid="stRadio"]', has_text="Counts on Explore").count() == 0
    page.get_by_text("My own data").click()
    page.get_by_text("Uploading data is for staff").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
    # the interventions list and its downloads, reached by URL
    page = s.open("interventions")
    page.get_by_text("are for crews and staff").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Ranked list (CSV)").count() == 0
    assert page.get_by_role("button", name="Prepare printable work orders").count() == 0
    # by download: the manifest a public visitor can take describes the public analysis
    page = s.open("transparency", page)
    manifest = json.loads(_download(page, "Download manifest.json"))
    assert manifest["privacy"]["mode"] == "public"
    assert page.get_by_role("heading", name="Audit log").count() == 0
    # the Results section: the simulated demo ledger in public view, no switch, no upload
    page.get_by_role("heading", name="Results: did it work?").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_text("Public view (counts below 5 hidden)").count() == 0
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
    assert_no_exception(page)


@pytest.mark.parametrize("visitor", ["open_server"], indirect=True)
def test_unconfigured_server_on_all_interfaces_is_public_only(visitor):
    page = visitor.open("explore")
    assert "public mode only" in _sidebar(page)
    assert "0.0.0.0" in _sidebar(page)
    assert page.get_by_role("button", name="Sign in").count() == 0  # nothing to sign in to
    _assert_public_only(visitor)


@pytest.mark.parametrize("visitor", ["signin"], indirect=True)
def test_public_visitor_cannot_reach_internal_counts(visitor):
    page = visitor.open("explore")
    assert "not signed in" in _sidebar(page)
    _assert_public_only(visitor)


@pytest.mark.parametrize("visitor", ["signin"], indirect=True)
def test_wrong_password_stays_public(visitor, signin):
    page = visitor.open("explore")
    bar = page.locator('[data-testid="stSidebar"]')
    bar.get_by_role("textbox", name="User").fill("ana")
    bar.get_by_role("textbox", name="Password").fill("not her password at all")
    bar.get_by_role("button", name="Sign in").click()
    bar.get_by_text("Wrong user or password").wait_for(timeout=30_000)
    assert "Access: public" in _sidebar(page)
    entries = [json.loads(line) for line in signin[1].read_text().splitlines()]
    failed = [e for e in entries if e["action"] == "sign_in_failed"]
    assert failed and failed[-1]["user"] == "anonymous"  # the typed user id is not kept


@pytest.mark.parametrize("visitor", ["signin"], indirect=True)
def test_crew_gets_work_orders_not_internal_mode(visitor, signin):
    page = visitor.open("explore")
    _sign_in(page, "cruz")
    assert "signed in as cruz (crew)" in _sidebar(page)
    page = visitor.open("interventions", page)
    page.get_by_role("button", name="Prepare printable work orders").wait_for(timeout=60_000)
    csv_bytes = _download(page, "Ranked list (CSV)")
    assert csv_bytes.startswith(b"#") or b"rank" in csv_bytes[:400]
    page = visitor.open("explore", page)
    assert f"privacy mode: {PUBLIC_LABEL}" in _main(page)
    page = visitor.open("data", page)
    assert page.get_by_text(INTERNAL_LABEL).count() == 0
    page = visitor.open("transparency", page)
    assert page.get_by_role("heading", name="Audit log").count() == 0
    entries = [json.loads(line) for line in signin[1].read_text().splitlines()]
    mine = [e for e in entries if e["user"] == "cruz"]
    assert [e["action"] for e in mine[:2]] == ["sign_in", "export"]
    assert mine[0]["detail"] == "crew" and mine[1]["detail"] == "interventions.csv"
    assert re.fullmatch(r"[0-9a-f]{64}", mine[1]["file_hash"])
    assert re.fullmatch(r"[0-9a-f]{64}", mine[1]["manifest_hash"])


@pytest.mark.parametrize("visitor", ["signin"], indirect=True)
def test_staff_see_everything_and_the_audit_log_records_it(visitor, signin):
    import hashlib

    page = visitor.open("explore")
    _sign_in(page, "ana")
    page = visitor.open("data", page)
    # staff start in internal mode; to public and back: two privacy-mode changes
    assert page.get_by_role("radio", name=INTERNAL_LABEL).is_checked()
    page.get_by_text(PUBLIC_LABEL).click()
    wait_idle(page)
    page.get_by_text(INTERNAL_LABEL).click()
    wait_idle(page)
    page.get_by_text("My own data").click()
    page.locator('[data-testid="stFileUploader"]').first.wait_for(timeout=30_000)
    page = visitor.open("explore", page)
    assert f"privacy mode: {INTERNAL_LABEL}" in _main(page)
    page = visitor.open("interventions", page)
    page.get_by_role("button", name="Ranked list (CSV)").wait_for(timeout=60_000)
    page = visitor.open("transparency", page)
    page.get_by_label("Or describe the place (street, landmark)").fill("Corner by the library")
    page.get_by_label("Why").fill("There is a new lamp here since May")
    page.get_by_role("button", name="Send flag").click()
    page.get_by_text("flag 1 recorded").wait_for(timeout=30_000)
    wait_idle(page)
    manifest = _download(page, "Download manifest.json")
    wait_idle(page)  # the export's rerun shows the log with its entry
    assert json.loads(manifest)["privacy"]["mode"] == "internal"
    page.get_by_role("heading", name="Audit log").wait_for(timeout=30_000)
    exported = _download(page, "Audit log (JSON lines)")
    wait_idle(page)
    log_text = signin[1].read_text()
    entries = [json.loads(line) for line in log_text.splitlines()]
    ana = [e for e in entries if e["user"] == "ana"]
    assert [e["action"] for e in ana] == ["sign_in", "privacy_mode", "privacy_mode", "flag",
                                          "export", "export"]
    assert [e["detail"] for e in ana[:3]] == ["staff", "public", "internal"]
    assert ana[3]["detail"] == "flag-1"
    assert ana[4]["detail"] == "manifest.json"
    assert ana[4]["file_hash"] == hashlib.sha256(manifest).hexdigest()
    assert ana[5]["detail"] == "audit_log.jsonl"
    assert ana[5]["file_hash"] == hashlib.sha256(exported).hexdigest()
    assert all(e["role"] == "staff" for e in ana)
    # the export the evaluator takes is the log as it was (before its own entry)
    assert [json.loads(line) for line in exported.decode().splitlines()] == entries[:-1]
    # never incident data: no decimal number (a coordinate or a rate) anywhere in the log
    assert not re.search(r"-?\d+\.\d+", log_text)


@pytest.mark.parametrize("visitor", ["signin"], indirect=True)
def test_public_proposal_and_its_export_are_audited(visitor, signin):
    """A resident's proposal and its download: recorded as anonymous public, no coordinates."""
    import hashlib

    import numpy as np

    from hotspot_env.app.places import cell_centre_lonlat
    from hotspot_env.core.analysis import analyze
    from hotspot_env.inputs.demo import demo_incidents_path, demo_osm_path
    from tests.app_server import click_map, map_frame, wait_overlay

    grid = analyze(demo_incidents_path(), osm=demo_osm_path(), privacy="public").grid
    row, col = np.argwhere(grid.mask)[int(grid.mask.sum()) // 2]
    lon, lat = cell_centre_lonlat(grid, row, col)
    page = visitor.open("co-design")
    frame = map_frame(page)
    wait_overlay(frame)
    click_map(frame, lat, lon, expect=page.get_by_text("recorded incidents:"))
    wait_idle(page)
    page.get_by_label("Why here? (a short note)").fill("More light by the bus stop, please")
    page.get_by_role("button", name="Add proposal").click()
    page.get_by_text("Proposals (1)").wait_for(timeout=30_000)
    wait_idle(page)
    data = _download(page, "Proposals (CSV)")
    wait_idle(page)
    log_text = signin[1].read_text()
    entries = [json.loads(line) for line in log_text.splitlines()]
    proposal = [e for e in entries if e["action"] == "proposal"]
    export = [e for e in entries if e["detail"] == "proposals.csv"]
    assert len(proposal) == 1 and len(export) == 1
    assert (proposal[0]["role"], proposal[0]["user"], proposal[0]["detail"]) == \
        ("public", "anonymous", "P001")
    assert export[0]["file_hash"] == hashlib.sha256(data).hexdigest()
    # the proposal's own coordinates (in the CSV) are not in the log, nor the note
    row = next(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert abs(float(row["lat"]) - lat) < 1e-5
    assert row["lat"] not in log_text and row["lon"] not in log_text
    assert "bus stop" not in log_text


def test_broken_configuration_serves_nothing_but_the_error(browser, tmp_path):
    """A plain-text password in the config: one error line, no page, not even public mode."""
    config = tmp_path / "access.toml"
    config.write_text('sign_in = "password"\n[users.ana]\nrole = "staff"\n'
                      'password = "plain text password"\n')
    with running_server(tmp_path, tmp_path / "cache", "0.0.0.0",
                        {"HOTSPOT_ENV_ACCESS": str(config)}) as server:
        s = make_session(browser, server)
        try:
            page = s.new_page()
            page.goto(server.url)
            alert = page.locator('[data-testid="stAlert"]')
            alert.wait_for(timeout=60_000)
            wait_idle(page)
            text = alert.inner_text()
            assert text.startswith("error: ") and "plain-text password" in text
            assert text.strip().count("\n") == 0
            assert page.get_by_role("heading", level=1).count() == 0
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            assert s.blocked == [] and s.errors == []
        finally:
            s.context.close()
    assert "error: " in server.log.read_text()
