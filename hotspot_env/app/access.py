"""Who may see what: roles, their permissions, sign-in configuration and the start-up check.

Three roles (documented in ``docs/deployment.md``):

``public``
    Anyone not signed in: public mode only (counts below *k* hidden), the
    Co-design page and flags, no uploads, no internal exports.
``crew``
    Adds the interventions list and printable work orders, still with
    public-mode counts.
``staff``
    Everything: internal mode (exact counts), uploads, every export, the
    privacy settings and the audit log.

Who gets which role is decided once per page run by :func:`decide_access`:

* a sign-in configuration exists (``.streamlit/access.toml`` or the file named
  by ``HOTSPOT_ENV_ACCESS``) -> visitors are *public* until they sign in,
  with OpenID Connect (Streamlit's ``st.login``, provider in
  ``.streamlit/secrets.toml``) or with the hashed-password fallback;
* no configuration, bound to localhost and reached directly (no proxy) ->
  the single-user laptop run of ``make app``: *staff*, no sign-in;
* no configuration, any other address -> *public* mode only.

A configuration that exists but is broken (unreadable, a plain-text password,
an unknown role, OpenID Connect without its secrets) raises
:class:`AccessConfigError` with one line: the app then shows only that line,
never an open server. This module never imports Streamlit; the app passes
the bound address, request headers and ``st.secrets["auth"]`` in.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from hotspot_env.core.choices import Choice
from hotspot_env.errors import HotspotEnvError

Role = Literal["public", "crew", "staff"]

#: The roles, least to most privileged.
ROLES: tuple[Role, ...] = ("public", "crew", "staff")

_EVERYONE = frozenset(ROLES)
_CREW_UP = frozenset({"crew", "staff"})
_STAFF = frozenset({"staff"})

#: Action -> the roles allowed to do it. Page code asks :func:`can`, never a role name.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_public": _EVERYONE,        # Explore, Transparency, Co-design in public mode
    "propose": _EVERYONE,            # co-design proposals
    "flag": _EVERYONE,               # "this looks wrong"
    "export_public": _EVERYONE,      # downloads of public-mode outputs
    "interventions": _CREW_UP,       # the ranked list, its map and downloads
    "work_orders": _CREW_UP,         # printable work orders
    "internal_mode": _STAFF,         # exact counts
    "privacy_settings": _STAFF,      # the Data page's privacy switch
    "upload": _STAFF,                # the user's own incidents, layers, OSM
    "open_runs": _STAFF,             # national run folders on the server (allowed roots)
    "export_internal": _STAFF,       # any download made in internal mode
    "audit_log": _STAFF,             # view and export the audit trail
}

#: Environment variable naming the access configuration file.
CONFIG_ENV = "HOTSPOT_ENV_ACCESS"

#: Where the access configuration is looked for when the variable is unset.
DEFAULT_CONFIG = Path(".streamlit") / "access.toml"

#: Addresses that only this machine can reach.
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost"})

#: Headers a reverse proxy adds: a proxied request is never "the local user".
_PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-real-ip", "forwarded")

#: Hash prefixes of the password libraries accepted (argon2-cffi; bcrypt).
_HASH_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")

#: Keys the ``[auth]`` section of ``secrets.toml`` needs for OpenID Connect.
_OIDC_SHARED = ("redirect_uri", "cookie_secret")
_OIDC_PROVIDER = ("client_id", "client_secret", "server_metadata_url")


class AccessConfigError(HotspotEnvError):
    """The sign-in configuration is missing a required part or is broken."""


@dataclass(frozen=True)
class User:
    """A user of the hashed-password fallback (never a plain-text password)."""

    id: str
    role: Role
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class AccessConfig:
    """A validated sign-in configuration.

    Parameters
    ----------
    sign_in : {"password", "oidc"}
        The hashed-password fallback or Streamlit's OpenID Connect.
    users : dict
        User id -> :class:`User` (password sign-in).
    claim : str
        The identity claim mapped to roles (OpenID Connect), e.g. ``"groups"``.
    claim_roles : dict
        Claim value (a group name, a domain...) -> role.
    email_roles : dict
        Lower-case e-mail address -> role; wins over ``claim_roles``.
    provider : str or None
        The ``[auth.<provider>]`` section of ``secrets.toml`` to sign in with.
    audit_log : Path or None
        Where the audit trail is appended (see :mod:`hotspot_env.app.audit`).
    source : Path
        The file read.
    """

    sign_in: Literal["password", "oidc"]
    source: Path
    users: dict[str, User] = field(default_factory=dict)
    claim: str = "groups"
    claim_roles: dict[str, Role] = field(default_factory=dict)
    email_roles: dict[str, Role] = field(default_factory=dict)
    provider: str | None = None
    audit_log: Path | None = None


@dataclass(frozen=True)
class Access:
    """The access decision for one page run.

    Parameters
    ----------
    mode : {"local", "public_only", "password", "oidc"}
        How roles are decided.
    role : Role
        The visitor's role now.
    user : str
        ``"local"`` for the laptop run, the signed-in user's id, or
        ``"anonymous"``.
    message : str
        One sentence shown on screen saying how the role was decided.
    config : AccessConfig or None
        The sign-in configuration, if any.
    """

    mode: Literal["local", "public_only", "password", "oidc"]
    role: Role
    user: str
    message: str
    config: AccessConfig | None = None

    def can(self, action: str) -> bool:
        """Whether this visitor may do ``action`` (see :data:`PERMISSIONS`)."""
        return can(self.role, action)

    @property
    def sign_in_available(self) -> bool:
        """True when a visitor can sign in to get another role."""
        return self.mode in ("password", "oidc")

    def choice(self) -> Choice:
        """The decision as an announced automatic choice (manifest, CLI, app)."""
        return Choice("access_role", self.role, self.message)


def can(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action``.

    Raises
    ------
    KeyError
        For an action not in :data:`PERMISSIONS` (a typo must not grant or deny
        silently).
    """
    return role in PERMISSIONS[action]


