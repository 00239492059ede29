"""Simulated interventions with planted effects, to check that ``evaluate`` finds them.

Everything here is **simulated**. :func:`simulate_treated_city` takes a city of
:func:`hotspot_env.inputs.synth.simulate_city` (its own outputs stay unchanged) and
plants, from a treatment date on:

rate ratios
    At each treated place (within the evidence ``reach_m`` of a treated dark
    street or vacant lot), every later incident in the outcome the evidence
    names (categories, and darkness for lighting) is kept with probability
    equal to the planted rate ratio of its type (Poisson thinning, so the
    expected count is multiplied by exactly that ratio).
displacement
    A share of the removed incidents reappears, with the same time and
    category, at a uniformly random point of the ring around the same place
    (reach to ``(1 + RING_FACTOR) x reach``, outside every treated place).
a change in recording
    Patrols drawn to the improved places add officer-initiated records there
    after the treatment date, raising the officer share of records at treated
    places from 15 % to ``officer_share_after``. Residents' reports are not
    touched, so the harm measured on them is the planted one.

The candidates of both types form the control pool (``interventions.gpkg``)
and the treated ones the ledger (``interventions_done.csv`` / ``.gpkg``), so
``hotspot-env evaluate`` runs on the written folder as on a real city.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hotspot_env.inputs.synth import CityLayout, SyntheticCity, simulate_city

#: Planted rate ratio per intervention type (dark streets get lamps, vacant lots greening).
PLANTED_RATE_RATIOS: dict[str, float] = {"new_streetlight": 0.70, "vacant_lot_greening": 0.75}
#: Treated places per type.
N_TREATED: dict[str, int] = {"new_streetlight": 30, "vacant_lot_greening": 12}
#: City of the evaluation scenario: 4 km square, 40,000 incidents over two years.
SCENARIO: dict[str, Any] = {"size_m": 4_000.0, "n_incidents": 40_000,
                            "layout": CityLayout(vacant_per_km2=10.0, dark_run_rate=0.04)}
_LAYER_OF = {"new_streetlight": "dark_segments", "vacant_lot_greening": "vacant"}


@dataclass
class TreatedCity:
    """A simulated city after some interventions, with what was planted.

    Attributes
    ----------
    city : SyntheticCity
        The city; ``city.incidents`` are the incidents *after* planting.
    pool : GeoDataFrame
        Every candidate (stable ids, type, quantity, costs, expected harm).
    ledger : GeoDataFrame
        The treated candidates with their ``done_date``.
    truth : dict
        Planted rate ratios, treatment date, displacement share, recording
        change and the numbers of incidents removed, displaced and added.
    """

    city: SyntheticCity
    pool: gpd.GeoDataFrame
    ledger: gpd.GeoDataFrame
    truth: dict[str, Any]

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the city files, ``interventions.gpkg``, the ledger and ``truth_treatment.json``."""
        from hotspot_env._atomic import atomic_path, write_text
        from hotspot_env.evaluation.ledger import write_ledger

        out = Path(out_dir)
        paths = self.city.write(out)
        with atomic_path(out / "interventions.gpkg") as tmp:
            self.pool.to_file(tmp, layer="interventions", driver="GPKG", engine="pyogrio")
        paths["pool"] = out / "interventions.gpkg"
        paths.update({k.split(".")[-1] + "_ledger": v
                      for k, v in write_ledger(self.ledger, out).items()})
        paths["truth_treatment"] = write_text(out / "truth_treatment.json",
                                              json.dumps(self.truth, indent=2) + "\n")
        return paths


