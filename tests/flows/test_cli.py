"""End to end through the ``swe-curate`` command: the demo, one-line errors on bad input, and a
crawl killed with SIGKILL then re-run, which must end with the tables of an uninterrupted crawl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

from ingest.config import CrawlConfig, GitConfig
from ingest.run import crawl
from ingest.store import DataRoot

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_cliTestToken_9f8e7d6c5b4a39281706"
TABLES = ("repos", "issues", "pulls", "comments", "pull_files", "pull_commits", "trees", "blobs")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_TOKEN", "PREFECT_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PYTHONUNBUFFERED="1", COLUMNS="120")
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("swe-curate"))
    return subprocess.run([exe, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def sim_process(tmp_path):
    """The simulator in its own process (it outlives a killed crawler), stopped by its pid."""
    port_file = tmp_path / "sim.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.simulator", "--preset", "demo", "--seed", "4", "--port", "0",
         "--port-file", str(port_file)],
        env=_env(tmp_path, SWE_CURATE_SIM_TOKENS=TOKEN), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_runs_offline_and_is_incremental(tmp_path):
    env = _env(tmp_path)
    first = _cli("demo", "--data", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout + first.stderr
    assert "simulator" in out and "raw tables in" in out
    root = DataRoot(tmp_path / "data")
    counts = {t: root.read_latest(t).num_rows for t in TABLES}
    assert all(counts[t] > 0 for t in TABLES), counts
    # API + git: every merged PR's files come from the clone, with its base snapshot in trees/blobs
    assert "git source: 3 ok" in out
    pulls = root.read_latest("pulls").to_pylist()
    files = root.read_latest("pull_files").to_pylist()
    merged = {(p["repo"], p["number"]) for p in pulls if p["merged"]}
    assert merged and {(f["repo"], f["number"]) for f in files if f["source"] == "git"} == merged
    bases = {(r["repo"], r["commit"]) for r in root.read_latest("trees").to_pylist()}
    assert {(f["repo"], f["base_sha"]) for f in files if f["source"] == "git"} <= bases
    blobs = {b["blob_sha"] for b in root.read_latest("blobs").to_pylist()}
    assert {f["base_blob_sha"] for f in files if f["base_blob_sha"] and not f["skip_reason"]} <= blobs
    # ... then dedup flags every issue and PR document once
    flags = pq.read_table(tmp_path / "data" / "dedup" / "flags" / "flags.parquet").to_pylist()
    issues = [i for i in root.read_latest("issues").to_pylist() if not i["is_pull_request"]]
    assert sorted(f["record_id"] for f in flags) == sorted([i["id"] for i in issues] + [p["id"] for p in pulls])
    assert "dedup flags" in out and all(f["keep"] or f["reason"] in ("exact", "near") for f in flags)
    # ... and decontam against the bundled SWE-bench Verified: the simulated world holds none of it
    assert "decontam flags (0 records removed)" in out
    # ... then format: sequences of every kind, and every emitted edit re-applies from the stored tables
    assert "format sequences (" in out and "100.0%) re-applied" in out
    for kind in ("bugfixer_v1", "testwriter_v1", "commitpack_v1"):
        assert pq.read_table(tmp_path / "data" / "sequences" / kind / "part-00000.parquet").num_rows > 0, kind
    # ... then a release into the data root (manifest last, every file verified) and its data card
    flat = " ".join(out.split())  # rich wraps long lines
    assert "export -> " in flat and "manifest.json written last" in flat
    manifest = tmp_path / "data" / "releases" / "v0001" / "manifest.json"
    assert manifest.exists() and (tmp_path / "data" / "releases" / "v0001" / "index.parquet").exists()
    card = (tmp_path / "data" / "cards" / "v0001" / "README.md").read_text()
    assert card.startswith("---\n") and "## How to load" in card and (tmp_path / "data" / "cards" / "v0001" /
                                                                     "length-bugfixer_v1.png").exists()
    verify = _cli("export", "--verify", "--to", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert verify.returncode == 0 and "release v0001" in verify.stdout and "; ok" in verify.stdout
    audit = _cli("audit", "--instance", "django__django-11099", "--data", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr[-3000:]
    assert audit.stdout.startswith("NOT FOUND: django__django-11099 (swe-bench-verified (sha256 ")
    bad = _cli("audit", "--instance", "django__django-0", "--data", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "swe-curate: error: --instance django__django-0: not an instance of the references (swe-bench-verified)"]
    report = _cli("audit", "--data", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert report.returncode == 0 and "0 of 500 benchmark instance(s) found" in report.stdout
    assert (tmp_path / "data" / "decontam" / "audit" / "report.md").read_text().startswith("# Decontamination report")
    second = _cli("demo", "--data", str(tmp_path / "data"), "--no-faults", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "ok acme/widgets: 0 records, 3 requests, git ok" in second.stdout + second.stderr
    assert "records hashed: 0 in 0 partitions" in second.stdout + second.stderr  # nothing new to hash
    assert {t: root.read_latest(t).num_rows for t in TABLES} == counts
    # Nothing changed: the latest release already holds it, and its card is written again.
    flat = " ".join(second.stderr.split())
    assert "release v0001" in flat and "already holds exactly this content" in flat
    assert not (tmp_path / "data" / "releases" / "v0002").exists()


@pytest.mark.parametrize("args,needle", [
    (["crawl", "--repo", "not a repo"], "crawl.repos"),
    (["crawl", "--repos-file", "/nonexistent/repos.txt"], "cannot read repos file /nonexistent/repos.txt"),
    (["crawl", "--repo", "a/b", "--config", "/nonexistent.toml"], "cannot read config file /nonexistent.toml"),
    (["crawl"], "nothing to crawl"),
    (["crawl", "--repo", "a/b", "--api-url", "ftp://x"], "crawl.api_url"),
    (["crawl", "--repo", "a/b", "--config", "/"], "cannot read config file /"),
    (["export", "--to", "out"], "no sequences to export (run swe-curate format first)"),
    (["export", "--to", "out", "--format", "megatron", "--shard-size", "0"], "export.shard_size"),
    (["card"], "no release made from it yet (run swe-curate export first)"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    res = _cli(*args, "--data", str(tmp_path / "data"), env=_env(tmp_path), cwd=tmp_path, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not (tmp_path / "data" / "raw").exists()


def test_bad_token_and_unknown_repo(tmp_path, sim_process):
    env = _env(tmp_path, GITHUB_TOKEN="ghp_wrong_token_value_1234")
    res = _cli("crawl", "--repo", "acme/widgets", "--api-url", sim_process, "--data", str(tmp_path / "d"),
               env=env, cwd=tmp_path, timeout=60)
    assert res.returncode == 3 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "401" in res.stderr and "ghp_wrong_token_value_1234" not in res.stdout + res.stderr

    env = _env(tmp_path, GITHUB_TOKEN=TOKEN)
    res = _cli("crawl", "--repo", "acme/nope", "--repo", "nova/tiny", "--api-url", sim_process,
               "--data", str(tmp_path / "d"), env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == "swe-curate: error: repository not found on GitHub: acme/nope"
    log = DataRoot(tmp_path / "d").read_latest("crawl_log").to_pylist()
    assert sorted((r["repo"], r["status"], r["reason"]) for r in log) == [
        ("acme/nope", "failed", "not_found"), ("nova/tiny", "filtered", "stars_below_min")]
    assert TOKEN not in res.stdout + res.stderr
    # Nothing the crawl or Prefect wrote (data root, Prefect's database and logs) holds the token.
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 200_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path


def _content(root: DataRoot) -> dict[str, list[dict]]:
    out = {}
    for t in TABLES:
        table = root.read_latest(t)
        out[t] = table.drop_columns(["crawled_at"]).to_pylist()
    return out


def _faults(url: str, **faults) -> None:
    requests.post(f"{url}/_simulator/faults", json=faults, timeout=10).raise_for_status()


def test_kill9_mid_crawl_then_rerun_gives_the_uninterrupted_tables(tmp_path, sim_process):
    repos = ["acme/widgets", "acme/gizmo", "lumen/parsekit", "nova/tiny", "relic/oldlib"]
    # Reference: an uninterrupted crawl of the same world.
    ref = tmp_path / "ref"
    cfg = CrawlConfig(api_url=sim_process, repos=tuple(repos), min_request_interval_s=0, concurrency=2)
    summary = crawl(ref, cfg, [TOKEN], git_config=GitConfig())  # the CLI clones too (git auto mode)
    assert all(o.status in ("ok", "filtered") for o in summary.outcomes)

    data = tmp_path / "data"
    env = _env(tmp_path, GITHUB_TOKEN=TOKEN)
    args = ["crawl", "--api-url", sim_process, "--data", str(data), "--concurrency", "2"]
    for r in repos:
        args += ["--repo", r]
    exe = str(Path(sys.executable).with_name("swe-curate"))
    _faults(sim_process, slow_rate=1.0, slow_s=0.15)  # slow answers, so the kill lands mid-crawl
    proc = subprocess.Popen([exe, *args], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            logs = list(data.glob("raw/crawl_log/batch=*/*.parquet"))
            if logs:
                break
            time.sleep(0.05)
        # Kill the crawler and everything it started (Prefect's API server) mid-crawl.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    committed = len(list(data.glob("raw/crawl_log/batch=*/*.parquet")))
    assert 1 <= committed < len(repos), "the kill must land mid-crawl"
    stats = requests.get(f"{sim_process}/_simulator/stats", timeout=10).json()
    assert stats["requests"] > 0

    _faults(sim_process)
    res = _cli(*args, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    got, want = _content(DataRoot(data)), _content(DataRoot(ref))
    for t in TABLES:
        assert got[t] == want[t], t
    # The interrupted run left no visible partial file: every committed part reads whole.
    for f in data.glob("raw/*/batch=*/*.parquet"):
        assert pq.read_table(f).num_rows > 0


def test_crawl_git_source_alone(tmp_path):
    """``crawl --git PATH``: merged PRs of a local repository, no API, no token; a missing path is
    a one-line error before any work."""
    from tests.ingest.test_git_source import build_calc

    repo, commits = build_calc(tmp_path / "clones" / "calc")
    env = _env(tmp_path)
    bad = _cli("crawl", "--git", str(tmp_path / "missing"), "--data", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "missing: no such directory" in bad.stderr
    assert not (tmp_path / "data" / "raw").exists()
    out = _cli("crawl", "--git", f"acme/calc={repo.path}", "--data", str(tmp_path / "data"), env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "git source: 1 ok; 2 PRs read from clones" in out.stderr
    root = DataRoot(tmp_path / "data")
    pulls = root.read_latest("pulls").to_pylist()
    assert [(p["number"], p["merge_commit_sha"], p["source"]) for p in pulls] == [
        (12, commits["m12"], "git"), (13, commits["s13"], "git")]
    (log_row,) = root.read_latest("crawl_log").to_pylist()
    assert (log_row["repo"], log_row["status"], log_row["git"], log_row["source"]) == ("acme/calc", "ok", "ok", "git")
    # a directory that is not a repository: recorded, and a non-zero exit naming it
    (tmp_path / "plain").mkdir()
    failed = _cli("crawl", "--git", f"acme/plain={tmp_path / 'plain'}", "--data", str(tmp_path / "data"),
                  env=env, cwd=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1] == "swe-curate: error: git source failed: acme/plain (git_failed)"


def test_crawl_gharchive_hour_files(tmp_path):
    """``crawl --gharchive FILE``: events into the raw tables through the flow; a re-run skips the
    file; a missing file is a one-line error before any work."""
    from tests.ingest.test_gharchive import TRIMMED_PR_CLOSED, modern_events, write_hour

    hour = write_hour(tmp_path / "2019-05-15-15.json.gz", [*modern_events(), TRIMMED_PR_CLOSED])
    env = _env(tmp_path)
    data = tmp_path / "data"
    bad = _cli("crawl", "--gharchive", str(tmp_path / "2019-05-15-16.json.gz"), "--data", str(data),
               env=env, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "2019-05-15-16.json.gz" in bad.stderr
    assert not (data / "raw").exists()
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text('[gharchive]\nrepo_selection = "all"\n')
    out = _cli("crawl", "--gharchive", str(hour), "--config", str(cfg), "--data", str(data), env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "hour files: 1 done" in out.stderr and "events: 8 read, 6 matched" in out.stderr
    root = DataRoot(data)
    pulls = {p["number"]: p for p in root.read_latest("pulls").to_pylist()}
    assert pulls[3]["partial"] is True and pulls[3]["title"] is None and pulls[2]["partial"] is False
    assert {i["source"] for i in root.read_latest("issues").to_pylist()} == {"gharchive"}
    again = _cli("crawl", "--gharchive", str(hour), "--config", str(cfg), "--data", str(data), env=env, cwd=tmp_path)
    assert again.returncode == 0 and "hour files: 1 skipped" in again.stderr, again.stderr[-3000:]
