"""Settings of the out-of-sample validation: methods, baselines, area shares, labels."""

from __future__ import annotations

#: Shares of the area (percent) at which hit rate and PAI are reported.
AREA_PCTS: tuple[float, ...] = (1.0, 5.0, 10.0)

#: Methods compared, in report order.
METHODS: tuple[str, ...] = ("forecast", "last_period_counts", "long_run_counts", "classic_kde",
                            "rtm", "rtm_x_kde")

#: The naive baselines the forecast must beat.
BASELINES: tuple[str, ...] = ("last_period_counts", "long_run_counts", "classic_kde")

#: Methods scored by the analysis itself (the risk terrain ones only by ``validate``).
STAGE_METHODS: tuple[str, ...] = ("forecast", *BASELINES)

#: Plain names shown in the CLI, the report and the app.
LABELS: dict[str, str] = {
    "forecast": "validated forecast", "last_period_counts": "last period's counts",
    "long_run_counts": "long-run counts (all past periods)",
    "classic_kde": "classic KDE (rule of thumb)", "rtm": "risk terrain score",
    "rtm_x_kde": "risk terrain x KDE"}

#: Resamples of the paired bootstrap over cells.
BOOTSTRAP_RESAMPLES: int = 499

#: Columns of the tidy validation table.
COLUMNS: tuple[str, ...] = ("method", "metric", "area_pct", "decile", "value")