def simulate_treated_city(
    seed: int,
    *,
    rate_ratios: dict[str, float] | None = None,
    n_treated: dict[str, int] | None = None,
    treatment_date: str = "2024-01-01",
    displacement_share: float = 0.5,
    officer_share_after: float = 0.35,
    city_options: dict[str, Any] | None = None,
) -> TreatedCity:
    """Simulate a city, treat some of its places and plant known effects.

    Parameters
    ----------
    seed : int
        Random seed (the city uses it too).
    rate_ratios : dict, optional
        Planted rate ratio per type (default :data:`PLANTED_RATE_RATIOS`).
    n_treated : dict, optional
        Treated places per type (default :data:`N_TREATED`).
    treatment_date : str
        Day every treated place was done (``YYYY-MM-DD``, inside the period).
    displacement_share : float
        Share of the prevented incidents that reappear in the ring (0-1).
    officer_share_after : float
        Officer-initiated share of records at treated places after the date
        (the city's is 15 %); 0.15 or less plants no recording change.
    city_options : dict, optional
        Passed to :func:`~hotspot_env.inputs.synth.simulate_city` (default :data:`SCENARIO`).

    Returns
    -------
    TreatedCity
    """
    from hotspot_env.evaluation.did import outcome_for
    from hotspot_env.factors.darkness import light_classes
    from hotspot_env.interventions.evidence import load_library

    rate_ratios = dict(PLANTED_RATE_RATIOS if rate_ratios is None else rate_ratios)
    n_treated = dict(N_TREATED if n_treated is None else n_treated)
    if not 0 <= displacement_share <= 1:
        raise ValueError("displacement_share must lie in [0, 1]")
    city = simulate_city(seed, **(SCENARIO if city_options is None else city_options))
    library = load_library()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    outcomes = {t: outcome_for(t, library) for t in rate_ratios}
    pool = _candidate_pool(city, rate_ratios, library)
    reach = pool["type"].map(lambda t: outcomes[t].reach_m).to_numpy(dtype=float)
    treated = _choose_treated(rng, pool, reach, outcomes, n_treated)

    inc = city.incidents.reset_index(drop=True)
    light, _ = light_classes(inc)
    start = pd.Timestamp(treatment_date, tz="UTC")
    plant = _Planting(inc, light, start, treated, reach, displacement_share, officer_share_after)
    for itype, rr in rate_ratios.items():
        _plant_type(rng, plant, itype, rr, outcomes[itype])
    new = plant.incidents_after()
    city = SyntheticCity(city.layers, new, dict(city.truth, n_incidents=int(len(new))),
                         city.boundary)

    pool["prevented_mean"] = _expected_prevented(pool, inc, light, outcomes, start)
    surface = shapely.point_on_surface(pool.geometry.to_numpy())
    pool["location"] = [f"block {int(x // 500)}-{int(y // 500)}" for x, y in zip(
        shapely.get_x(surface), shapely.get_y(surface), strict=True)]
    pool["district"] = pool["location"]
    ledger = pool.loc[treated.index].copy()
    ledger["done_date"] = treatment_date
    truth = {
        "simulated": True, "seed": int(seed), "treatment_date": treatment_date,
        "rate_ratios": rate_ratios, "displacement_share": displacement_share,
        "ring_rate_ratios": plant.ring_rr,
        "officer_share_before": 0.15, "officer_share_after": officer_share_after,
        "recording_change": officer_share_after > 0.15, "counts": plant.counts,
        "model": ("Poisson thinning of the outcome incidents within reach of treated places "
                  "after the treatment date; a share of the removed reappears in the ring; "
                  "officer-initiated records added at treated places after the date"),
    }
    return TreatedCity(city, pool, _ledger_frame(ledger), truth)


def _candidate_pool(city: SyntheticCity, rate_ratios: dict[str, float],
                    library: Any) -> gpd.GeoDataFrame:
    """Every dark segment and vacant lot, as lighting and greening candidates (the controls)."""
    from hotspot_env.interventions.candidate_table import candidate_id
    from hotspot_env.interventions.candidates import default_quantity

    crs = city.incidents.crs
    frames = []
    for itype in rate_ratios:
        geoms = city.layers[_LAYER_OF[itype]].geometry.to_numpy()
        types = np.full(len(geoms), itype, dtype=object)
        qty = default_quantity(types, geoms)
        unit = library.costs.loc[itype]
        frames.append(gpd.GeoDataFrame({
            "intervention_id": [candidate_id(itype, g) for g in geoms], "type": types,
            "location": "", "quantity": qty, "unit": unit["unit"],
            "cost": qty * float(unit["annual_unit_cost"]),
            "capital_cost": qty * float(unit["unit_cost"])}, geometry=geoms, crs=crs))
    pool = pd.concat(frames, ignore_index=True)
    pool = gpd.GeoDataFrame(pool, geometry="geometry", crs=crs)
    return pool.drop_duplicates("intervention_id").reset_index(drop=True)


def _choose_treated(rng: np.random.Generator, pool: gpd.GeoDataFrame, reach: np.ndarray,
                    outcomes: dict[str, Any], n_treated: dict[str, int]) -> gpd.GeoDataFrame:
    """Random treated places, types kept apart so one effect cannot leak into the other."""
    from hotspot_env.evaluation.did import RING_FACTOR

    chosen: list[int] = []
    for itype in sorted(outcomes, key=lambda t: -outcomes[t].reach_m):
        order = rng.permutation(np.flatnonzero(pool["type"].to_numpy() == itype))
        taken = 0
        for i in order:
            if taken == n_treated.get(itype, 0):
                break
            other = [j for j in chosen if pool.at[j, "type"] != itype]
            gap = (reach[i] + reach[other]) * (1 + RING_FACTOR)
            if other and (shapely.distance(pool.geometry.iloc[i],
                                           pool.geometry.to_numpy()[other]) <= gap).any():
                continue
            chosen.append(int(i))
            taken += 1
    return pool.loc[sorted(chosen)]


