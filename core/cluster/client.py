"""A dask.distributed client: on the given scheduler, or on a local cluster made for one job."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from core import settings
from core.errors import JobError

CONNECT_TIMEOUT_S = 10


def scheduler_address(given: str | None = None) -> str | None:
    """The scheduler a job uses: the one given, else WB_DASK_SCHEDULER, else None (a local cluster)."""
    return (given or settings.get("dask_scheduler") or "").strip() or None


@contextmanager
def cluster_client(scheduler: str | None = None) -> Iterator:
    """A connected `distributed.Client`; a local cluster (WB_DASK_WORKERS processes, one thread each) when no
    scheduler is given, closed on exit. An unreachable scheduler is a JobError naming it."""
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address is None:
        # One thread per worker: LightGBM and the partition work already use a core each (2 jobs × 2 threads on
        # 2 cores oversubscribe badly). No dashboard: it needs a free port and bokeh. Workers' own logs stay quiet:
        # a failed task reaches the driver as its exception, which the CLI turns into one line.
        # direct_to_workers: results come straight from the workers; by default they pass through the scheduler,
        # which a LocalCluster runs inside this process, so gathered scores were held twice in the driver's memory.
        with (
            LocalCluster(
                n_workers=settings.get("dask_workers"),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            ) as cluster,
            Client(cluster, direct_to_workers=True) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise JobError(
            f"Cannot reach the Dask scheduler at {address} ({type(err).__name__}); start it (`dask scheduler`) "
            "or unset WB_DASK_SCHEDULER and omit --scheduler to use a local cluster."
        ) from None
    with client:
        yield client
