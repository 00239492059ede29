"""The audit trail: who exported, uploaded, switched privacy, proposed or flagged, and when.

One JSON object per line, appended to a local file (JSON lines) that an
independent evaluator can read with any tool. Each entry holds the time
(UTC), the role, the user id (``"local"`` on a laptop run, ``"anonymous"``
for a public visitor), the action, a short detail (a file name, a mode, a
proposal or flag id), the hash of the analysis manifest and the hash of the
file concerned. Never incident data: no coordinates, no counts, no free text
typed by a visitor (details are checked against :data:`DETAIL_PATTERN`).

Appends are serialised by a process lock and an ``flock`` on the file, and
each entry is written with a single ``write`` of one complete line, so
concurrent sessions never interleave half lines.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotspot_env import settings
from hotspot_env.errors import HotspotEnvError

#: What is recorded. Sign-ins are recorded too (who gained which role).
ACTIONS: frozenset[str] = frozenset({
    "export", "upload", "privacy_mode", "proposal", "flag", "sign_in", "sign_in_failed",
    "sign_out", "open_run"})

#: The fields of an entry, in order (also the CSV header).
FIELDS: tuple[str, ...] = ("time", "role", "user", "action", "detail", "manifest_hash",
                           "file_hash")

#: A detail is a file name, a mode or an id: letters, digits, a few separators, no spaces
#: or commas, so a coordinate pair or a sentence cannot slip in.
DETAIL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,79}$")

#: Environment variable naming the audit log (overrides the access configuration).
LOG_ENV = "HOTSPOT_ENV_AUDIT_LOG"

_LOCK = threading.Lock()


def default_path() -> Path:
    """The audit log when nothing names one: ``audit.jsonl`` in the cache folder."""
    named = os.environ.get(LOG_ENV, "").strip()
    return Path(named).expanduser() if named else Path(settings.cache_folder) / "audit.jsonl"


def sha256_bytes(data: bytes | str) -> str:
    """The SHA-256 hex digest of ``data`` (text as UTF-8)."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@dataclass(frozen=True)
class AuditLog:
    """An append-only JSON-lines audit log at ``path``."""

    path: Path

    def record(self, action: str, *, role: str, user: str, detail: str = "",
               manifest_hash: str = "", file_hash: str = "",
               now: datetime | None = None) -> dict[str, Any]:
        """Append one entry and return it.

        Raises
        ------
        HotspotEnvError
            An unknown action, or a detail that is not a plain name or id.
        """
        if action not in ACTIONS:
            raise HotspotEnvError(f"unknown audit action {action!r}")
        if detail and not DETAIL_PATTERN.match(detail):
            raise HotspotEnvError("an audit detail must be a file name, mode or id "
                                  f"(letters, digits, . _ -), not {detail[:40]!r}")
        for name, value in (("manifest_hash", manifest_hash), ("file_hash", file_hash)):
            if value and not re.fullmatch(r"[0-9a-f]{8,64}", value):
                raise HotspotEnvError(f"{name} must be a hex digest")
        entry = {"time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
                 "role": str(role), "user": str(user)[:120], "action": action,
                 "detail": detail, "manifest_hash": manifest_hash, "file_hash": file_hash}
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)  # one complete line per write (O_APPEND)
                os.fsync(fd)
            finally:
                os.close(fd)  # closing releases the flock
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (an unreadable line, e.g. a crash mid-disk, is skipped)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                out.append({k: entry.get(k, "") for k in FIELDS})
        return out

    def export_csv(self, entries: Iterable[dict[str, Any]] | None = None) -> str:
        """The log as CSV text (for an evaluator without a JSON tool)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(FIELDS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.entries() if entries is None else entries)
        return buffer.getvalue()

    def export_jsonl(self) -> str:
        """The log as JSON lines (valid lines only)."""
        return "".join(json.dumps(e, ensure_ascii=True) + "\n" for e in self.entries())
