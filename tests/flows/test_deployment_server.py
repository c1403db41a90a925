"""A cron deployment of the pipeline through a real local Prefect server and a process worker
(both on 127.0.0.1, started and stopped by this test by their own pids, worker first): the
``crawl-and-process`` deployment of prefect.yaml, deployed with ``prefect deploy`` and a cron of
every minute, is run by the scheduler and the worker and produces a release and its card.
The machinery is ``bench/deployment.py`` (which also prints the timings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_deployment", ROOT / "bench" / "deployment.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cron_deployment_runs_through_server_and_process_worker(tmp_path):
    figures = _bench().run(tmp_path, runs=1, log=lambda *_: None)
    (run,) = figures["runs"]
    assert run["state"] == "Completed" and run["auto_scheduled"] is True
    assert run["scheduled"].endswith(":00Z")  # a cron minute, not a manual run
    assert figures["stages"] == {s: "ok" for s in ("crawl", "dedup", "decontam", "format", "export", "card")}
    assert figures["release"]["version"] == "v0001" and figures["release"]["status"] == "released"
    assert (tmp_path / "data" / "cards" / "v0001" / "README.md").exists()
    # Started and stopped by the test: nothing of it is left running.
    assert set(figures["stopped"]) == {"worker", "server", "simulator"}
    assert all(code is not None for code in figures["stopped"].values())
