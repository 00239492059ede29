"""Fingerprint every output file of the demo, São Paulo and a synthetic benchmark city.

A refactor must change no output: run this before and after, and compare the two JSON files::

    python scripts/fingerprint_outputs.py --out before.json
    # ... refactor ...
    python scripts/fingerprint_outputs.py --out after.json --compare before.json

Text files (CSV, GeoJSON, JSON, HTML, Markdown) are hashed byte for byte. GeoPackages, GeoTIFFs,
Parquet and NPZ files may carry write timestamps, so their *contents* are hashed (every layer's
columns, dtypes, values and WKB geometries; every band, transform and CRS).
``tests/test_output_fingerprint.py`` runs the same fingerprint on São Paulo in the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from hotspot_env.outputs.fingerprint import fingerprint_folder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _runs(work: Path, synth_in: Path) -> dict[str, Path]:
    from typer.testing import CliRunner

    from hotspot_env.cli import app

    runner = CliRunner()
    incidents, osm = DATA / "sao_paulo_homicides.csv", DATA / "spo_osm.pbf"
    commands = {
        "demo": ["demo", "--out", str(work / "demo"), "--quiet"],
        "sao_paulo": ["analyze", "--incidents", str(incidents), "--osm", str(osm),
                      "--out", str(work / "sao_paulo"), "--quiet"],
        "sao_paulo_public": ["analyze", "--incidents", str(incidents), "--osm", str(osm),
                             "--out", str(work / "sao_paulo_public"), "--privacy", "public",
                             "--quiet"],
    }
    if not (synth_in / "incidents.csv").exists():  # kept: a GeoPackage's bytes carry its write time
        commands["synth_city"] = ["synth", "--seed", "7", "--out", str(synth_in)]
    for name, argv in commands.items():
        result = runner.invoke(app, argv)
        if result.exit_code != 0:
            raise SystemExit(f"{name} failed: {result.output}\n{result.exception!r}")
    result = runner.invoke(app, ["analyze", "--incidents", str(synth_in / "incidents.csv"),
                                 "--layers", str(synth_in / "layers.gpkg"),
                                 "--out", str(work / "synth_city"), "--quiet"])
    if result.exit_code != 0:
        raise SystemExit(f"synth_city failed: {result.output}\n{result.exception!r}")
    return {name: work / name for name in ("demo", "sao_paulo", "sao_paulo_public",
                                           "synth_city")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write.")
    parser.add_argument("--inputs", type=Path, default=Path(tempfile.gettempdir()) / "fp-synth",
                        help="Folder of the simulated city's inputs (made once, then reused).")
    parser.add_argument("--data", type=Path, default=ROOT / "data",
                        help="Evidence and cost tables (give two checkouts the same tables: "
                             "only the code should differ).")
    parser.add_argument("--compare", type=Path, help="An earlier fingerprint to compare with.")
    args = parser.parse_args()
    from hotspot_env import settings

    settings.data_folder = args.data
    with tempfile.TemporaryDirectory() as tmp:
        runs = _runs(Path(tmp), args.inputs)
        prints = {name: fingerprint_folder(folder) for name, folder in runs.items()}
    args.out.write_text(json.dumps(prints, indent=1, sort_keys=True) + "\n")
    n_files = sum(len(v) for v in prints.values())
    print(f"{n_files} output files fingerprinted -> {args.out}")
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    changed = [f"{run}/{name}" for run in sorted(set(before) | set(prints))
               for name in sorted(set(before.get(run, {})) | set(prints.get(run, {})))
               if before.get(run, {}).get(name) != prints.get(run, {}).get(name)]
    for name in changed:
        print(f"differs: {name}")
    print(f"{n_files - len(changed)} identical, {len(changed)} different")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
