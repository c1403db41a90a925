"""Prefect flow of the format stage: partitions of repositories built as tasks, then one commit task.

Reads/writes what ``format.run`` does. The one idea: tasks are thin wrappers around ``FormatRun``
methods and pass partition numbers, never frames; the config and tokenizer are validated before
the flow starts (bad input never reaches a task).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.stage import RUNS, map_partitions
from format.config import FormatConfig
from format.run import FormatRun, Part


@task(name="format-partition", cache_policy=NO_CACHE, task_run_name="format partition {index}")
def build_partition_task(key: str, index: int) -> Part:
    r = RUNS[key]
    return r.build_partition(index, r.parts[index])


def summary_markdown(s: dict[str, Any]) -> str:
    lines = ["# Format", "", f"merged PRs: {s['prs']}; tokenizer: {s['tokenizer']}", "",
             "| kind | sequences | tokens |", "|---|---|---|"]
    lines += [f"| {k} | {n} | {s['tokens'][k]} |" for k, n in s["sequences"].items()]
    lines += ["", "| kind:reason | sequences dropped |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["drops"].items()]
    return "\n".join(lines) + "\n"


@flow(name="format", task_runner=ThreadPoolTaskRunner(max_workers=2))
def format_flow(data_root: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """BugFixer, TestWriter and commit-pack sequences with Qwen2.5 token counts."""
    r = FormatRun(data_root, FormatConfig.from_dict(config, "format"))
    parts = r.plan()
    results = map_partitions(r, build_partition_task, len(parts))
    summary = r.finish(results).to_json()
    create_markdown_artifact(markdown=summary_markdown(summary), key="format-summary", description="format")
    return summary


def run_format_flow(data_root: str, cfg: FormatConfig) -> dict[str, Any]:
    return format_flow(data_root, cfg.model_dump(mode="json"))