def allowed_privacy(role: str, requested: str) -> str:
    """The privacy mode actually served: ``requested`` unless the role may not see it.

    Whatever a session's state or a widget says, a role without
    ``internal_mode`` gets ``"public"``.
    """
    if requested == "public" or not can(role, "internal_mode"):
        return "public"
    return "internal"


# ----------------------------------------------------------------- passwords
def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for the config file (argon2-cffi's defaults)."""
    from argon2 import PasswordHasher

    if len(password) < 12:
        raise AccessConfigError("choose a password of at least 12 characters")
    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash`` (argon2-cffi; constant time)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(config: AccessConfig, user_id: str, password: str) -> User | None:
    """The user if ``user_id`` and ``password`` match the config, else None.

    An unknown user id costs a hash verification too, so timing does not tell
    which user ids exist.
    """
    user = config.users.get(user_id.strip())
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


@functools.cache
def _dummy_hash() -> str:
    """A hash verified against when the user id is unknown (equal cost either way)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(secrets.token_urlsafe(16))


# ------------------------------------------------------------- configuration
def config_path(app_dir: Path | None = None,
                environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Where the access configuration is, and whether it was named explicitly."""
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_ENV, "").strip()
    if named:
        return Path(named).expanduser(), True
    return (app_dir or Path.cwd()) / DEFAULT_CONFIG, False


def _role(value: Any, where: str, source: Path) -> Role:
    if value not in ROLES:
        raise AccessConfigError(f"{source}: {where} has role {str(value)[:30]!r}; use one of "
                                f"{', '.join(ROLES)}")
    return value


