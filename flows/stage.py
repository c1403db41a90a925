"""Running a stage's partitions as Prefect tasks on any task runner, shared by the stage flows.

Reads/writes nothing itself (partition results go where the caller says, see ``map_partitions``).
The one idea: a partition task gets only picklable inputs (the data root, the stage config as a
dict, the partition's own data) and rebuilds what it needs in the process it runs in, so the same
task runs on threads, worker processes or a Dask cluster. A stage object that is costly to build
(a tokenizer, a benchmark index) is built once per process and key: the caller registers its own
under the key (threads reuse it); another process builds one from the ``Factory`` and keeps it.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

log = logging.getLogger("swe_curate.flows")

# Stage objects by key, in this process (the caller's own, or ones built here from a Factory).
RUNS: OrderedDict[str, Any] = OrderedDict()
_LOCK = threading.Lock()
_BUILDING: dict[str, threading.Lock] = {}
_KEEP = 4  # a long-lived worker process keeps the stage objects of its last few runs only


@dataclass(frozen=True)
class Factory:
    """How to build a stage object in any process: ``module:callable`` and picklable arguments."""

    key: str
    target: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Any:
        module, _, name = self.target.partition(":")
        fn = getattr(importlib.import_module(module), name)
        return fn(*self.args, **dict(self.kwargs))


def register(key: str, obj: Any) -> None:
    with _LOCK:
        RUNS[key] = obj


def unregister(key: str) -> None:
    with _LOCK:
        RUNS.pop(key, None)


def resolve(factory: Factory) -> Any:
    """The stage object of ``factory.key`` in this process, built once (threads wait for it)."""
    with _LOCK:
        if factory.key in RUNS:
            RUNS.move_to_end(factory.key)
            return RUNS[factory.key]
        lock = _BUILDING.setdefault(factory.key, threading.Lock())
    with lock:
        with _LOCK:
            if factory.key in RUNS:
                return RUNS[factory.key]
        obj = factory.build()
        with _LOCK:
            RUNS[factory.key] = obj
            _BUILDING.pop(factory.key, None)
            while len(RUNS) > _KEEP:
                RUNS.popitem(last=False)
        return obj


def share_api() -> None:
    """Point other processes at this process's Prefect API. On the embedded default (no
    ``PREFECT_API_URL``) the API is a temporary server this process started; without this, every
    worker process would boot a temporary server of its own (8-17 s each) for its task runs."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL"):
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer._instances.get(None)
    if server is not None and getattr(server, "running", False):
        os.environ["PREFECT_API_URL"] = server.api_url


def task_runner(run_cfg: Any, workers: int | None = None) -> Any:
    """The Prefect task runner ``[run]`` asks for (threads, processes, or a Dask cluster by address)."""
    n = workers or run_cfg.workers
    if run_cfg.task_runner != "threads":
        share_api()
    if run_cfg.task_runner == "processes":
        return ProcessPoolTaskRunner(max_workers=n)
    if run_cfg.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=run_cfg.dask_address)
    return ThreadPoolTaskRunner(max_workers=n)


@dataclass
class MapResult:
    """Results in partition order (``None`` where a partition failed), and the failures."""

    results: list[Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    reused: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


def failure(stage: str, index: int, exc: BaseException) -> dict[str, Any]:
    """A partition failure as the run summary and the card show it (one line, no traceback)."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return {"stage": stage, "partition": index, "error": type(exc).__name__, "detail": text}


def map_partitions(stage: str, task: Any, args: Sequence[tuple[Any, ...]],
                   done: Callable[[int], Any] | None = None) -> MapResult:
    """Submit ``task(*args[i])`` for every partition ``i`` on the flow's task runner and collect the
    results in partition order. A partition ``done(i)`` returns a result for (not ``None``: already
    finished by an earlier attempt) is not submitted again. A partition whose task fails (after
    its retries) is a failure entry, never an exception: the caller decides what a failure means."""
    out: list[Any] = [None] * len(args)
    reused = 0
    futures = {}
    for i, a in enumerate(args):
        prior = done(i) if done else None
        if prior is not None:
            out[i] = prior
            reused += 1
        else:
            futures[i] = task.submit(*a)
    failures = []
    for i, f in futures.items():
        try:
            out[i] = f.result()
        except Exception as exc:  # a partition's failure is reported, not raised
            log.warning("%s partition %d failed: %s", stage, i, "".join(
                traceback.format_exception_only(type(exc), exc)).strip())
            failures.append(failure(stage, i, exc))
    return MapResult(out, failures, reused)


# -- partition results kept in the data root (resume after a crash) --------------------------------
def run_partitions(stage: str, run: Any, target: str, config: dict[str, Any], task: Any, parts: Sequence[Any],
                   retries: int = 0, resume_key: str | None = None) -> MapResult:
    """Map ``task(factory, index, partition, keep)`` over ``parts`` with ``run`` registered for
    this process (other processes build theirs with ``target(data_root, config)``). With
    ``resume_key``, each result is kept under ``runs/_parts/<stage>/<key>/`` and a partition a killed
    run already finished is not run again."""
    factory = Factory(f"{stage}:{uuid.uuid4().hex}", target, (run.root.url, config))
    keep = (lambda i: f"runs/_parts/{stage}/{resume_key}/part-{i:05d}.pkl") if resume_key else (lambda i: None)
    t = task.with_options(retries=retries, retry_delay_seconds=1) if retries else task
    register(factory.key, run)
    try:
        return map_partitions(stage, t, [(factory, i, p, keep(i)) for i, p in enumerate(parts)],
                              done=(lambda i: load_result(run.root.url, keep(i))) if resume_key else None)
    finally:
        unregister(factory.key)


def save_result(data_root: str, rel: str, value: Any) -> None:
    """A partition's result, written atomically by the task itself (so it survives the parent)."""
    from ingest.store import DataRoot

    DataRoot(data_root).write_bytes(rel, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def load_result(data_root: str, rel: str) -> Any | None:
    from ingest.store import DataRoot

    root = DataRoot(data_root)
    if not root.exists(rel):
        return None
    try:
        with root.fs.open(root.path(rel), "rb") as fh:
            return pickle.loads(fh.read())
    except Exception:  # unreadable (another code version): the partition is redone
        return None


def drop_results(data_root: str, rel: str) -> None:
    """Remove a stage's kept partition results once the stage has committed."""
    from ingest.store import DataRoot

    root = DataRoot(data_root)
    if root.exists(rel):
        root.fs.rm(root.path(rel), recursive=True)


def absolute(data_root: str) -> str:
    """A local data root as an absolute path (tasks may run in another process or folder)."""
    return data_root if "://" in data_root else os.path.abspath(data_root)
