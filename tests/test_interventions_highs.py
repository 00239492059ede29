"""The one HiGHS interface: silent without touching process state, and exact on small MILPs."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from hotspot_env.interventions._highs import lp_model, silent_highs, solve_milp


def _knapsack(value, weight, capacity):
    lp = lp_model(np.asarray(value, float), np.zeros(len(value)), np.ones(len(value)),
                  np.ones(len(value), dtype=bool), sp.csr_matrix(np.asarray(weight, float)[None]),
                  np.array([-np.inf]), np.array([float(capacity)]), maximise=True)
    return solve_milp(lp, {"mip_rel_gap": 0.0})


def test_knapsack_matches_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(5):
        value, weight = rng.uniform(1, 10, 9), rng.uniform(1, 10, 9)
        capacity = weight.sum() / 3
        best = max(np.dot(value, pick) for pick in itertools.product((0, 1), repeat=9)
                   if np.dot(weight, pick) <= capacity)
        x = np.round(_knapsack(value, weight, capacity))
        assert np.dot(weight, x) <= capacity + 1e-9
        assert np.dot(value, x) == pytest.approx(best, rel=1e-9)


def test_infeasible_model_gives_none():
    # x0 + x1 >= 3 with binary x: no solution
    lp = lp_model(np.ones(2), np.zeros(2), np.ones(2), np.ones(2, dtype=bool),
                  sp.csr_matrix(np.ones((1, 2))), np.array([3.0]), np.array([np.inf]))
    assert solve_milp(lp, {}) is None


def test_solvers_print_nothing_and_leave_descriptors_alone_under_threads():
    """Threads solving at once in a fresh process: no banner, no log, and no file descriptor
    redirected (os.dup/dup2 are made to fail, as a redirection would need them)."""
    code = textwrap.dedent("""
        import os, threading
        def refuse(*args):
            raise AssertionError("file descriptors must not be redirected")
        os.dup = os.dup2 = refuse
        from hotspot_env.interventions import optimise, youth_sites
        import numpy as np, scipy.sparse as sp
        start = threading.Barrier(4)
        errors = []
        def solve(i):
            try:
                start.wait()
                cover = sp.csr_matrix(np.eye(4)[:, [0, 1, 2, 3, 0, 1]])
                youth_sites._mclp(cover, np.ones(6), 2)
                optimise.silent_highs()
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=solve, args=(i,)) for i in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not errors, errors
        print("stdout-alive")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout == "stdout-alive\n"  # no banner, no solver log
    assert "HiGHS" not in run.stderr



def test_every_solver_is_single_threaded_and_silent():
    """HiGHS sizes one thread scheduler per process at the first solve: if any solver (e.g.
    the covering model) ran with the default threads, the portfolio optimiser solved after it
    would run multithreaded and stop being deterministic."""
    h = silent_highs()
    assert h.getOptionValue("threads")[1] == 1
    assert h.getOptionValue("output_flag")[1] is False
