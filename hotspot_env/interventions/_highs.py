"""The one way this package reaches HiGHS: ``highspy``'s solver, silent from the start.

Both optimisation models (the youth-space maximal covering model in
:mod:`hotspot_env.interventions.youth_sites` and the portfolio in
:mod:`hotspot_env.interventions.optimise`) call HiGHS through here, so they share one
solver version and one way of keeping it quiet.

Why ``highspy._Highs`` and not ``highspy.Highs``: the Python subclass wires up its
callback machinery in its constructor, and that first call makes HiGHS print its
copyright banner on stdout before any option can be set. The core class (exported by
``highspy``, and the one ``scipy.optimize.milp`` itself builds on) does nothing until it
is asked, so ``output_flag=False`` set first silences everything. No file descriptor is
touched: the app's server is multithreaded, and process-wide redirections there race.

Why every solver is single-threaded: HiGHS keeps one thread scheduler per process, sized
by the ``threads`` option of the *first* solve. A covering model solved with the default
(several threads) would leave the portfolio optimiser, solved later in the same process,
running multithreaded, and so no longer deterministic. One thread everywhere keeps every
result independent of what ran before.
"""

from __future__ import annotations

from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp


def silent_highs(*, log: bool = False) -> Any:
    """A fresh single-threaded HiGHS solver that prints nothing (its log goes to the
    console if ``log``).

    Parameters
    ----------
    log : bool
        Show HiGHS' own log (for debugging a model).

    Returns
    -------
    highspy._Highs
        The solver, with ``output_flag`` set before anything else.
    """
    h = highspy._Highs()
    h.setOptionValue("output_flag", bool(log))
    h.setOptionValue("threads", 1)
    return h


def lp_model(cost: np.ndarray, col_lower: np.ndarray, col_upper: np.ndarray,
             integer: np.ndarray, rows: sp.csr_matrix, row_lower: np.ndarray,
             row_upper: np.ndarray, *, maximise: bool = False) -> Any:
    """A ``highspy.HighsLp`` from dense column data and a row-wise sparse matrix.

    Parameters
    ----------
    cost, col_lower, col_upper : ndarray
        Objective coefficient and bounds per column.
    integer : ndarray of bool
        Columns that must take integer values.
    rows : scipy.sparse.csr_matrix
        Constraint matrix, one row per constraint.
    row_lower, row_upper : ndarray
        Bounds per row (``-inf``/``inf`` for a one-sided row).
    maximise : bool
        Maximise the objective instead of minimising it.
    """
    n_col = int(np.size(cost))
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
                       for flag in np.asarray(integer, dtype=bool)]
    lp.num_row_ = rows.shape[0]
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = rows.indptr
    lp.a_matrix_.index_ = rows.indices
    lp.a_matrix_.value_ = rows.data
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = rows.shape[0]
    return lp


def solve_milp(lp: Any, options: dict[str, Any]) -> np.ndarray | None:
    """Solve ``lp`` with HiGHS under ``options``: the column values, or None without a
    feasible solution (e.g. the time limit came first)."""
    h = silent_highs()
    for name, value in options.items():
        h.setOptionValue(name, value)
    h.passModel(lp)
    h.run()
    if h.getInfo().primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
        return None
    return np.asarray(h.getSolution().col_value)
