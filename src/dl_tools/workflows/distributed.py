"""The heavy steps on ``dask.distributed`` (DESIGN.md 6): a Client, tasks with a progress bar, models cached per worker.

The unit of work is one image, or one window of one raster: a task is a picklable callable and the tuple of its
arguments, the same callable the serial path calls in-process. A Client comes from ``ClusterParams``:

- ``workers=N``: a ``LocalCluster`` of N worker processes on this machine. Each worker runs one task at a time
  (one Dask thread) and its numerical libraries (TensorFlow's intra-op pool, OpenMP in the CRF and OpenCV, BLAS)
  use ``numeric_threads(N)`` = max(1, cores // N) threads, set through their environment variables
  (``thread_environment``) before the worker process starts, so N workers never oversubscribe the cores;
- ``scheduler=ADDRESS`` or ``scheduler_file=FILE``: an existing cluster (dask-jobqueue, dask-gateway, machines
  started with ``dask scheduler`` / ``dask worker``), waited for ``timeout`` seconds; its workers' threads are
  theirs to set (``dask worker --nthreads 1`` with ``OMP_NUM_THREADS`` and ``TF_NUM_INTRAOP_THREADS``, docs/scaling.md).

Inputs and outputs must be on a file system every worker sees under the same paths: a task first checks that each
``Path`` among its arguments exists there, and a task that cannot see one, or that the system refuses a file,
fails the run with ``TaskFailed`` naming the path and the worker. An ``InputError`` raised by a task (an image
found unusable) reaches the caller as itself, to be handled as in the serial run (``folder_runs.process_images``).

Dask imports only here, inside the functions that need it: a serial run never imports it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DlToolsError, InputError, MissingDependencyError

log = logging.getLogger(__name__)

#: The install command named when dask is missing.
DASK_EXTRA = 'pip install "dl_tools[dask]"'
#: Seconds to wait for a scheduler to answer, and for its first worker.
CONNECT_TIMEOUT = 20.0
#: Loaded models kept per worker process (the oldest is dropped beyond it).
MAX_CACHED_MODELS = 2
#: The environment variables that bound the threads of TensorFlow, OpenMP, OpenBLAS, MKL and OpenCV.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "OPENCV_FOR_THREADS_NUM")


class TaskFailed(DlToolsError):
    """A task failed for a reason of the cluster, not of one image (a worker that cannot see a path, a file the
    system refused there): the run stops; the message names the worker."""


@dataclass(frozen=True)
class ClusterParams:
    """Where the tasks run. workers: start a local cluster of this many worker processes (``--workers``).
    scheduler: address of an existing scheduler, e.g. ``tcp://host:8786`` (``--scheduler``). scheduler_file: the
    JSON file a scheduler wrote with ``--scheduler-file`` (``--scheduler-file``). At most one of the three; none:
    the serial run. timeout: seconds to wait for the scheduler and its first worker."""

    workers: int | None = None
    scheduler: str | None = None
    scheduler_file: str | None = None
    timeout: float = CONNECT_TIMEOUT

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers must be at least 1 worker process, got {self.workers}")
        given = [flag for flag, value in (("--workers", self.workers), ("--scheduler", self.scheduler),
                                          ("--scheduler-file", self.scheduler_file)) if value is not None]
        if len(given) > 1:
            raise InputError(f"give one of --workers (a local cluster), --scheduler or --scheduler-file (an "
                             f"existing one), not {' and '.join(given)}")
        if not self.timeout > 0:
            raise InputError(f"the scheduler timeout must be a positive number of seconds, got {self.timeout}")

    @property
    def distributed(self) -> bool:
        """True when the tasks go to a Dask cluster."""
        return self.workers is not None or self.scheduler is not None or self.scheduler_file is not None


def numeric_threads(workers: int, cores: int | None = None) -> int:
    """Threads of each worker's numerical libraries when ``workers`` share ``cores`` (default: this machine's):
    max(1, cores // workers)."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def thread_environment(threads: int) -> dict[str, str]:
    """The environment variables (``THREAD_VARIABLES``) that hold a worker's numerical libraries to ``threads``
    threads; TensorFlow's inter-op pool to one (a worker runs one task at a time)."""
    return {**{name: str(threads) for name in THREAD_VARIABLES}, "TF_NUM_INTEROP_THREADS": "1"}


def _distributed():
    """The ``distributed`` package, or MissingDependencyError naming the extra that installs it."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(f"--workers, --scheduler and --scheduler-file run on Dask, which is not "
                                     f"installed; install it with: {DASK_EXTRA}") from exc
    return distributed


#: Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in each worker by default; setting it turns off glibc's adaptive mmap
#: threshold, so every array above 128 kB is mapped and unmapped anew: one worker labelling a 96-megapixel mosaic
#: took 152 s with it (52 s in the kernel) and 85 s without it (15 s in the kernel; docs/scaling.md). None unsets it.
WORKER_PRE_SPAWN = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _local_cluster(distributed, workers: int):
    import dask

    threads = numeric_threads(workers)
    log.info("starting a local Dask cluster of %d worker processes, 1 task at a time each, %d numerical "
             "thread%s each", workers, threads, "" if threads == 1 else "s")
    with dask.config.set(WORKER_PRE_SPAWN):
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        env=thread_environment(threads), dashboard_address=":0",
                                        silence_logs=logging.ERROR)


def _connect(distributed, params: ClusterParams):
    """A Client of the existing cluster of ``params``, with at least one worker; InputError naming the address or
    file when none answers within ``params.timeout``."""
    if params.scheduler_file is not None:
        where = f"--scheduler-file {params.scheduler_file}"
        if not Path(params.scheduler_file).is_file():
            raise InputError(f"{where} does not exist; give the file written by `dask scheduler --scheduler-file`")
        target = {"scheduler_file": params.scheduler_file}
    else:
        where = f"--scheduler {params.scheduler}"
        target = {"address": params.scheduler}
    try:
        client = distributed.Client(**target, timeout=params.timeout)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError; a malformed address a ValueError
        raise InputError(f"{where}: no Dask scheduler answered within {params.timeout:g} s ({exc}); check the "
                         "address and that `dask scheduler` runs there") from None
    try:
        client.wait_for_workers(1, timeout=params.timeout)
    except (OSError, distributed.TimeoutError) as exc:
        client.close()
        raise InputError(f"{where}: the scheduler has no worker after {params.timeout:g} s; start workers with "
                         f"`dask worker {client.scheduler.address}`") from exc
    return client


@contextlib.contextmanager
def cluster_client(params: ClusterParams) -> Iterator[Any]:
    """Within the block, the ``distributed.Client`` of ``params`` (None for the serial run: dask is not imported);
    a local cluster is shut down at the end. The dashboard's address is logged."""
    if not params.distributed:
        yield None
        return
    distributed = _distributed()
    with contextlib.ExitStack() as stack:
        if params.workers is not None:
            cluster = stack.enter_context(_local_cluster(distributed, params.workers))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(_connect(distributed, params))
        log.info("Dask scheduler %s, %d workers; dashboard: %s", client.scheduler.address,
                 len(client.scheduler_info(n_workers=-1)["workers"]), dashboard(client))
        yield client


def dashboard(client) -> str:
    """The address of the Dask dashboard of ``client``'s scheduler, or why there is none."""
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return "none (install bokeh for it)"
    return client.dashboard_link


def _where() -> str:
    """This worker's address and host name."""
    from distributed import get_worker

    return f"{get_worker().address} ({socket.gethostname()})"


def _run_task(function: Callable, invoked: tuple[tuple[str, ...] | None, str], *args):
    """Worker side of a task: check that every Path among ``args`` and ``function.inputs`` (the files the
    function itself reads, when it says so) exists here, then ``function(*args)`` with the
    client's command line and working folder ``invoked`` (for provenance records), no progress bars and a silent
    TensorFlow import; a path not seen or a file refused is a TaskFailed naming this worker."""
    from ..provenance_record import command_line
    from ..quiet_import import silence_tensorflow_import
    from ..terminal import progress_shown

    silence_tensorflow_import()  # TensorFlow's start-up lines, on every worker's terminal otherwise
    for arg in (*args, *getattr(function, "inputs", ())):
        if isinstance(arg, Path) and not arg.exists():
            raise TaskFailed(f"worker {_where()} cannot see {arg} (its working folder: {os.getcwd()}): inputs and "
                             "outputs must be on a file system every worker shares, under the same absolute paths")
    with command_line(*invoked), progress_shown(False):
        try:
            return function(*args)
        except OSError as exc:
            raise TaskFailed(f"on worker {_where()}: {exc}") from None


def map_tasks(client, function: Callable, items: Sequence[tuple], *, desc: str, unit: str,
              initial: int = 0) -> Iterator[tuple[int, Callable[[], Any]]]:
    """Run ``function(*item)`` for every item of ``items`` as one Dask task each, on ``client``'s cluster; yield
    (index of the item, ``result``) as the tasks finish, with a progress bar (``desc``, ``unit``) counting finished
    tasks (after ``initial`` done before, e.g. by an interrupted run). ``result()`` returns what the task returned
    or raises what it raised (``TaskFailed`` for the cluster's reasons, see module doc). ``function`` (a picklable
    callable: a module-level function, or an instance of a module-level class holding the settings shared by the
    tasks) is sent to every worker once, not once a task (a copy on each, so that a worker's death loses no copy).
    Tasks not yet finished are cancelled when the caller stops early (an exception)."""
    from ..provenance_record import invocation
    from ..terminal import progress

    distributed = _distributed()
    shared = client.scatter(function, hash=False, broadcast=True)
    run = uuid.uuid4().hex[:8]
    name = getattr(function, "__name__", type(function).__name__).strip("_")
    futures = [client.submit(_run_task, shared, invocation(), *item, key=f"{name}-{run}-{index}", pure=False)
               for index, item in enumerate(items)]
    index_of = {future.key: index for index, future in enumerate(futures)}
    try:
        with progress(total=len(futures) + initial, initial=initial, desc=desc, unit=unit) as bar:
            for future in distributed.as_completed(futures):
                bar.update(1)
                yield index_of[future.key], future.result
    finally:
        client.cancel(futures)


_MODELS: dict[tuple, Any] = {}
_LOADS: Counter = Counter()
_LOCK = threading.Lock()


def file_key(path: str | os.PathLike, *extra) -> tuple:
    """The cache key of a model file: its resolved path, size and modification time (nanoseconds), and ``extra``
    (e.g. the checkpoint); a file rewritten in place gets a new key."""
    path = Path(path).resolve()
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns, *extra)


def cached_model(key: tuple, load: Callable[[], Any]) -> Any:
    """The model of ``key`` (``file_key``) loaded by ``load()`` once in this process (a worker, or the client of a
    serial run) and reused by every later task; ``MAX_CACHED_MODELS`` are kept, the oldest dropped beyond them."""
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
            _LOADS[key] += 1
            while len(_MODELS) > MAX_CACHED_MODELS:
                del _MODELS[next(iter(_MODELS))]
        return _MODELS[key]


def model_loads() -> dict[str, int]:
    """How many times this process loaded each model file, by path (``client.run(model_loads)`` asks every worker:
    one load a worker is the aim)."""
    counts: Counter = Counter()
    for key, loads in _LOADS.items():
        counts[key[0]] += loads
    return dict(counts)
