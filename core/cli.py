"""How every command-line entry point ends."""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """Exits with `code` once exit handlers have run and output is flushed, without tearing the interpreter down.

    When a CLI's main returns, its runs are ended, its files closed and its JSON printed; unloading the ~3,000
    modules MLflow, scikit-learn and LightGBM bring and freeing a 1 GB heap would still cost ~1.5 s that a scheduler
    waits for. Exit handlers (MLflow's temporary folders) still run. An exception out of main never gets here, so a
    crash exits the usual way, traceback and all.
    """
    atexit._run_exitfuncs()  # what a normal exit runs first; the teardown after it is what we skip
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def describe(err: BaseException) -> str:
    """An unexpected error as one line: `<ExceptionClass>: <first line of its message>`."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def crashed(err: BaseException, prog: str, run_id: str | None = None, **fields) -> int:
    """What a CLI does with an error that is not a WorkbenchError (a bug, or a failure nobody foresaw).

    The run, if any, ends FAILED with tag `wb.error` = describe(err) and the traceback in its train.log; without a run
    the traceback goes to a file in the temporary folder. The analyst gets one `error:` line on stderr saying where
    the traceback is, and the usual JSON object (status FAILED, the error) as the last stdout line. Exit code 1.
    """
    from core import tracking
    from core.errors import failed

    problem = tracking.store_problem(err)
    if problem is not None:  # the store is locked, read-only or full: the analyst's to fix, and nothing to log it in
        return failed(problem, **({"run_id": run_id} if run_id else {}), **fields, status="FAILED")
    message = describe(err)
    where = _keep_traceback(err, prog, run_id)
    print(f"error: {message} (unexpected; traceback in {where})", file=sys.stderr)
    print(json.dumps({**({"run_id": run_id} if run_id else {}), **fields, "status": "FAILED", "error": message}, ensure_ascii=False))
    return 1


def _keep_traceback(err: BaseException, prog: str, run_id: str | None) -> str:
    """Where the traceback went: the run's train.log (appended to), else a temporary file."""
    text = "".join(traceback.format_exception(err))
    if run_id and getattr(err, "traceback_logged", False):  # core.train wrote it into the run's train.log itself
        _fail_run(run_id, describe(err))
        return f"run {run_id}'s train.log"
    if run_id:
        try:
            _append_to_run_log(run_id, text)
            _fail_run(run_id, describe(err))
            return f"run {run_id}'s train.log"
        except Exception:  # the store may be what failed: keep the traceback locally instead
            pass
    with tempfile.NamedTemporaryFile("w", prefix=f"wb-{prog}-", suffix=".log", delete=False) as file:
        file.write(text)
    return file.name


def _fail_run(run_id: str, message: str) -> None:
    from core import tracking

    tracking.fail(run_id, message)


def _append_to_run_log(run_id: str, text: str) -> None:
    import mlflow

    from core import tracking

    client = tracking.client()
    try:
        before = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="train.log")).read_text()
    except (mlflow.exceptions.MlflowException, OSError):
        before = ""
    client.log_text(run_id, before + text, "train.log")
