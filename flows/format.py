"""Prefect flow of the format stage: partitions of repositories built as tasks, then one commit step.

Reads/writes what ``format.run`` does, plus each partition's result under ``runs/_parts/format/<inputs>/``
(removed once the stage commits). The one idea: a partition task gets the data root, the config as
a dict and its list of repositories, and builds the ``FormatRun`` it needs (tokenizer, drop lists)
once per process, so it runs on threads, worker processes or a Dask cluster alike. Each finished
partition's result is kept, keyed by everything the stage reads, so a stage killed midway resumes
with the partitions still missing; a partition that fails after its retries is reported and its
repositories are left out of this run's sequences (the next run builds them again).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.stage import Factory, drop_results, resolve, run_partitions, save_result
from format.config import FormatConfig
from format.run import FormatRun, Part


def build_run(data_root: str, config: dict[str, Any]) -> FormatRun:
    return FormatRun(data_root, FormatConfig.from_dict(config, "format"))


@task(name="format-partition", cache_policy=NO_CACHE, task_run_name="format partition {index}")
def build_partition_task(factory: Factory, index: int, repos: list[str], keep: str | None = None) -> Part:
    r = resolve(factory)
    part = r.build_partition(index, repos)
    if keep:
        save_result(r.root.url, keep, part)
    return part


def summary_markdown(s: dict[str, Any]) -> str:
    lines = ["# Format", "", f"merged PRs: {s['prs']}; tokenizer: {s['tokenizer']}", "",
             "| kind | sequences | tokens |", "|---|---|---|"]
    lines += [f"| {k} | {n} | {s['tokens'][k]} |" for k, n in s["sequences"].items()]
    lines += ["", "| kind:reason | sequences dropped |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["drops"].items()]
    if s.get("failures"):
        lines += ["", "| failed partition | error |", "|---|---|"]
        lines += [f"| {f['partition']} | {f['error']}: {f['detail']} |" for f in s["failures"]]
    return "\n".join(lines) + "\n"


@flow(name="format", task_runner=ThreadPoolTaskRunner(max_workers=2))
def format_flow(data_root: str, config: dict[str, Any] | None = None, retries: int = 0,
                resume_key: str | None = None) -> dict[str, Any]:
    """BugFixer, TestWriter and commit-pack sequences with Qwen2.5 token counts. With
    ``resume_key`` (a digest of the stage's inputs), finished partitions are kept and reused."""
    config = config or {}
    r = build_run(data_root, config)
    parts = r.plan()
    m = run_partitions("format", r, "flows.format:build_run", config, build_partition_task, parts, retries, resume_key)
    summary = r.finish([p for p in m.results if p is not None]).to_json()
    summary["failures"] = m.failures
    summary["partitions_resumed"] = m.reused
    if resume_key and not m.failures:
        drop_results(r.root.url, f"runs/_parts/format/{resume_key}")
    create_markdown_artifact(markdown=summary_markdown(summary), key="format-summary", description="format")
    return summary


def run_format_flow(data_root: str, cfg: FormatConfig, runner: Any = None, retries: int = 0,
                    resume_key: str | None = None) -> dict[str, Any]:
    runner = runner or ThreadPoolTaskRunner(max_workers=2)
    return format_flow.with_options(task_runner=runner)(data_root, cfg.model_dump(mode="json"), retries, resume_key)