class _Planting:
    """The incidents being planted on and what has been removed, added and counted so far."""

    def __init__(self, inc: gpd.GeoDataFrame, light: np.ndarray, start: pd.Timestamp,
                 treated: gpd.GeoDataFrame, reach: np.ndarray, displacement_share: float,
                 officer_share_after: float) -> None:
        when = pd.to_datetime(inc["datetime"], utc=True)
        self.inc, self.light, self.start, self.end = inc, light, start, when.max()
        self.after = (when >= start).to_numpy()
        self.treated, self.reach = treated, reach
        self.displacement_share = displacement_share
        self.officer_share_after = officer_share_after
        self.x = shapely.get_x(inc.geometry.to_numpy())
        self.y = shapely.get_y(inc.geometry.to_numpy())
        self.resident = (inc["source"].astype(str) != "officer_initiated").to_numpy()
        self.remove = np.zeros(len(inc), dtype=bool)
        self.added: list[gpd.GeoDataFrame] = []
        self.counts: dict[str, dict[str, int]] = {}
        self.ring_rr: dict[str, float] = {}

    def incidents_after(self) -> gpd.GeoDataFrame:
        """The incidents kept plus those added, sorted by time and numbered again."""
        new = pd.concat([self.inc[~self.remove], *self.added], ignore_index=True)
        new = new.sort_values("datetime", kind="stable").reset_index(drop=True)
        new["incident_id"] = [f"sim-{i:06d}" for i in range(1, len(new) + 1)]
        new = gpd.GeoDataFrame(new, geometry="geometry", crs=self.inc.crs)
        new.attrs["simulated"] = True
        return new


def _plant_type(rng: np.random.Generator, plant: _Planting, itype: str, rr: float,
                out: Any) -> None:
    """Thin the outcome incidents at treated places of ``itype``, displace some, add patrols."""
    from hotspot_env.evaluation.did import RING_FACTOR, outcome_mask

    inc, treated, after = plant.inc, plant.treated, plant.after
    sites = treated[treated["type"] == itype].geometry.to_numpy()
    if not len(sites):
        return
    zone = shapely.union_all(shapely.buffer(sites, out.reach_m))
    ring_zone = shapely.difference(shapely.union_all(shapely.buffer(
        sites, out.reach_m * (1 + RING_FACTOR))), shapely.union_all(shapely.buffer(
            treated.geometry.to_numpy(), plant.reach[treated.index])))
    inside = shapely.contains_xy(zone, plant.x, plant.y)
    in_ring = shapely.contains_xy(ring_zone, plant.x, plant.y)
    is_outcome = outcome_mask(inc, out, plant.light, np.full(len(inc), np.nan))
    hit = inside & after & is_outcome
    gone = hit & (rng.random(len(inc)) >= rr)
    plant.remove |= gone
    moved = np.flatnonzero(gone & (rng.random(len(inc)) < plant.displacement_share))
    if len(moved):
        frame = inc.iloc[moved].copy()
        frame["geometry"] = _uniform_in(rng, ring_zone, len(moved))
        plant.added.append(frame)
    extra = _add_patrol_records(rng, plant, zone, int((inside & after).sum()))
    # the ring's planted ratio: its own outcome records after the date plus those displaced
    ring_after = int((in_ring & after & is_outcome & plant.resident).sum())
    displaced_resident = int(plant.resident[moved].sum())
    plant.ring_rr[itype] = (ring_after + displaced_resident) / max(ring_after, 1)
    plant.counts[itype] = {"treated": int(len(sites)), "removed": int(gone.sum()),
                           "displaced": int(len(moved)), "officer_added": extra,
                           "resident_outcome_after_before_thinning": int(
                               (hit & plant.resident).sum())}


def _add_patrol_records(rng: np.random.Generator, plant: _Planting, zone: Any,
                        n_after: int) -> int:
    """Officer-initiated records where the work was done (a recording change); how many."""
    share = plant.officer_share_after
    extra = 0
    if share > 0.15:
        extra = int(rng.poisson(n_after * (share - 0.15) / (1 - share)))
    if extra:
        span = (plant.end - plant.start).total_seconds()
        stamps = plant.start + pd.to_timedelta(rng.random(extra) * span, unit="s")
        inc = plant.inc
        plant.added.append(gpd.GeoDataFrame({
            "incident_id": "", "datetime": stamps,
            "category": pd.Categorical(["disorder"] * extra, inc["category"].cat.categories),
            "source": pd.Categorical(["officer_initiated"] * extra,
                                     inc["source"].cat.categories)},
            geometry=_uniform_in(rng, zone, extra), crs=inc.crs))
    return extra


