"""Prefect flow of the dedup stage: partitions hashed as tasks, then one link and one flag task.

Reads/writes what ``dedup.run`` does. The one idea: tasks are thin wrappers around ``DedupRun``
methods and pass partition numbers and paths, never frames; a partition is the unit of work a
task runner (threads, processes, Dask) maps over.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from dedup.config import DedupConfig
from dedup.run import DedupRun
from flows.stage import RUNS, map_partitions


@task(name="dedup-partition", cache_policy=NO_CACHE, task_run_name="hash partition {index}")
def hash_partition_task(key: str, index: int) -> int:
    r = RUNS[key]
    return r.hash_partition(index, r.parts[index])


def summary_markdown(s: dict[str, Any]) -> str:
    lines = [f"# Dedup run {s['run']}", "", f"bands x rows: {s['bands'][0]} x {s['bands'][1]}; "
             f"records hashed: {s['records_hashed']}; candidate pairs verified: {s['candidate_pairs']}", "",
             "| kind:outcome | records |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["counts"].items()]
    return "\n".join(lines) + "\n"


@flow(name="dedup", task_runner=ThreadPoolTaskRunner(max_workers=2))
def dedup_flow(data_root: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Exact and MinHash-LSH near-duplicate flags for every issue and PR document."""
    r = DedupRun(data_root, DedupConfig.from_dict(config, "dedup"))
    parts = r.plan()
    hashed = sum(map_partitions(r, hash_partition_task, len(parts)))
    summary = r.finish(hashed).to_json()
    create_markdown_artifact(markdown=summary_markdown(summary), key="dedup-summary", description="dedup")
    return summary


def run_dedup_flow(data_root: str, cfg: DedupConfig) -> dict[str, Any]:
    runner = ThreadPoolTaskRunner(max_workers=cfg.threads)
    return dedup_flow.with_options(task_runner=runner)(data_root, cfg.model_dump(mode="json"))
