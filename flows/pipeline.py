"""The whole pipeline as one Prefect flow: crawl -> dedup -> decontam -> format -> export -> card.

Reads: the pipeline config (a TOML file path, plus TOML-shaped overrides without secrets), the data
root. Writes: what every stage writes, and ``runs/<run-id>/config.toml`` (the resolved config,
secrets redacted), ``runs/<run-id>/summary.json`` (per stage: status, seconds, counts; every
per-repository and per-partition failure; the release and its card), ``runs/latest.json``, and
``runs/_stages/<stage>.json`` (what the stage last completed from: a digest of its inputs).

The one idea: every stage is safe to run again and skips what is already done, so a run killed
anywhere is resumed by running it again and ends with the same release bytes. The crawl moves each
repository's cursor only after its rows are in (a re-run fetches the rest); dedup hashes only
batches it has not seen; decontam and format are skipped when their inputs' digest equals the one
they last completed from, and otherwise reuse the partitions an interrupted attempt finished; the
export keeps every shard already at the destination with its checksum. Failures of a repository or
of a format partition are collected and reported, never fatal; a failed dedup or decontam stops
before the release (a release never holds records those stages did not see).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.config import PipelineConfig, config_from_dict, export_config, load_config, to_toml
from flows.stage import absolute, task_runner
from ingest.errors import ConfigError, SweCurateError
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.pipeline")

# What each stage reads from raw/ (its input digest covers these tables' batches).
STAGE_TABLES = {
    "decontam": ("repos", "issues", "pulls", "comments", "pull_commits", "pull_files"),
    "format": ("repos", "issues", "pulls", "comments", "pull_files", "pull_commits", "commit_diffs", "trees", "blobs"),
}
# Files of earlier stages a stage reads (their bytes are in its digest).
STAGE_FILES = {
    "decontam": (),
    "format": ("dedup/flags/flags.parquet", "decontam/flags/flags.parquet"),
}

Reporter = Callable[[str, str, dict[str, Any]], None]  # (event: start | end | skip | fail, stage, info)
_REPORTER: Reporter | None = None


def set_reporter(fn: Reporter | None) -> None:
    """In-process callback for stage events (the CLI prints each stage's summary with it)."""
    global _REPORTER
    _REPORTER = fn


def _report(event: str, stage: str, info: dict[str, Any]) -> None:
    if _REPORTER is not None:
        _REPORTER(event, stage, info)


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()


def resolve_config(config_path: str | None, overrides: dict[str, dict[str, Any]] | None = None) -> PipelineConfig:
    """The file's config with TOML-shaped ``overrides`` merged section by section (validated)."""
    cfg = load_config(config_path)
    if not overrides:
        return cfg
    data = {name: getattr(cfg, name).model_dump(mode="json", exclude_unset=True) for name in type(cfg).model_fields}
    for name, values in overrides.items():
        if not isinstance(values, dict):
            raise ConfigError(f"override [{name}] must be a table")
        data.setdefault(name, {}).update(values)
    return config_from_dict(data, config_path or "overrides")


def _digest(root: DataRoot, stage: str, config: dict[str, Any]) -> str:
    """What a stage's output depends on: its config, the batches of the raw tables it reads, and
    the bytes of the earlier stages' outputs it reads."""
    h = hashlib.sha256(json.dumps({"stage": stage, "config": config}, sort_keys=True, default=str).encode())
    for t in STAGE_TABLES[stage]:
        h.update(f"\0{t}:{','.join(root.batches(t))}".encode())
    for rel in STAGE_FILES[stage]:
        h.update(f"\0{rel}:".encode())
        if root.exists(rel):
            with root.fs.open(root.path(rel), "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:32]


def _marker(root: DataRoot, stage: str) -> dict[str, Any] | None:
    return root.read_json(f"runs/_stages/{stage}.json")


def _done(root: DataRoot, stage: str, digest: str, output: str) -> bool:
    m = _marker(root, stage)
    return bool(m and m.get("inputs") == digest and root.exists(output))


class Run:
    """The bookkeeping of one pipeline run: its summary, written after every stage."""

    def __init__(self, root: DataRoot, run_id: str, cfg: PipelineConfig, config_path: str | None):
        self.root, self.run_id, self.cfg = root, run_id, cfg
        self.t0 = time.perf_counter()
        self.summary: dict[str, Any] = {
            "run_id": run_id, "data_root": root.url, "config": config_path,
            "task_runner": {"kind": cfg.run.task_runner, "workers": cfg.run.workers,
                            "dask_address": cfg.run.dask_address},
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "finished_at": None,
            "status": "running", "stages": {}, "failures": [], "release": None, "card": None}
        root.write_bytes(f"runs/{run_id}/config.toml", to_toml(cfg).encode())
        self.save()

    def save(self) -> None:
        self.root.write_json(f"runs/{self.run_id}/summary.json", self.summary)
        self.root.write_json("runs/latest.json", {"run_id": self.run_id})

    def stage(self, name: str, status: str, seconds: float, **info: Any) -> None:
        self.summary["stages"][name] = {"status": status, "seconds": round(seconds, 2), **info}
        self.save()

    def fail(self, entries: list[dict[str, Any]]) -> None:
        self.summary["failures"] += entries
        self.save()


def _crawl(run: Run, data_root: str) -> dict[str, Any]:
    from flows.crawl import run_crawl_flow, run_gharchive_flow, run_git_flow

    cfg = run.cfg
    results: dict[str, Any] = {}
    if "gharchive" in cfg.run.sources:
        _report("start", "gharchive", {"files": len(cfg.run.gharchive)})
        res = run_gharchive_flow(data_root, cfg.gharchive, list(cfg.run.gharchive))
        _report("end", "gharchive", res)
        results["gharchive"] = {"files": res["files"], "events_read": res["events_read"], "rows": res["rows"],
                                "seconds": res["seconds"]}
        run.fail([{"stage": "crawl", "source": "gharchive", "file": f["name"], "error": f["reason"]}
                  for f in res["per_file"] if f["status"] == "failed"])
    if "api" in cfg.run.sources:
        _report("start", "crawl", {})
        res = run_crawl_flow(data_root, cfg.crawl, None, cfg.git)
        _report("end", "crawl", res)
        results["api"] = _crawl_counts(res)
        run.fail(_repo_failures(res, "api"))
    if "git" in cfg.run.sources:
        _report("start", "git", {"sources": len(cfg.run.git)})
        res = run_git_flow(data_root, cfg.git, list(cfg.run.git))
        _report("end", "git", res)
        results["git"] = _crawl_counts(res)
        run.fail(_repo_failures(res, "git"))
    return results


def _crawl_counts(res: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, int] = {}
    for r in res["repos"]:
        status[r["status"]] = status.get(r["status"], 0) + 1
    return {"crawl_id": res["crawl_id"], "repos": status, "records": res["records"], "requests": res["requests"],
            "seconds": res["seconds"]}


def _repo_failures(res: dict[str, Any], source: str) -> list[dict[str, Any]]:
    return [{"stage": "crawl", "source": source, "repo": r["repo"], "error": r["reason"], "detail": r["detail"]}
            for r in res["repos"] if r["status"] == "failed"]


@flow(name="pipeline", log_prints=False)
def pipeline_flow(data_root: str = "./data", config_path: str | None = None,
                  overrides: dict[str, dict[str, Any]] | None = None, run_id: str | None = None) -> dict[str, Any]:
    """crawl -> dedup -> decontam -> format -> export -> card over ``data_root`` (the stages of
    ``[run] stages``), each a subflow; resumable, failures reported in ``runs/<run-id>/summary.json``."""
    cfg = resolve_config(config_path, overrides)
    return run_pipeline(absolute(data_root), cfg, config_path, run_id)


def run_pipeline(data_root: str, cfg: PipelineConfig, config_path: str | None = None,
                 run_id: str | None = None) -> dict[str, Any]:
    """The pipeline's body (inside a flow run): stage after stage, with the bookkeeping."""
    from flows.card import run_card_flow
    from flows.decontam import run_decontam_flow
    from flows.dedup import run_dedup_flow
    from flows.export import run_export_flow
    from flows.format import run_format_flow
    from format.export_run import ExportRun

    root = DataRoot(data_root)
    run = Run(root, run_id or new_run_id(), cfg, config_path)
    rc = cfg.run
    runner = lambda: task_runner(rc)  # noqa: E731  (a runner instance per subflow)
    blocked: str | None = None
    for stage in rc.stages:
        t0 = time.perf_counter()
        if blocked:
            run.stage(stage, "not_run", 0.0, reason=f"{blocked} failed")
            _report("skip", stage, {"reason": f"{blocked} failed"})
            continue
        try:
            if stage == "crawl":
                info = _crawl(run, data_root)
                run.stage(stage, "ok", time.perf_counter() - t0, **info)
            elif stage == "dedup":
                _report("start", stage, {})
                res = run_dedup_flow(data_root, cfg.dedup, runner(), rc.partition_retries)
                _report("end", stage, res)
                run.stage(stage, "ok", time.perf_counter() - t0, records_hashed=res["records_hashed"],
                          partitions=res["partitions"], docs=res["docs"], counts=res["counts"])
            elif stage in ("decontam", "format"):
                section = getattr(cfg, stage)
                digest = _digest(root, stage, section.model_dump(mode="json"))
                output = "decontam/state.json" if stage == "decontam" else "format/state.json"
                if _done(root, stage, digest, output):
                    run.stage(stage, "skipped", time.perf_counter() - t0, reason="up to date", inputs=digest)
                    _report("skip", stage, {"reason": "up to date: its inputs have not changed since it last ran"})
                    continue
                _report("start", stage, {})
                if stage == "decontam":
                    res = run_decontam_flow(data_root, cfg.decontam, None, runner(), rc.partition_retries, digest)
                    info = {"records": res["records"], "flagged": res["flagged"], "counts": res["counts"],
                            "partitions_resumed": res["partitions_resumed"]}
                else:
                    res = run_format_flow(data_root, cfg.format, runner(), rc.partition_retries, digest)
                    info = {"sequences": res["sequences"], "tokens": res["tokens"],
                            "partitions_resumed": res["partitions_resumed"], "failed_partitions": len(res["failures"])}
                    run.fail(res["failures"])
                _report("end", stage, res)
                if not res.get("failures"):
                    root.write_json(f"runs/_stages/{stage}.json", {"inputs": digest, "run_id": run.run_id})
                run.stage(stage, "ok" if not res.get("failures") else "partial", time.perf_counter() - t0, **info)
            elif stage == "export":
                _report("start", stage, {})
                er = ExportRun(data_root, rc.export_to or data_root, export_config(cfg))
                res = run_export_flow(er)
                _report("end", stage, res)
                run.summary["release"] = {"version": res["version"], "url": res["url"], "status": res["status"],
                                          "fingerprint": res["fingerprint"], "documents": res["documents"],
                                          "tokens": res["tokens"]}
                run.stage(stage, "ok", time.perf_counter() - t0, version=res["version"], release_status=res["status"],
                          shards=res["shards"], files=res["files"])
            elif stage == "card":
                _report("start", stage, {})
                res = run_card_flow(data_root, cfg.card, None, cfg.export.storage())
                _report("end", stage, res)
                run.summary["card"] = res["path"]
                run.stage(stage, "ok", time.perf_counter() - t0, version=res["version"], path=res["path"])
        except SweCurateError as exc:
            failures = getattr(exc, "failures", None) or [{"stage": stage, "error": type(exc).__name__,
                                                          "detail": str(exc).splitlines()[0][:300]}]
            run.fail(failures)
            run.stage(stage, "failed", time.perf_counter() - t0, error=str(exc).splitlines()[0][:300])
            _report("fail", stage, {"error": str(exc)})
            if stage in ("dedup", "decontam", "format", "export"):
                blocked = stage  # later stages would release what this one did not finish
    s = run.summary
    s["status"] = "failed" if blocked else ("ok_with_failures" if s["failures"] else "ok")
    s["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    s["seconds"] = round(time.perf_counter() - run.t0, 2)
    run.save()
    try:
        create_markdown_artifact(markdown=summary_markdown(s), key="pipeline-summary",
                                 description=f"pipeline run {run.run_id}")
    except Exception:  # noqa: BLE001 - outside a flow run (tests call run_pipeline directly)
        pass
    return s


def summary_markdown(s: dict[str, Any]) -> str:
    lines = [f"# Pipeline run `{s['run_id']}` ({s['status']})", "", f"Data root: `{s['data_root']}`; task runner: "
             f"{s['task_runner']['kind']}", "", "| stage | status | seconds |", "|---|---|---|"]
    lines += [f"| {k} | {v['status']} | {v['seconds']} |" for k, v in s["stages"].items()]
    if s["release"]:
        lines += ["", f"Release {s['release']['version']} ({s['release']['status']}): `{s['release']['url']}`"]
    if s["failures"]:
        lines += ["", "| failed | where | error |", "|---|---|---|"]
        lines += [f"| {f['stage']} | {f.get('repo') or f.get('file') or f.get('partition', '')} | "
                  f"{f.get('error')}: {f.get('detail') or ''} |" for f in s["failures"]]
    return "\n".join(lines) + "\n"