def _expected_prevented(pool: gpd.GeoDataFrame, inc: gpd.GeoDataFrame, light: np.ndarray,
                        outcomes: dict[str, Any], start: pd.Timestamp) -> np.ndarray:
    """Prior-expected prevented outcome incidents per year at each candidate (pre-period)."""
    from hotspot_env.evaluation.did import outcome_mask

    when = pd.to_datetime(inc["datetime"], utc=True)
    before = (when < start).to_numpy()
    years = max((start - when.min()).days / 365.25, 1 / 12)
    out = np.zeros(len(pool))
    pts = inc.geometry.to_numpy()
    for itype, outcome in outcomes.items():
        rows = np.flatnonzero(pool["type"].to_numpy() == itype)
        mask = before & outcome_mask(inc, outcome, light, np.full(len(inc), np.nan))
        tree = shapely.STRtree(pts[mask])
        site, _ = tree.query(pool.geometry.to_numpy()[rows], predicate="dwithin",
                             distance=outcome.reach_m)
        n = np.bincount(site, minlength=len(rows))
        out[rows] = n / years * (1 - outcome.prior_rr)
    return out


def _ledger_frame(ledger: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    from hotspot_env.evaluation.ledger import LEDGER_COLUMNS

    out = gpd.GeoDataFrame({c: ledger[c].to_numpy() if c in ledger else np.nan
                            for c in LEDGER_COLUMNS}, geometry=ledger.geometry.to_numpy(),
                           crs=ledger.crs)
    return out.sort_values("intervention_id").reset_index(drop=True)


def _uniform_in(rng: np.random.Generator, zone: Any, n: int) -> np.ndarray:
    """``n`` points uniformly at random inside ``zone`` (rejection from its bounds)."""
    minx, miny, maxx, maxy = zone.bounds
    out: list[np.ndarray] = []
    shapely.prepare(zone)
    need = n
    while need > 0:
        m = max(64, int(2.5 * need * (maxx - minx) * (maxy - miny) / max(zone.area, 1e-9)))
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(zone, x, y)
        pts = shapely.points(x[ok], y[ok])[:need]
        out.append(pts)
        need -= len(pts)
    return np.concatenate(out) if out else np.zeros(0, dtype=object)


def recovery_table(seeds: list[int], **options: Any) -> pd.DataFrame:
    """Run :func:`simulate_treated_city` and :func:`~hotspot_env.evaluation.did.evaluate` per seed.

    Returns one row per seed and type: planted and estimated rate ratios, the
    90 % interval, whether it covers the planted value, the ring rate ratio
    and whether the recording change was flagged.
    """
    from hotspot_env.evaluation.did import evaluate
    from hotspot_env.interventions.evidence import load_library

    library = load_library()
    rows = []
    for seed in seeds:
        sim = simulate_treated_city(seed, **options)
        result = evaluate(sim.ledger, sim.city.incidents, sim.pool, library)
        for rec in result.table.itertuples():
            planted = sim.truth["rate_ratios"].get(rec.type, math.nan)
            ring = sim.truth["ring_rate_ratios"].get(rec.type, math.nan)
            rows.append({"seed": seed, "type": rec.type, "planted_rr": planted,
                         "rate_ratio": rec.rate_ratio, "rr_lo": rec.rr_lo, "rr_hi": rec.rr_hi,
                         "covered": bool(rec.rr_lo <= planted <= rec.rr_hi),
                         "planted_ring_rr": ring, "ring_rr": rec.ring_rr,
                         "ring_lo": rec.ring_lo, "ring_hi": rec.ring_hi,
                         "ring_covered": bool(rec.ring_lo <= ring <= rec.ring_hi),
                         "wdq": rec.wdq, "recording_flag": bool(rec.recording_flag)})
    return pd.DataFrame(rows)


def simulated_orders(pool: gpd.GeoDataFrame, n: int = 20, done_date: str = "2024-01-15",
                     seed: int = 0) -> pd.DataFrame:
    """A SIMULATED set of completed work orders: ``n`` candidates marked done on ``done_date``.

    The best-ranked half (by ``rank`` when the pool has it) and a random other
    half, so a demo ledger looks like a city's mix of priorities. For demos
    and tests only: no crew did this work.
    """
    rng = np.random.default_rng(seed)
    order = (pool.sort_values("rank", kind="stable").index.to_numpy() if "rank" in pool
             else pool.index.to_numpy())
    top = list(order[: n // 2])
    rest = [i for i in order if i not in set(top)]
    pick = top + list(rng.choice(rest, size=min(n - len(top), len(rest)), replace=False))
    return pd.DataFrame({"intervention_id": pool.loc[pick, "intervention_id"].astype(str),
                         "done_date": done_date}).reset_index(drop=True)
