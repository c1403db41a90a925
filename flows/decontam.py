"""Prefect flow of the decontam stage: partitions scanned as tasks, then one scoring/flag task.

Reads/writes what ``decontam.run`` does. The one idea: tasks are thin wrappers around
``DecontamRun`` methods and pass partition numbers, never frames; the references are loaded and
validated before the flow starts (bad input never reaches a task).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from decontam.config import DecontamConfig
from decontam.references import Reference
from decontam.run import DecontamRun
from flows.stage import RUNS, map_partitions

_REFS: dict[str, list[Reference]] = {}


@task(name="decontam-partition", cache_policy=NO_CACHE, task_run_name="scan partition {index}")
def scan_partition_task(key: str, index: int) -> Any:
    r = RUNS[key]
    return r.scan_partition(index, r.parts[index])


def summary_markdown(s: dict[str, Any]) -> str:
    lines = ["# Decontamination", "", f"records: {s['records']}; text scanned: {s['mb_scanned']} MB; "
             f"flagged: {s['flagged']}", "", "| kind:reason | records |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["counts"].items()]
    lines += ["", "| reference | instances found |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["instances_found"].items()]
    return "\n".join(lines) + "\n"


@flow(name="decontam", task_runner=ThreadPoolTaskRunner(max_workers=2))
def decontam_flow(data_root: str, config: dict[str, Any] | None = None, refs_key: str | None = None) -> dict[str, Any]:
    """Flag and audit every record that overlaps a benchmark reference."""
    refs = _REFS.get(refs_key) if refs_key else None
    r = DecontamRun(data_root, DecontamConfig.from_dict(config, "decontam"), refs)
    parts = r.plan()
    results = map_partitions(r, scan_partition_task, len(parts))
    summary = r.finish(results).to_json()
    create_markdown_artifact(markdown=summary_markdown(summary), key="decontam-summary", description="decontam")
    return summary


def run_decontam_flow(data_root: str, cfg: DecontamConfig, refs: list[Reference] | None = None) -> dict[str, Any]:
    """Run the flow; ``refs`` already loaded (and validated) by the caller are reused, not re-read."""
    key = f"refs:{id(refs)}" if refs is not None else None
    if key:
        _REFS[key] = refs  # type: ignore[assignment]
    try:
        return decontam_flow(data_root, cfg.model_dump(mode="json"), key)
    finally:
        if key:
            _REFS.pop(key, None)
