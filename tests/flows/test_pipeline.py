"""``swe-curate run`` end to end on the simulator: a release and its card, a run killed with
SIGKILL mid-format then re-run ending with the uninterrupted run's release bytes, failures in the
run summary and the card, the saved config; and the heavy stages on a local Dask cluster and on
worker processes giving the thread runner's bytes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.flows.test_cli import TOKEN, _cli, _env, sim_process  # noqa: F401 (sim_process: a fixture)

REPOS = ["acme/widgets", "acme/gizmo", "lumen/parsekit", "nova/tiny", "relic/oldlib", "acme/nope"]


def _config(path: Path, api_url: str) -> Path:
    repos = ", ".join(f'"{r}"' for r in REPOS)
    path.write_text(f"""
[run]
workers = 2

[crawl]
api_url = "{api_url}"
repos = [{repos}]
min_request_interval_s = 0
concurrency = 2

[dedup]
partition_docs = 40

[decontam]
references = ["bundled:swe-bench-verified"]

[format]
partition_repos = 1
""")
    return path


def _release(data: Path) -> dict[str, str]:
    rel = data / "releases" / "v0001"
    return {str(p.relative_to(rel)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(rel.rglob("*")) if p.is_file()}


def _summary(data: Path) -> dict:
    run_id = json.loads((data / "runs" / "latest.json").read_text())["run_id"]
    return json.loads((data / "runs" / run_id / "summary.json").read_text())


def test_run_release_card_then_kill9_and_resume_gives_the_same_release(tmp_path, sim_process):  # noqa: F811
    cfg = _config(tmp_path / "pipeline.toml", sim_process)
    env = _env(tmp_path, GITHUB_TOKEN=TOKEN)

    # An uninterrupted run: a release, its card, the run's config and summary.
    ref = tmp_path / "ref"
    res = _cli("run", "--data", str(ref), "--config", str(cfg), env=env, cwd=tmp_path, timeout=280)
    assert res.returncode == 0, res.stderr[-3000:]
    s = _summary(ref)
    assert s["status"] == "ok_with_failures" and s["release"]["version"] == "v0001"
    assert {st: v["status"] for st, v in s["stages"].items()} == {
        st: "ok" for st in ("crawl", "dedup", "decontam", "format", "export", "card")}
    # A repository that fails is reported (summary and card), never fatal.
    assert [(f["stage"], f["repo"], f["error"]) for f in s["failures"]] == [("crawl", "acme/nope", "not_found")]
    card = (ref / "cards" / "v0001" / "README.md").read_text()
    assert "acme/nope" in card.split("### Failed repositories")[1].split("###")[0]
    assert f"Pipeline run `{s['run_id']}`: none." in card
    assert (ref / "releases" / "v0001" / "manifest.json").exists()
    saved = tomllib.loads((ref / "runs" / s["run_id"] / "config.toml").read_text())
    assert saved["format"]["partition_repos"] == 1 and saved["run"]["task_runner"] == "threads"
    assert saved["crawl"]["repos"] == REPOS and saved["decontam"]["references"] == ["bundled:swe-bench-verified"]
    assert s["stages"]["format"]["sequences"]["bugfixer_v1"] > 0
    for path in tmp_path.rglob("*"):  # the token is nowhere: data root, run folder, Prefect's database
        if path.is_file() and path.stat().st_size < 200_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path
    want = _release(ref)
    assert len(want) >= 5

    # The same run killed (the process and everything it started) once format has finished a partition.
    data = tmp_path / "data"
    exe = str(Path(sys.executable).with_name("swe-curate"))
    proc = subprocess.Popen([exe, "run", "--data", str(data), "--config", str(cfg)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if list(data.glob("runs/_parts/format/*/part-*.pkl")):
                break
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert list(data.glob("runs/_parts/format/*/part-*.pkl")), "the kill must land in the format stage"
    assert not (data / "releases" / "v0001" / "manifest.json").exists()
    killed = _summary(data)
    assert killed["status"] == "running" and killed["stages"]["decontam"]["status"] == "ok"

    res = _cli("run", "--data", str(data), "--config", str(cfg), env=env, cwd=tmp_path, timeout=280)
    assert res.returncode == 0, res.stderr[-3000:]
    s = _summary(data)
    assert s["run_id"] != killed["run_id"] and s["status"] == "ok_with_failures"
    # Resumed: decontam is up to date, format reuses the partitions the killed run finished.
    assert s["stages"]["decontam"]["status"] == "skipped"
    assert s["stages"]["format"]["status"] == "ok" and s["stages"]["format"]["partitions_resumed"] >= 1
    assert _release(data) == want
    assert not list(data.glob("runs/_parts/format/*/*.pkl"))  # kept results are removed once committed


@pytest.mark.parametrize("args,needle", [
    (["--task-runner", "dask"], "run: Value error, task_runner = \"dask\" needs dask_address"),
    (["--task-runner", "dask", "--dask-address", "tcp://127.0.0.1:9"], "run.dask_address tcp://127.0.0.1:9: "
                                                                         "no Dask scheduler answers"),
    (["--stages", "format,crawl"], "stages must be in pipeline order"),
    (["--workers", "0"], "run.workers"),
])
def test_run_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text('[crawl]\nrepos = ["acme/widgets"]\n[decontam]\nreferences = ["bundled:swe-bench-verified"]\n')
    res = _cli("run", "--data", str(tmp_path / "data"), "--config", str(cfg), *args, env=_env(tmp_path),
               cwd=tmp_path, timeout=60)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "data").exists()


def test_run_config_section_and_saved_toml(tmp_path):
    from flows.config import PipelineConfig, config_from_dict, load_config, to_toml
    from ingest.errors import ConfigError

    cfg = tmp_path / "p.toml"
    cfg.write_text('[run]\ntask_runner = "dask"\ndask_address = "tcp://127.0.0.1:8786"\nsources = ["gharchive"]\n'
                   'gharchive = ["2024-01-01..2024-01-01-3"]\n[export.storage_options]\nsecret = "s3cr3t"\n')
    c = load_config(cfg)
    assert c.run.task_runner == "dask" and c.run.sources == ("gharchive",)
    text = to_toml(c)
    assert "s3cr3t" not in text and 'secret = "<redacted>"' in text
    back = config_from_dict(tomllib.loads(text))
    assert back.run == c.run and back.dedup == c.dedup and back.format == c.format
    assert config_from_dict(tomllib.loads(to_toml(PipelineConfig()))) == PipelineConfig()
    for bad, needle in (({"run": {"sources": ["api", "api"]}}, "run.sources: Value error, duplicate entry"),
                        ({"run": {"task_runner": "ray"}}, "run.task_runner"),
                        ({"run": {"token": "x"}}, "run.token: unknown key (tokens come only from")):
        with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
            config_from_dict(bad)


# -- the heavy stages on other task runners ------------------------------------------------------
@pytest.fixture(scope="module")
def prefect_api():
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_API_URL.value()
        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url  # worker processes and Dask workers report to this API too
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = old


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory):
    """A data root crawled from the simulator's demo world (API + clones)."""
    from ingest.config import CrawlConfig, GitConfig
    from ingest.run import crawl
    from ingest.simulator import SimulatorServer, World, WorldSpec

    world = World.generate(WorldSpec.demo(seed=2))
    root = tmp_path_factory.mktemp("raw")
    with SimulatorServer(world, tokens=["sim-token"]) as sim:
        cfg = CrawlConfig(api_url=sim.url, repos=tuple(r.full_name for r in world.listed_repos()),
                          min_request_interval_s=0)
        crawl(root, cfg, ["sim-token"], git_config=GitConfig())
    return root


