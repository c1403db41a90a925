"""Prefect flow of the dedup stage: partitions hashed as tasks, then one link and one flag step.

Reads/writes what ``dedup.run`` does. The one idea: a partition task gets a picklable
``PartitionJob`` (data root, config, run, bands, the partition's record keys) and calls the
module-level ``dedup.run.hash_partition``, so the same task runs on threads, worker processes or a
Dask cluster; its outputs are files at fixed paths, so a task tried again writes the same bytes.
A partition that still fails stops the stage before it commits (its records would never be hashed
again): the next run redoes the whole run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from dedup.config import DedupConfig
from dedup.run import DedupRun, PartitionJob, hash_partition
from flows.stage import map_partitions
from ingest.errors import RetryableError


class PartitionsFailed(RetryableError):
    """A stage's partition failed after its retries; nothing of the stage's run was committed."""

    def __init__(self, stage: str, failures: list[dict[str, Any]]):
        self.stage, self.failures = stage, failures
        first = failures[0]
        super().__init__(f"{stage}: {len(failures)} partition(s) failed (first: partition {first['partition']}, "
                         f"{first['error']}: {first['detail']}); nothing committed, run it again")


@task(name="dedup-partition", cache_policy=NO_CACHE, task_run_name="hash partition {job.index}")
def hash_partition_task(job: PartitionJob) -> tuple[int, dict[str, float]]:
    return hash_partition(job)


def summary_markdown(s: dict[str, Any]) -> str:
    lines = [f"# Dedup run {s['run']}", "", f"bands x rows: {s['bands'][0]} x {s['bands'][1]}; "
             f"records hashed: {s['records_hashed']}; candidate pairs verified: {s['candidate_pairs']}", "",
             "| kind:outcome | records |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["counts"].items()]
    return "\n".join(lines) + "\n"


@flow(name="dedup", task_runner=ThreadPoolTaskRunner(max_workers=2))
def dedup_flow(data_root: str, config: dict[str, Any] | None = None, retries: int = 0) -> dict[str, Any]:
    """Exact and MinHash-LSH near-duplicate flags for every issue and PR document."""
    r = DedupRun(data_root, DedupConfig.from_dict(config, "dedup"))
    parts = r.plan()
    t = hash_partition_task.with_options(retries=retries, retry_delay_seconds=1) if retries else hash_partition_task
    m = map_partitions("dedup", t, [(r.job(i, p),) for i, p in enumerate(parts)])
    if m.failures:
        raise PartitionsFailed("dedup", m.failures)
    for _, seconds in m.results:
        r.seconds.update(seconds)
    summary = r.finish(sum(n for n, _ in m.results)).to_json()
    create_markdown_artifact(markdown=summary_markdown(summary), key="dedup-summary", description="dedup")
    return summary


def run_dedup_flow(data_root: str, cfg: DedupConfig, runner: Any = None, retries: int = 0) -> dict[str, Any]:
    """Run the flow on ``runner`` (default: ``cfg.threads`` threads of this process)."""
    runner = runner or ThreadPoolTaskRunner(max_workers=cfg.threads)
    return dedup_flow.with_options(task_runner=runner)(data_root, cfg.model_dump(mode="json"), retries)
