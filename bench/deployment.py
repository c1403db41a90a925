"""A cron deployment of the pipeline through a local Prefect server and a process worker.

Starts, all on 127.0.0.1 and each stopped by its own pid (worker before server):
- the GitHub simulator (demo preset) in its own process;
- ``prefect server start`` (API + UI) with a throwaway ``PREFECT_HOME``;
- ``prefect work-pool create swe-curate --type process`` and ``prefect deploy --name crawl-and-process``
  from the repository's ``prefect.yaml``, with ``--cron '* * * * *'`` (every minute) and parameters
  pointing at a temporary data root and a config that crawls the simulator, all six stages;
- ``prefect worker start --pool swe-curate``, which runs each scheduled flow run as a subprocess.
Then waits for the first scheduled run to finish and prints: server start-up, time from deploy to
the run's scheduled minute and to its start, the run's duration and final state, the stages in its
``runs/<id>/summary.json``, and the release and card it produced. A second scheduled run (the next
minute) is waited for too with ``--runs 2``: it is incremental (stages up to date are skipped).
    .venv/bin/python bench/deployment.py [--runs 1] [--keep DIR]
"""

from __future__ import annotations

import os
import sys

# Drop this folder from the import path first (bench/tokenize.py would shadow the standard library).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "sim-deployment-bench-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, name: str, timeout: float = 20) -> None:
    """SIGTERM to the process group we started (a worker can ignore the first one), then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            print(f"  {name} (pid {proc.pid}) still running after {sig.name}")


def run(work: Path, runs: int = 1, log=print) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GITHUB_TOKEN"))}
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env.update(PREFECT_HOME=str(work / "prefect-home"), PREFECT_API_URL=api, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PYTHONUNBUFFERED="1", PREFECT_SERVER_API_HOST="127.0.0.1",
               PREFECT_LOGGING_LEVEL="INFO", SWE_CURATE_SIM_TOKENS=TOKEN)
    procs: list[tuple[str, subprocess.Popen]] = []
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def start(name: str, args: list[str], **kw) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "w")
        p = subprocess.Popen(args, env={**env, **kw.pop("env", {})}, cwd=kw.pop("cwd", ROOT), stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((name, p))
        return p

    figures: dict = {}
    try:
        # 1. The simulator, in its own process.
        port_file = work / "sim.port"
        start("simulator", [sys.executable, "-m", "ingest.simulator", "--preset", "demo", "--seed", "4", "--port", "0",
                            "--port-file", str(port_file)])
        for _ in range(400):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        sim = f"http://127.0.0.1:{port_file.read_text().strip()}"
        cfg = work / "pipeline.toml"
        cfg.write_text(f'[crawl]\napi_url = "{sim}"\nrepos = ["acme/widgets", "acme/gizmo", "lumen/parsekit", '
                       f'"nova/tiny"]\nmin_request_interval_s = 0\n[decontam]\nreferences = ["bundled:swe-bench-verified"]\n')
        data = work / "data"

        # 2. The Prefect server (API + UI).
        t0 = time.time()
        server = start("server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                                  "--analytics-off"])
        while time.time() - t0 < 180:
            if server.poll() is not None:
                raise RuntimeError(f"prefect server exited: see {logs / 'server.log'}")
            try:
                if requests.get(f"{api}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        figures["server_start_s"] = round(time.time() - t0, 1)
        log(f"prefect server on {api} (UI http://127.0.0.1:{port}) ready in {figures['server_start_s']}s")

        # 3. Work pool and the deployment from prefect.yaml, every minute.
        def cli(*args: str) -> str:
            r = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                               timeout=300)
            if r.returncode != 0:
                raise RuntimeError(f"prefect {' '.join(args)}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
            return r.stdout

        cli("work-pool", "create", "swe-curate", "--type", "process")
        params = {"data_root": str(data), "config_path": str(cfg),
                  "overrides": {"run": {"stages": ["crawl", "dedup", "decontam", "format", "export", "card"]}}}
        t_deploy = time.time()
        cli("--no-prompt", "deploy", "--name", "crawl-and-process", "--cron", "* * * * *", "--timezone", "UTC",
            "--params", json.dumps(params))
        figures["deploy_s"] = round(time.time() - t_deploy, 1)
        log(f"deployed pipeline/crawl-and-process with cron '* * * * *' in {figures['deploy_s']}s")

        # 4. The process worker (the flow runs get the token from its environment, never as parameters).
        t_worker = time.time()
        start("worker", [str(BIN / "prefect"), "worker", "start", "--pool", "swe-curate", "--type", "process"],
              env={"GITHUB_TOKEN": TOKEN})

        # 5. Wait for the scheduled runs to finish.
        seen: dict[str, dict] = {}
        deadline = time.time() + 120 + 90 * runs
        while time.time() < deadline:
            r = requests.post(f"{api}/flow_runs/filter", json={"sort": "EXPECTED_START_TIME_ASC", "limit": 20},
                              timeout=10)
            r.raise_for_status()
            done = [fr for fr in r.json() if fr["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
                    and fr["parent_task_run_id"] is None and fr.get("deployment_id")]
            for fr in done:
                seen.setdefault(fr["id"], fr)
            if len(seen) >= runs:
                break
            time.sleep(2)
        if not seen:
            raise RuntimeError(f"no scheduled run finished in time; logs in {logs}")
        out = []
        for fr in list(seen.values())[:runs]:
            scheduled = fr["expected_start_time"]
            out.append({"name": fr["name"], "state": fr["state_name"], "scheduled": scheduled,
                        "start": fr["start_time"], "end": fr["end_time"], "run_s": round(fr["total_run_time"], 1),
                        "auto_scheduled": fr["auto_scheduled"]})
        figures["runs"] = out
        figures["worker_start_to_last_run_end_s"] = round(time.time() - t_worker, 1)
        latest = json.loads((data / "runs" / "latest.json").read_text())
        summary = json.loads((data / "runs" / latest["run_id"] / "summary.json").read_text())
        figures["stages"] = {k: v["status"] for k, v in summary["stages"].items()}
        figures["release"] = summary.get("release")
        figures["card"] = summary.get("card")
        for fr in out:
            log(f"scheduled run {fr['name']}: {fr['state']} (auto-scheduled {fr['auto_scheduled']}), scheduled for "
                f"{fr['scheduled']}, started {fr['start']}, {fr['run_s']}s of flow run time")
        log(f"last run's stages: {figures['stages']}; release {(figures['release'] or {}).get('version')} "
            f"({(figures['release'] or {}).get('status')}), card {figures['card']}")
        return figures
    finally:
        t_stop = time.time()
        figures["stopped"] = {}
        for name in ("worker", "server", "simulator"):  # the worker before the server
            for n, p in procs:
                if n == name:
                    _stop(p, name)
                    figures["stopped"][name] = p.poll()  # an exit status: it is no longer running
        figures["stop_s"] = round(time.time() - t_stop, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1, help="scheduled runs to wait for (one a minute)")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-deployment-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        figures = run(work, args.runs)
        print(json.dumps(figures, indent=1))
        print(f"total {time.time() - t0:.0f}s (servers started and stopped by this script)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
