"""Build hook: the wheel carries the repository's ``data/`` folder as ``hotspot_env/data``.

The evidence and cost tables, the category map and the demo's inputs live at the repository
root (``data/``), where people edit them. A checkout (and an editable install) reads them
there; a wheel has no repository root, so ``build_py`` copies them into the package, where
:data:`hotspot_env.settings.data_folder` finds them first. Everything else is in
``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: What a run needs at run time, relative to ``data/`` (tests/test_package_data.py checks it).
DATA_GLOBS = ("*.csv", "demo/*", "examples/*")


class BuildWithData(build_py):
    """``build_py`` that also copies ``data/`` into ``hotspot_env/data`` of the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads data/ in place
            return
        target = Path(self.build_lib) / "hotspot_env" / "data"
        for pattern in DATA_GLOBS:
            for path in sorted((ROOT / "data").glob(pattern)):
                if path.is_file():
                    dest = target / path.relative_to(ROOT / "data")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, dest)


setup(cmdclass={"build_py": BuildWithData})