def _outputs(root: Path) -> dict[str, str]:
    skip = ("raw", "runs")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in skip and p.suffix in (".parquet", ".npy")}


def _dedup_and_format(root: Path, runner) -> tuple[dict, dict]:
    from dedup.config import DedupConfig
    from flows.dedup import run_dedup_flow
    from flows.format import run_format_flow
    from format.config import FormatConfig

    d = run_dedup_flow(str(root), DedupConfig(partition_docs=30), runner)
    f = run_format_flow(str(root), FormatConfig(partition_repos=1), runner)
    return d, f


def test_dedup_and_format_on_dask_and_processes_match_threads(tmp_path, raw_root, prefect_api):
    import shutil

    from distributed import Client, LocalCluster, get_task_stream

    from flows.config import RunConfig
    from flows.stage import task_runner

    roots = {}
    for name in ("threads", "dask", "processes"):
        roots[name] = tmp_path / name
        shutil.copytree(raw_root / "raw", roots[name] / "raw")
    d, f = _dedup_and_format(roots["threads"], task_runner(RunConfig()))
    assert d["partitions"] >= 3 and sum(f["sequences"].values()) > 0
    want = _outputs(roots["threads"])
    assert any(k.startswith("dedup/signatures/") for k in want) and "sequences/bugfixer_v1/part-00000.parquet" in want

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, protocol="tcp")
    try:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        rc = RunConfig(task_runner="dask", dask_address=cluster.scheduler_address)
        with Client(cluster) as client, get_task_stream(client) as stream:
            dd, ff = _dedup_and_format(roots["dask"], task_runner(rc))
        # Every partition ran on the cluster, spread over its two workers.
        assert len(stream.data) >= dd["partitions"] + 3
        assert len({t["worker"] for t in stream.data}) == 2
    finally:
        cluster.close()
    assert (dd["counts"], ff["sequences"]) == (d["counts"], f["sequences"])
    assert _outputs(roots["dask"]) == want

    dp, fp = _dedup_and_format(roots["processes"], task_runner(RunConfig(task_runner="processes", workers=2)))
    assert (dp["counts"], fp["sequences"]) == (d["counts"], f["sequences"])
    assert _outputs(roots["processes"]) == want


def test_partition_failures_are_collected_not_raised(prefect_api):
    from prefect import flow, task

    from flows.stage import map_partitions

    @task
    def part(i: int) -> int:
        if i == 2:
            raise ValueError(f"partition {i} is broken")
        return i * 10

    @flow
    def f() -> object:
        return map_partitions("format", part, [(i,) for i in range(4)], done=lambda i: -1 if i == 0 else None)

    m = f()
    assert m.results == [-1, 10, None, 30] and m.reused == 1
    assert m.failures == [{"stage": "format", "partition": 2, "error": "ValueError",
                           "detail": "partition 2 is broken"}]