def parse_config(data: Mapping[str, Any], source: Path) -> AccessConfig:
    """Validate a parsed ``access.toml``; one-line :class:`AccessConfigError` if broken."""
    sign_in = data.get("sign_in")
    if sign_in not in ("password", "oidc"):
        raise AccessConfigError(f"{source}: set sign_in = \"password\" or sign_in = \"oidc\"")
    audit = data.get("audit_log")
    if audit is not None and (not isinstance(audit, str) or not audit.strip()):
        raise AccessConfigError(f"{source}: audit_log must be a file path")
    audit_log = Path(audit).expanduser() if audit else None
    if sign_in == "password":
        raw_users = data.get("users")
        if not isinstance(raw_users, dict) or not raw_users:
            raise AccessConfigError(f"{source}: sign_in = \"password\" needs at least one "
                                    "[users.NAME] table with role and password_hash")
        users: dict[str, User] = {}
        for user_id, entry in raw_users.items():
            if not isinstance(entry, dict):
                raise AccessConfigError(f"{source}: [users.{user_id}] must be a table")
            if "password" in entry:
                raise AccessConfigError(f"{source}: user {user_id!r} has a plain-text password; "
                                        "replace it with password_hash from 'hotspot-env "
                                        "hash-password'")
            digest = entry.get("password_hash")
            if not isinstance(digest, str) or not digest.startswith(_HASH_PREFIXES):
                raise AccessConfigError(f"{source}: user {user_id!r} needs an argon2 "
                                        "password_hash (make one with 'hotspot-env "
                                        "hash-password')")
            users[user_id] = User(user_id, _role(entry.get("role"), f"user {user_id!r}", source),
                                  digest)
        return AccessConfig("password", source, users=users, audit_log=audit_log)
    roles = data.get("roles", {})
    if not isinstance(roles, dict):
        raise AccessConfigError(f"{source}: [roles] must be a table")
    claim = roles.get("claim", "groups")
    if not isinstance(claim, str) or not claim:
        raise AccessConfigError(f"{source}: roles.claim must name an identity claim")
    claim_roles = {str(k): _role(v, f"roles.{claim}.{k}", source)
                   for k, v in (roles.get("values") or {}).items()}
    email_roles = {str(k).strip().lower(): _role(v, f"roles.emails.{k}", source)
                   for k, v in (roles.get("emails") or {}).items()}
    if not claim_roles and not email_roles:
        raise AccessConfigError(f"{source}: sign_in = \"oidc\" needs [roles.values] or "
                                "[roles.emails] mapping identities to crew or staff")
    provider = data.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise AccessConfigError(f"{source}: provider must be the name of an [auth.NAME] section")
    return AccessConfig("oidc", source, claim=claim, claim_roles=claim_roles,
                        email_roles=email_roles, provider=provider, audit_log=audit_log)


