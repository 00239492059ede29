"""Opening a national or regional run in the app: allowed folders, the region list, one region.

A national run folder (:func:`hotspot_env.scale.regions.run_national`,
:func:`hotspot_env.scale.tiled_outputs.write_tiled_run`) sits on the server.
The app never reads a path typed into the browser unless it lies under one of
the folders the server allows (:func:`run_roots`):

* ``HOTSPOT_ENV_RUN_ROOTS`` (folders separated by ``os.pathsep``) names them;
* without it, the local single-user run of ``make app`` (bound to localhost,
  no sign-in) may open folders under the user's home folder;
* without it, a served app opens no folder at all.

The path is resolved (symbolic links followed) before it is compared with the
roots, and region names from the manifest must be plain file names, so neither
a link nor a crafted manifest leads outside the folder. Which folders are
allowed is an automatic choice, announced (:meth:`RunRoots.choice`).

Only the manifest is read to list the regions (:meth:`NationalRun.region_table`);
picking one reads that region's partitions only
(:func:`hotspot_env.scale.outputs.open_region`).

Privacy: a run shows the outputs it saved, which passed the privacy gate in the
run's own mode. A public session (a role without internal mode, or the public
switch, or the Co-design page) shows only a run written in public mode
(:func:`check_privacy`); an internal run's exact counts never reach it.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hotspot_env.core.choices import Choice
from hotspot_env.errors import InputError

if TYPE_CHECKING:
    from hotspot_env.scale.outputs import RegionView

#: Environment variable naming the folders a national run may be opened from.
RUN_ROOTS_ENV = "HOTSPOT_ENV_RUN_ROOTS"

#: What a page says for a section a national run did not save.
NOT_SAVED = "not part of a national run's saved outputs"

#: A region name that is a plain file name (no separator, no leading dot).
_REGION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$")

#: Rounding of a public run's tallies in the region list (as ``public_totals`` does).
_PUBLIC_ROUND = -1


@dataclass(frozen=True)
class RunRoots:
    """The folders under which this server opens national runs.

    Attributes
    ----------
    roots : tuple of Path
        Resolved folders; empty when opening runs is switched off.
    rule : str
        How they were decided, in one sentence.
    """

    roots: tuple[Path, ...]
    rule: str

    def choice(self) -> Choice:
        """The decision as an announced automatic choice."""
        return Choice("run_roots", [str(r) for r in self.roots], self.rule)

    def describe(self) -> str:
        """The roots in a short line (for messages)."""
        return ", ".join(str(r) for r in self.roots) or "none"


def run_roots(local: bool, environ: Mapping[str, str] | None = None) -> RunRoots:
    """The folders a national run may be opened from.

    Parameters
    ----------
    local : bool
        True for the single-user laptop run (access mode ``"local"``).
    environ : mapping, optional
        The environment (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    named = [p.strip() for p in environ.get(RUN_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    if named:
        roots = tuple(Path(p).expanduser().resolve() for p in named)
        return RunRoots(roots, f"{RUN_ROOTS_ENV} names the folders national runs are opened from")
    if local:
        return RunRoots((Path.home().resolve(),),
                        f"{RUN_ROOTS_ENV} is not set and this is the local single-user run: "
                        "folders under your home folder may be opened")
    return RunRoots((), f"{RUN_ROOTS_ENV} is not set on this server: opening run folders is "
                        "switched off (the administrator names the allowed folders)")


def resolve_run_folder(text: str, roots: RunRoots) -> Path:
    """The run folder ``text`` names, resolved and checked against ``roots``.

    Raises
    ------
    InputError
        One line: no folder given, opening switched off, the folder outside
        every allowed root, or not a folder.
    """
    text = str(text or "").strip()
    if not text:
        raise InputError("give the run folder (the --out folder of the national run)")
    if not roots.roots:
        raise InputError(f"this server opens no run folder: {RUN_ROOTS_ENV} is not set "
                         "(see docs/deployment.md)")
    if "\x00" in text:
        raise InputError("the run folder's name holds a NUL character")
    folder = Path(text).expanduser()
    if not folder.is_absolute():
        raise InputError(f"give the run folder as an absolute path (under {roots.describe()})")
    folder = folder.resolve()
    if not any(folder == root or folder.is_relative_to(root) for root in roots.roots):
        raise InputError(f"{folder} is outside the folders this server may open "
                         f"({roots.describe()}; set by {RUN_ROOTS_ENV})")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder on this server")
    return folder


def _privacy_mode(record: Mapping[str, Any]) -> str:
    tags = record.get("privacy") or {}
    mode = tags.get("privacy_mode") if isinstance(tags, Mapping) else None
    return str(mode or "internal")


@dataclass(frozen=True)
class NationalRun:
    """A national run folder and its manifest (nothing else is read).

    Attributes
    ----------
    folder : Path
        The run folder.
    manifest : dict
        Its ``manifest.json``.
    """

    folder: Path
    manifest: dict[str, Any]

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Region name -> its manifest record."""
        return {r["region"]: r for r in self.manifest.get("tiles", [])}

    @property
    def regions(self) -> list[str]:
        """The region names, in the manifest's order."""
        return list(self.records)

    @property
    def privacy_mode(self) -> str:
        """``"public"`` when every region was written in public mode, else ``"internal"``."""
        modes = {_privacy_mode(r) for r in self.records.values()}
        return "public" if modes == {"public"} else "internal"

    @property
    def simulated(self) -> bool:
        """Whether the run's incidents are simulated (a synthetic country)."""
        return bool(self.manifest.get("simulated"))

    @property
    def engine(self) -> str:
        """``"regions"`` (each region its own analysis) or ``"dask"`` (one tiled analysis)."""
        engine = self.manifest.get("engine")
        return str(engine.get("engine", "dask")) if isinstance(engine, Mapping) else str(engine)

    def region_table(self) -> pd.DataFrame:
        """One row per region: name, incidents used and cells, as the run may publish them.

        In a public run the incidents are rounded to the nearest 10 (the exact
        total is not published); a region whose record carries no count (a
        tiled run cut by region) shows none.
        """
        rows = []
        for name, record in self.records.items():
            used = (record.get("counts") or {}).get("incidents_used")
            if used is not None and _privacy_mode(record) == "public":
                used = int(round(int(used), _PUBLIC_ROUND))
            rows.append({"region": name, "incidents": used,
                         "cells": int(record.get("n_cells", 0))})
        frame = pd.DataFrame(rows, columns=["region", "incidents", "cells"])
        frame["incidents"] = frame["incidents"].astype("Int64")
        return frame

    def statistics_note(self) -> str:
        """What the manifest says about what is national and what is per region."""
        return str(self.manifest.get("statistics") or "")


def open_run(text: str, roots: RunRoots) -> NationalRun:
    """Resolve ``text`` under ``roots`` and read the national run's manifest.

    Raises
    ------
    InputError
        As :func:`resolve_run_folder`; no ``manifest.json``; a manifest that is
        not a national run's, or names a region that is not a plain file name.
    """
    from hotspot_env.scale.outputs import NATIONAL_MANIFEST_VERSION, read_manifest

    folder = resolve_run_folder(text, roots)
    try:
        manifest = read_manifest(folder)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{folder}/manifest.json cannot be read: {type(exc).__name__}") from exc
    if (not isinstance(manifest, dict) or not isinstance(manifest.get("tiles"), list)
            or manifest.get("manifest_version") != NATIONAL_MANIFEST_VERSION):
        raise InputError(f"{folder} holds no national run (its manifest.json lists no "
                         "regions): open a folder written by run_national or "
                         "'hotspot-env bench --scale national --out DIR'")
    for record in manifest["tiles"]:
        name = record.get("region") if isinstance(record, dict) else None
        if not isinstance(name, str) or not _REGION_NAME.match(name):
            raise InputError(f"{folder}/manifest.json names a region that is not a plain "
                             f"file name: {str(name)[:40]!r}")
    if not manifest["tiles"]:
        raise InputError(f"{folder} is a national run without any region")
    return NationalRun(folder, manifest)


def check_privacy(run: NationalRun, privacy: str) -> None:
    """Refuse to show an internal run in a public session.

    Raises
    ------
    InputError
        ``privacy`` is public and the run was written in internal mode.
    """
    if privacy == "public" and run.privacy_mode != "public":
        raise InputError("this run was written in internal mode (exact counts): public mode "
                         "shows only a national run written with privacy='public'")


def load_region(run: NationalRun, region: str, privacy: str) -> RegionView:
    """One region of ``run`` as ``privacy`` mode may show it (reads only its partitions).

    Raises
    ------
    InputError
        Unknown region, or an internal run in a public session.
    """
    from hotspot_env.scale.outputs import open_region

    if region not in run.records:
        raise InputError(f"no region {str(region)[:40]!r} in this run: choose one of "
                         f"{', '.join(run.regions[:20])}")
    check_privacy(run, privacy)
    return open_region(run.folder, region)
