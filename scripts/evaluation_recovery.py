"""Recovery table of docs/evaluation.md: planted vs estimated rate ratios over 10 seeds.

Run: ``python scripts/evaluation_recovery.py [N_SEEDS]`` (about 10 s per seed).
Everything is simulated (:mod:`hotspot_env.inputs.synth_treatment`).
"""

from __future__ import annotations

import sys

from hotspot_env.inputs.synth_treatment import recovery_table


def main(n_seeds: int = 10) -> None:
    """Print the per-seed table and the coverage summary as Markdown."""
    table = recovery_table(list(range(n_seeds)))
    print("| seed | type | planted RR | estimate (90 % interval) | covered | planted ring RR | "
          "ring estimate (90 %) | WDQ | recording flagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table.itertuples():
        planted = "" if r.planted_rr != r.planted_rr else f"{r.planted_rr:.2f}"
        ring = "" if r.planted_ring_rr != r.planted_ring_rr else f"{r.planted_ring_rr:.2f}"
        print(f"| {r.seed} | {r.type} | {planted} | {r.rate_ratio:.2f} ({r.rr_lo:.2f}-"
              f"{r.rr_hi:.2f}) | {'yes' if r.covered else 'no' if planted else ''} | {ring} | "
              f"{r.ring_rr:.2f} ({r.ring_lo:.2f}-{r.ring_hi:.2f}) | {r.wdq:.2f} | "
              f"{'yes' if r.recording_flag else 'no'} |")
    typed = table[table["type"] != "all"]
    print()
    for itype, group in typed.groupby("type"):
        print(f"- {itype}: planted rate ratio inside the 90 % interval in "
              f"{int(group['covered'].sum())} of {len(group)} seeds; planted ring ratio inside in "
              f"{int(group['ring_covered'].sum())} of {len(group)}; recording change flagged in "
              f"{int(group['recording_flag'].sum())} of {len(group)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
