"""Roles and permissions, the sign-in configuration check, password hashing, access decisions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hotspot_env.app import access
from hotspot_env.app.access import AccessConfigError

REPO = Path(__file__).resolve().parent.parent

# The matrix the issue asks for, written out by hand (not derived from PERMISSIONS).
EXPECTED = {
    "public": {"view_public", "propose", "flag", "export_public"},
    "crew": {"view_public", "propose", "flag", "export_public", "interventions", "work_orders"},
    "staff": {"view_public", "propose", "flag", "export_public", "interventions", "work_orders",
              "internal_mode", "privacy_settings", "upload", "open_runs", "export_internal",
              "audit_log"},
}

GOOD_AUTH = {"redirect_uri": "https://maps.city.example/oauth2callback",
             "cookie_secret": "x" * 48, "client_id": "hotspot", "client_secret": "s3cr3t",
             "server_metadata_url": "https://id.city.example/.well-known/openid-configuration"}


@pytest.fixture(scope="module")
def staff_hash() -> str:
    return access.hash_password("correct horse battery")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "access.toml"
    path.write_text(text)
    return path


def password_config(tmp_path: Path, digest: str, role: str = "staff") -> str:
    return (f'sign_in = "password"\naudit_log = "{tmp_path / "audit.jsonl"}"\n'
            f'[users.ana]\nrole = "{role}"\npassword_hash = "{digest}"\n')


# ------------------------------------------------------------------ matrix
@pytest.mark.parametrize("role", access.ROLES)
def test_permission_matrix(role):
    allowed = {a for a in access.PERMISSIONS if access.can(role, a)}
    assert allowed == EXPECTED[role]


def test_unknown_action_is_an_error_not_a_silent_no():
    with pytest.raises(KeyError):
        access.can("staff", "export_everything")


@pytest.mark.parametrize(("role", "requested", "served"), [
    ("public", "internal", "public"), ("public", "public", "public"),
    ("crew", "internal", "public"), ("staff", "internal", "internal"),
    ("staff", "public", "public"), ("public", "anything", "public")])
def test_allowed_privacy(role, requested, served):
    assert access.allowed_privacy(role, requested) == served


# --------------------------------------------------------------- passwords
def test_password_round_trip(staff_hash):
    assert staff_hash.startswith("$argon2id$")
    assert "correct horse" not in staff_hash
    assert access.verify_password(staff_hash, "correct horse battery")
    assert not access.verify_password(staff_hash, "correct horse batterY")
    # an independent check with argon2-cffi's own verifier
    assert PasswordHasher().verify(staff_hash, "correct horse battery")


def test_two_hashes_of_one_password_differ(staff_hash):
    assert access.hash_password("correct horse battery") != staff_hash  # salted


def test_short_password_refused():
    with pytest.raises(AccessConfigError, match="12 characters"):
        access.hash_password("short")


def test_verify_rejects_garbage_hash():
    assert not access.verify_password("not-a-hash", "whatever")


def test_authenticate(tmp_path, staff_hash):
    config = access.load_config(environ={access.CONFIG_ENV: str(
        write(tmp_path, password_config(tmp_path, staff_hash, "crew")))})
    user = access.authenticate(config, "ana", "correct horse battery")
    assert user is not None and user.role == "crew" and user.id == "ana"
    assert access.authenticate(config, "ana", "wrong password!!") is None
    assert access.authenticate(config, "bob", "correct horse battery") is None
    assert "password_hash" not in repr(user) and staff_hash not in repr(user)


# ---------------------------------------------------------- configuration
def test_no_config_is_none(tmp_path):
    assert access.load_config(tmp_path, environ={}) is None


def test_default_location_is_read(tmp_path, staff_hash):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "access.toml").write_text(password_config(tmp_path, staff_hash))
    config = access.load_config(tmp_path, environ={})
    assert config.sign_in == "password" and set(config.users) == {"ana"}
    assert config.audit_log == tmp_path / "audit.jsonl"


@pytest.mark.parametrize(("text", "message"), [
    ('sign_in = "magic"\n', 'sign_in = "password" or sign_in = "oidc"'),
    ("sign_in = [\n", "not valid TOML"),
    ('sign_in = "password"\n', "at least one"),
    ('sign_in = "password"\n[users.ana]\nrole = "staff"\npassword = "hunter2hunter2"\n',
     "plain-text password"),
    ('sign_in = "password"\n[users.ana]\nrole = "staff"\npassword_hash = "abc"\n',
     "argon2 password_hash"),
    ('sign_in = "password"\n[users.ana]\nrole = "admin"\n'
     'password_hash = "$argon2id$v=19$m=65536,t=3,p=4$abc$def"\n', "role 'admin'"),
    ('sign_in = "oidc"\n', "[roles.values] or [roles.emails]"),
    ('sign_in = "oidc"\n[roles]\nclaim = "groups"\n[roles.values]\ngis = "boss"\n',
     "role 'boss'"),
    ('sign_in = "oidc"\naudit_log = 3\n[roles.emails]\n"a@b.c" = "staff"\n', "audit_log"),
])
def test_broken_config_is_one_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(AccessConfigError) as info:
        access.load_config(environ={access.CONFIG_ENV: str(path)})
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_named_config_missing_is_an_error(tmp_path):
    with pytest.raises(AccessConfigError, match="does not exist"):
        access.load_config(environ={access.CONFIG_ENV: str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(("change", "message"), [
    ({"redirect_uri": "https://maps.city.example/"}, "/oauth2callback"),
    ({"cookie_secret": "short"}, "too short"),
    ({"client_secret": ""}, "client_secret"),
    ({"server_metadata_url": None}, "server_metadata_url"),
])
def test_oidc_secrets_checked(change, message):
    auth = {**GOOD_AUTH, **change}
    with pytest.raises(AccessConfigError, match=message):
        access.check_oidc_secrets(auth)


def test_oidc_secrets_with_named_provider():
    shared = {k: GOOD_AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    provider = {k: GOOD_AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    access.check_oidc_secrets({**shared, "cityid": provider}, "cityid")
    with pytest.raises(AccessConfigError, match=r"\[auth.other\]"):
        access.check_oidc_secrets({**shared, "cityid": provider}, "other")


def test_startup_check(tmp_path):
    oidc = write(tmp_path, 'sign_in = "oidc"\n[roles.emails]\n"Ana@City.example" = "staff"\n')
    env = {access.CONFIG_ENV: str(oidc)}
    with pytest.raises(AccessConfigError, match="no \\[auth\\] section"):
        access.startup_check(environ=env, auth=None)
    config = access.startup_check(environ=env, auth=GOOD_AUTH)
    assert config.sign_in == "oidc" and config.email_roles == {"ana@city.example": "staff"}
    # [auth] without a role mapping: signed-in users would have no role
    with pytest.raises(AccessConfigError, match="no access configuration"):
        access.startup_check(tmp_path / "empty", environ={}, auth=GOOD_AUTH)
    assert access.startup_check(tmp_path / "empty", environ={}, auth=None) is None


def test_secrets_file_read_for_cli(tmp_path):
    (tmp_path / ".streamlit").mkdir()
    assert access.read_secrets_auth(tmp_path) is None
    (tmp_path / ".streamlit" / "secrets.toml").write_text("[auth]\nredirect_uri = 'x'\n")
    assert access.read_secrets_auth(tmp_path) == {"redirect_uri": "x"}
    (tmp_path / ".streamlit" / "secrets.toml").write_text("[auth\n")
    with pytest.raises(AccessConfigError, match="cannot be read as TOML"):
        access.read_secrets_auth(tmp_path)


# --------------------------------------------------------------- decisions
@pytest.mark.parametrize(("address", "local"), [
    ("localhost", True), ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("", False), (None, False), ("::", False),
    ("192.168.1.20", False), ("maps.city.example", False)])
def test_is_loopback(address, local):
    assert access.is_loopback(address) is local


def test_local_run_is_staff_and_says_so():
    decided = access.decide_access(None, "localhost", {"Host": "localhost:8501"})
    assert (decided.mode, decided.role, decided.user) == ("local", "staff", "local")
    assert "local single-user run" in decided.message
    assert decided.choice().name == "access_role" and decided.choice().value == "staff"


@pytest.mark.parametrize("address", ["0.0.0.0", "", None, "10.0.0.5"])
def test_unconfigured_server_is_public_only(address):
    decided = access.decide_access(None, address, {"Host": "10.0.0.5:8501"})
    assert (decided.mode, decided.role) == ("public_only", "public")
    assert "public mode only" in decided.message
    assert not decided.can("internal_mode") and not decided.sign_in_available


@pytest.mark.parametrize("headers", [
    {"Host": "localhost:8501", "X-Forwarded-For": "203.0.113.9"},
    {"Host": "127.0.0.1", "Forwarded": "for=203.0.113.9"},
    {"Host": "maps.city.example"}])
def test_proxied_localhost_is_not_the_local_user(headers):
    assert access.decide_access(None, "127.0.0.1", headers).role == "public"


def test_configured_server_is_public_until_sign_in(tmp_path, staff_hash):
    config = access.load_config(environ={access.CONFIG_ENV: str(
        write(tmp_path, password_config(tmp_path, staff_hash)))})
    # even on localhost: a configured server never hands out staff without sign-in
    anonymous = access.decide_access(config, "localhost", {"Host": "localhost"})
    assert (anonymous.role, anonymous.user, anonymous.mode) == ("public", "anonymous", "password")
    assert anonymous.sign_in_available
    signed = access.decide_access(config, "0.0.0.0", None, ("ana", "crew"))
    assert (signed.role, signed.user) == ("crew", "ana")
    assert signed.can("work_orders") and not signed.can("internal_mode")


def test_role_from_claims(tmp_path):
    path = write(tmp_path, 'sign_in = "oidc"\n[roles]\nclaim = "groups"\n'
                           '[roles.values]\n"gis-analysts" = "staff"\n"public-works" = "crew"\n'
                           '[roles.emails]\n"boss@city.example" = "crew"\n')
    config = access.load_config(environ={access.CONFIG_ENV: str(path)})
    role = access.role_from_claims
    assert role(config, {"groups": ["public-works"]}) == "crew"
    assert role(config, {"groups": ["public-works", "gis-analysts"]}) == "staff"  # most privileged
    assert role(config, {"groups": "gis-analysts"}) == "staff"
    assert role(config, {"groups": ["residents"]}) == "public"
    assert role(config, {}) == "public"
    # an explicit e-mail mapping wins over group claims
    assert role(config, {"email": "Boss@City.example", "groups": ["gis-analysts"]}) == "crew"


# --------------------------------------------------------------------- CLI
def _cli(*args: str, env: dict | None = None, cwd: Path = REPO, stdin: str | None = None):
    import os

    full_env = {k: v for k, v in os.environ.items() if k != access.CONFIG_ENV}
    full_env.update(env or {}, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "hotspot_env", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=120, input=stdin)


def test_cli_hash_password():
    done = _cli("hash-password", stdin="a long enough password\na long enough password\n")
    assert done.returncode == 0, done.stderr
    digest = re.search(r"\$argon2id\$\S+", done.stdout).group(0)  # after the prompts
    assert PasswordHasher().verify(digest, "a long enough password")
    assert "a long enough password" not in done.stdout
    short = _cli("hash-password", stdin="short\nshort\n")
    # (getpass warns on stderr first when stdin is not a terminal)
    assert short.returncode == 2
    assert short.stderr.strip().splitlines()[-1] == \
        "error: choose a password of at least 12 characters"


def test_cli_check_access(tmp_path, staff_hash):
    broken = write(tmp_path, 'sign_in = "password"\n[users.ana]\nrole = "staff"\n'
                             'password = "plain text here"\n')
    bad = _cli("check-access", "--address", "0.0.0.0", "--app-dir", str(tmp_path),
               env={access.CONFIG_ENV: str(broken)})
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    assert "plain-text password" in bad.stderr
    open_ = _cli("check-access", "--address", "0.0.0.0", "--app-dir", str(tmp_path))
    assert open_.returncode == 0 and "public mode only" in open_.stdout
    good = write(tmp_path, password_config(tmp_path, staff_hash))
    ok = _cli("check-access", "--address", "0.0.0.0", "--app-dir", str(tmp_path),
              env={access.CONFIG_ENV: str(good)})
    assert ok.returncode == 0 and "sign-in: password" in ok.stdout
