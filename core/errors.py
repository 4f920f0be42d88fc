"""The few exception types the workbench raises; each message says what to fix."""

import json
import sys


class WorkbenchError(Exception):
    """A user-facing problem: pages show it with st.error, CLIs exit 2 with it."""


class DataError(WorkbenchError):
    """A dataset, column, target or filter that cannot be used as given."""


class QueryError(WorkbenchError):
    """SQL from the SQL box that is refused or failed."""


class SpecError(WorkbenchError):
    """A training spec with a missing, unknown or invalid key."""


class JobError(WorkbenchError):
    """A training job that cannot be launched, found or cancelled."""


class RegistryError(WorkbenchError):
    """A run, registered model or version that is unknown or cannot be used as asked."""


class GateFailed(RegistryError):
    """A promotion the gate refuses; the message names the failed rule."""


def failed(err: WorkbenchError, **fields) -> int:
    """What a CLI does with a user error: one `error:` line on stderr, a JSON object with `fields` and the error
    as the last stdout line, exit code 2."""
    message = str(err).splitlines()[0]
    print(f"error: {message}", file=sys.stderr)
    print(json.dumps({**fields, "error": message}))
    return 2