def load_config(app_dir: Path | None = None,
                environ: Mapping[str, str] | None = None) -> AccessConfig | None:
    """Read the access configuration; None when there is none (and none was named).

    Raises
    ------
    AccessConfigError
        The file named by ``HOTSPOT_ENV_ACCESS`` is missing, or the file is
        unreadable, not TOML, or fails :func:`parse_config`.
    """
    path, named = config_path(app_dir, environ)
    if not path.exists():
        if named:
            raise AccessConfigError(f"{CONFIG_ENV} names {path}, which does not exist: create "
                                    "it (see docs/deployment.md) or unset the variable")
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessConfigError(f"cannot read access configuration {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AccessConfigError(f"access configuration {path} is not valid TOML: {exc}") from exc
    return parse_config(data, path)


def check_oidc_secrets(auth: Mapping[str, Any] | None, provider: str | None = None) -> None:
    """Check the ``[auth]`` section of ``secrets.toml`` for OpenID Connect.

    Raises
    ------
    AccessConfigError
        A missing section, ``redirect_uri`` not ending in ``/oauth2callback``,
        a short ``cookie_secret`` or a provider without its three keys.
    """
    if not auth:
        raise AccessConfigError("sign_in = \"oidc\" but .streamlit/secrets.toml has no [auth] "
                                "section: add redirect_uri, cookie_secret and the provider's "
                                "client_id, client_secret and server_metadata_url")
    missing = [k for k in _OIDC_SHARED if not str(auth.get(k) or "").strip()]
    if missing:
        raise AccessConfigError(f"secrets.toml [auth] lacks {', '.join(missing)}")
    if not str(auth["redirect_uri"]).rstrip().endswith("/oauth2callback"):
        raise AccessConfigError("secrets.toml [auth] redirect_uri must end with /oauth2callback")
    if len(str(auth["cookie_secret"])) < 32:
        raise AccessConfigError("secrets.toml [auth] cookie_secret is too short: use at least "
                                "32 random characters (python -c 'import secrets; "
                                "print(secrets.token_urlsafe(48))')")
    section = auth if provider is None else auth.get(provider)
    where = "[auth]" if provider is None else f"[auth.{provider}]"
    if not isinstance(section, Mapping):
        raise AccessConfigError(f"secrets.toml has no {where} section for provider {provider!r}")
    missing = [k for k in _OIDC_PROVIDER if not str(section.get(k) or "").strip()]
    if missing:
        raise AccessConfigError(f"secrets.toml {where} lacks {', '.join(missing)}")


def startup_check(app_dir: Path | None = None, environ: Mapping[str, str] | None = None,
                  auth: Mapping[str, Any] | None = None) -> AccessConfig | None:
    """Everything the app checks before serving anyone (raises one line if broken).

    A ``[auth]`` section in ``secrets.toml`` without an access configuration
    is an error too: signed-in users would have no role mapping.
    """
    config = load_config(app_dir, environ)
    if config is None:
        if auth:
            raise AccessConfigError("secrets.toml has an [auth] section but there is no access "
                                    "configuration mapping identities to roles: create "
                                    ".streamlit/access.toml with sign_in = \"oidc\" and [roles]")
        return None
    if config.sign_in == "oidc":
        check_oidc_secrets(auth, config.provider)
    return config


# ----------------------------------------------------------------- decisions
def is_loopback(address: str | None) -> bool:
    """True if a server bound to ``address`` is reachable only from this machine.

    An empty address means every interface (Streamlit's default), so False.
    """
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_direct_local_request(headers: Mapping[str, str] | None) -> bool:
    """True unless the request came through a proxy or names another host.

    A reverse proxy in front of a localhost-bound app makes it public; its
    ``X-Forwarded-*``/``Forwarded`` headers or a foreign ``Host`` reveal that.
    """
    if headers is None:
        return True
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if any(h in lowered for h in _PROXY_HEADERS):
        return False
    host = urlsplit("//" + lowered.get("host", "localhost")).hostname
    return is_loopback(host)


def role_from_claims(config: AccessConfig, claims: Mapping[str, Any]) -> Role:
    """The role of an OpenID Connect user: e-mail mapping first, then the claim's values.

    A claim may be a string or a list (groups); the most privileged match wins;
    no match gives ``public``.
    """
    email = str(claims.get("email") or "").strip().lower()
    if email and email in config.email_roles:
        return config.email_roles[email]
    values = claims.get(config.claim)
    if isinstance(values, str):
        values = [values]
    matched = [config.claim_roles[str(v)] for v in (values or []) if str(v) in config.claim_roles]
    if not matched:
        return "public"
    return max(matched, key=ROLES.index)


def decide_access(config: AccessConfig | None, address: str | None,
                  headers: Mapping[str, str] | None = None,
                  signed_in: tuple[str, Role] | None = None) -> Access:
    """Decide the visitor's role for this page run.

    Parameters
    ----------
    config : AccessConfig or None
        From :func:`startup_check`.
    address : str or None
        The address the server is bound to (``server.address``).
    headers : mapping, optional
        The request's headers (to notice a reverse proxy).
    signed_in : (user id, role), optional
        A verified sign-in of this session, if any.
    """
    if config is not None:
        if signed_in is not None:
            user, role = signed_in
            return Access(config.sign_in, role, user,
                          f"signed in as {user} ({role})", config)
        return Access(config.sign_in, "public", "anonymous",
                      "not signed in: public mode only; sign in for more", config)
    if is_loopback(address) and is_direct_local_request(headers):
        return Access("local", "staff", "local",
                      "local single-user run on this computer (bound to localhost, no sign-in "
                      "configured): staff, every mode and export")
    where = address or "every network interface"
    return Access("public_only", "public", "anonymous",
                  f"served on {where} with no sign-in configured: public mode only "
                  "(see docs/deployment.md to sign in staff)")


def read_secrets_auth(app_dir: Path | None = None) -> dict[str, Any] | None:
    """The ``[auth]`` section of ``<app_dir>/.streamlit/secrets.toml`` (for the CLI check).

    The app reads the same section through ``st.secrets``.
    """
    path = (app_dir or Path.cwd()) / ".streamlit" / "secrets.toml"
    if not path.exists():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AccessConfigError(f"{path} cannot be read as TOML: {exc}") from exc
    auth = data.get("auth")
    return auth if isinstance(auth, dict) else None
