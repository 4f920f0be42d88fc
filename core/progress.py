"""A job's progress: lines on stderr kept for the run's `train.log`, and the run's `progress` metric."""

from __future__ import annotations

import sys
import time

import mlflow


class Log:
    """Progress lines to stderr, kept for the run's `train.log` artifact, and the progress metric."""

    def __init__(self, stream=None):
        self.stream = stream
        self.lines: list[str] = []
        self.began = time.monotonic()

    def __call__(self, message: str, progress: float | None = None) -> None:
        line = f"[{time.monotonic() - self.began:7.1f}s] {message}"
        self.lines.append(line)
        print(line, file=self.stream or sys.stderr, flush=True)
        if progress is not None and mlflow.active_run():
            mlflow.log_metric("progress", progress)
