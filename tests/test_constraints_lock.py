"""The CI lock (ci/constraints.txt) and the declared dependencies agree.

CI installs through ``PIP_CONSTRAINT=ci/constraints.txt`` (``.ci/run``); the README's
``make app`` / ``make test`` never read it. A lock that pins a version below a lower bound
of ``pyproject.toml``, or leaves a requirement out, would make CI test something a user
cannot get (or break the install): these tests fail first. The import test checks the
other direction: what the package imports at run time is declared where it is needed.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "ci" / "constraints.txt"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _pins(text: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one "==" per line
        assert spec.operator == "==", line
        name = canonicalize_name(req.name)
        assert name not in pins, f"{name} pinned twice"
        pins[name] = Version(spec.version)
    return pins


#: Never pinned (``ci/freeze_constraints.BUILD_TOOLS``): pip applies the lock to the isolated
#: build environment too. The test extra asks for them to build a wheel (test_package_data).
BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})


def _declared() -> list[Requirement]:
    """Every requirement of the project and its extras (the self-reference excluded)."""
    lines = [*PROJECT["dependencies"], *(line for extra in PROJECT["optional-dependencies"]
                                         .values() for line in extra)]
    return [req for req in map(Requirement, lines)
            if canonicalize_name(req.name) != canonicalize_name(PROJECT["name"])]


def _lockable() -> list[Requirement]:
    """The declared requirements the lock pins: all but the build tools."""
    return [req for req in _declared() if canonicalize_name(req.name) not in BUILD_TOOLS]


def lock_problems(lock_text: str, requirements: list[Requirement]) -> list[str]:
    """Requirements the lock leaves out or pins outside their bounds."""
    pins = _pins(lock_text)
    problems = []
    for req in requirements:
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name} is not pinned")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req.name}=={pinned} does not satisfy {req.specifier}")
    return problems


def test_every_requirement_is_pinned_within_its_bounds():
    assert lock_problems(LOCK.read_text(encoding="utf-8"), _lockable()) == []
    assert not BUILD_TOOLS & set(_pins(LOCK.read_text(encoding="utf-8")))


def test_the_check_sees_a_pin_below_a_lower_bound_and_a_missing_pin():
    reqs = [Requirement("numpy>=1.26"), Requirement("scipy>=1.11")]
    assert lock_problems("numpy==1.25.2\n", reqs) == [
        "numpy==1.25.2 does not satisfy >=1.26", "scipy is not pinned"]
    with pytest.raises(AssertionError):
        _pins("numpy>=1.26\n")


def test_requirements_carry_lower_bounds_only():
    for req in _declared():
        ops = {spec.operator for spec in req.specifier}
        assert ops == {">="}, f"{req}: lower bounds only (the lock pins exact versions)"


def test_ci_uses_the_lock_and_the_readme_commands_do_not_need_it():
    assert 'PIP_CONSTRAINT="$PWD/ci/constraints.txt"' in (ROOT / ".ci" / "run").read_text()
    assert "constraints" not in (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make app" in readme and "make test" in readme


#: Imports that only an extra's code path reaches, with the extra that declares them:
#: lazy imports inside functions that only the app (or the bench) calls.
LAZY_EXTRA_IMPORTS: dict[tuple[str, str], str] = {
    ("hotspot_env/temporal/profiles.py", "altair"): "app",  # charts drawn by the app only
    ("hotspot_env/outputs/printing.py", "weasyprint"): "app",  # work-order PDFs, app download
}


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names
            and n not in ("hotspot_env", "app_pages")}


def _area(rel: str) -> str:
    if rel.startswith("hotspot_env/bench/"):
        return "bench"
    if rel.startswith("hotspot_env/scale/"):
        return "scale"
    if rel.startswith(("hotspot_env/app/", "app_pages/")) or rel in ("app.py",
                                                                      "app_navigation.py"):
        return "app"
    return "core"


def test_every_runtime_import_is_declared_where_it_is_needed():
    provides = md.packages_distributions()
    core = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    extras = {name: {canonicalize_name(Requirement(r).name) for r in lines}
              for name, lines in PROJECT["optional-dependencies"].items()}
    files = [*(ROOT / "hotspot_env").rglob("*.py"), *(ROOT / "app_pages").rglob("*.py"),
             ROOT / "app.py", ROOT / "app_navigation.py"]
    missing = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for module in _third_party_imports(path):
            dists = {canonicalize_name(d) for d in provides.get(module, [module])}
            area = LAZY_EXTRA_IMPORTS.get((rel, module), _area(rel))
            allowed = core | (extras.get(area, set()) if area != "core" else set())
            if not dists & allowed:
                missing.append(f"{rel}: {module} ({area})")
    assert missing == []


def test_every_runtime_dependency_is_imported_by_the_package():
    provides = md.packages_distributions()
    imported = set()
    for path in (ROOT / "hotspot_env").rglob("*.py"):
        if _area(path.relative_to(ROOT).as_posix()) == "core":
            for module in _third_party_imports(path):
                imported.update(canonicalize_name(d) for d in provides.get(module, [module]))
    unused = [r for r in PROJECT["dependencies"]
              if canonicalize_name(Requirement(r).name) not in imported]
    assert unused == []


def test_the_lock_leaves_the_build_requirements_free():
    """pip applies PIP_CONSTRAINT to the isolated build environment: a pin below
    ``[build-system] requires`` (setuptools 65 against >=68) would fail ``pip install -e .``."""
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    pins = _pins(LOCK.read_text(encoding="utf-8"))
    for line in build["requires"]:
        req = Requirement(line)
        pinned = pins.get(canonicalize_name(req.name))
        assert pinned is None or req.specifier.contains(pinned), f"{req} pinned to {pinned}"
