"""Prefect flow of the decontam stage: partitions scanned as tasks, then one scoring/flag step.

Reads/writes what ``decontam.run`` does, plus each partition's scan under ``runs/_parts/decontam/<inputs>/``
(removed once the stage commits). The one idea: a partition task gets the data root, the config as
a dict and its record keys, and uses the ``DecontamRun`` (references and their index) of its
process: the caller's own on threads (references loaded and validated before the flow), one built
once per process elsewhere. A partition that fails after its retries stops the stage before it
writes anything: a record that was not scanned must never reach a release.
"""

from __future__ import annotations

import uuid
from typing import Any

import pyarrow as pa
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from decontam.config import DecontamConfig
from decontam.references import Reference
from decontam.run import DecontamRun
from flows.dedup import PartitionsFailed
from flows.stage import Factory, drop_results, resolve, run_partitions, save_result

_REFS: dict[str, list[Reference]] = {}


def build_run(data_root: str, config: dict[str, Any]) -> DecontamRun:
    return DecontamRun(data_root, DecontamConfig.from_dict(config, "decontam"))


@task(name="decontam-partition", cache_policy=NO_CACHE, task_run_name="scan partition {index}")
def scan_partition_task(factory: Factory, index: int, records: pa.Table, keep: str | None = None) -> Any:
    r = resolve(factory)
    part = r.scan_partition(index, records)
    if keep:
        save_result(r.root.url, keep, part)
    return part


def summary_markdown(s: dict[str, Any]) -> str:
    lines = ["# Decontamination", "", f"records: {s['records']}; text scanned: {s['mb_scanned']} MB; "
             f"flagged: {s['flagged']}", "", "| kind:reason | records |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["counts"].items()]
    lines += ["", "| reference | instances found |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["instances_found"].items()]
    return "\n".join(lines) + "\n"


@flow(name="decontam", task_runner=ThreadPoolTaskRunner(max_workers=2))
def decontam_flow(data_root: str, config: dict[str, Any] | None = None, refs_key: str | None = None,
                  retries: int = 0, resume_key: str | None = None) -> dict[str, Any]:
    """Flag and audit every record that overlaps a benchmark reference."""
    config = config or {}
    refs = _REFS.get(refs_key) if refs_key else None
    r = DecontamRun(data_root, DecontamConfig.from_dict(config, "decontam"), refs)
    parts = r.plan()
    m = run_partitions("decontam", r, "flows.decontam:build_run", config, scan_partition_task, parts, retries, resume_key)
    if m.failures:
        raise PartitionsFailed("decontam", m.failures)
    summary = r.finish(m.results).to_json()
    summary["partitions_resumed"] = m.reused
    if resume_key:
        drop_results(r.root.url, f"runs/_parts/decontam/{resume_key}")
    create_markdown_artifact(markdown=summary_markdown(summary), key="decontam-summary", description="decontam")
    return summary


def run_decontam_flow(data_root: str, cfg: DecontamConfig, refs: list[Reference] | None = None, runner: Any = None,
                      retries: int = 0, resume_key: str | None = None) -> dict[str, Any]:
    """Run the flow; ``refs`` already loaded (and validated) by the caller are reused, not re-read."""
    key = f"refs:{uuid.uuid4().hex}" if refs is not None else None
    if key:
        _REFS[key] = refs  # type: ignore[assignment]
    try:
        runner = runner or ThreadPoolTaskRunner(max_workers=2)
        return decontam_flow.with_options(task_runner=runner)(data_root, cfg.model_dump(mode="json"), key, retries,
                                                              resume_key)
    finally:
        if key:
            _REFS.pop(key, None)
