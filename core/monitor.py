"""Monitor a registered model on new rows: score windows, feature drift, estimated and realised performance, alerts.

    python -m core.monitor --model NAME [--alias champion | --version N] --data DS --time-column COL [--since DATE]
        [--window-days 7 --step-days 1] [--filter 'COL OP VALUE' ...] [--now DATETIME] [--fail-on-alert]

Each pass is one MLflow run in the experiment `monitor/<model>` (core.monitoring.monitor_pass). Progress goes to stderr;
the last stdout line is one JSON object `{"model", "version", "run_id", "windows", "alerts": [{"rule", "window_start",
"value", "limit", "feature", "estimated"}], "status", "dataset", "rows", "threshold", "threshold_from", "seconds"}`.
Exit 0; 3 with --fail-on-alert when an alert fired; 2 with one `error:` line for bad input; 1 for a crash.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading

from core.cli import crashed, leave
from core.errors import DataError, WorkbenchError, failed
from core.sql import parse_filter

ALERTED = 3  # exit code with --fail-on-alert when any alert fired


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.monitor",
        description="Score new rows with a registered model and log windows, feature drift and alerts as one MLflow run. "
        "Progress goes to stderr; the last stdout line is one JSON object.",
        epilog="Exit 0; 3 with --fail-on-alert when any alert fired; 2 with one line for bad input. Alert limits: "
        "WB_MONITOR_MAX_SCORE_PSI, WB_MONITOR_MAX_FEATURE_PSI, WB_MONITOR_CALIBRATION_BAND, WB_GATE_MIN_ROC_AUC.",
    )
    parser.add_argument("--model", required=True, metavar="NAME", help="a registered model's name")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--alias", help="the version under this alias (default: champion)")
    which.add_argument("--version", type=int, metavar="N", help="version number N")
    parser.add_argument("--data", metavar="DS", help="dataset name or path under the data root (default: the version's training dataset)")
    parser.add_argument("--time-column", metavar="COL", help="the rows' time (default: the version's training time column)")
    parser.add_argument("--since", metavar="DATE", help="monitor only rows at or after this time")
    parser.add_argument("--window-days", type=float, default=7.0, metavar="D", help="window length in days (default 7)")
    parser.add_argument("--step-days", type=float, default=1.0, metavar="D", help="step between window starts in days (default 1)")
    parser.add_argument("--filter", nargs="+", action="append", metavar="'COL OP VALUE'", help="monitor only the rows that pass")
    parser.add_argument(
        "--now", metavar="DATETIME", help="as-of time for label maturity: windows ending after now - WB_CONVERSION_DAYS are immature "
        "(default: the wall clock)"
    )  # fmt: skip
    parser.add_argument("--fail-on-alert", action="store_true", help="exit 3 when any alert fired")
    parser.add_argument("--run-id", help=argparse.SUPPRESS)  # set by core.jobs, which makes the run first
    return parser.parse_args(argv)


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep stderr for our progress lines
    args = parse_args(argv)
    from core.monitoring.monitor_pass import monitor  # after parsing: --help stays fast

    # A scheduler stops jobs with SIGTERM: unwind so the run is marked KILLED, not left RUNNING.
    previous = signal.signal(signal.SIGTERM, _stop) if threading.current_thread() is threading.main_thread() else None
    which = args.version if args.version is not None else (args.alias or "champion")
    try:
        filters = [parse_filter(text) for group in args.filter or [] for text in group]
        if args.version is not None and args.version <= 0:
            raise DataError(f"--version {args.version} must be a positive version number.")
        result = monitor(
            args.model, which, args.data, args.time_column, args.since, args.window_days, args.step_days, filters, args.now, args.run_id
        )
    except WorkbenchError as err:
        run_id = getattr(err, "run_id", args.run_id)
        return failed(err, model=args.model, **({"run_id": run_id} if run_id else {}), status="FAILED")
    except Exception as err:
        return crashed(err, "monitor", run_id=getattr(err, "run_id", args.run_id), model=args.model)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(json.dumps(result, ensure_ascii=False))
    return ALERTED if args.fail_on_alert and result["alerts"] else 0


if __name__ == "__main__":
    leave(main())
