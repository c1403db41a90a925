"""Releases on a real S3 server (SeaweedFS started on 127.0.0.1 for this module): upload and read
back, an interrupted upload resumed, checksum mismatches detected, the manifest visible only after
everything was verified, and bad credentials as a one-line error from the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from format.config import ExportConfig
from format.export_run import export_release, read_manifest, verify_release
from ingest.errors import ConfigError
from tests.format.export_data import sequences, write_sequences
from tests.format.s3server import seaweedfs

BUCKET = "releases"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    t0 = time.monotonic()
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        server.fs().mkdir(BUCKET)
        print(f"SeaweedFS ready in {time.monotonic() - t0:.1f}s at {server.endpoint}")
        yield server


@pytest.fixture
def aws(s3, monkeypatch):
    """The standard AWS variables of the test identity (what s3fs / botocore read)."""
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    return s3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("s3data") / "data"
    write_sequences(str(d), sequences(120, seed=5))
    return d


def cfg(**kw) -> ExportConfig:
    return ExportConfig(**{"require_decontam": False, "shard_size": 6_000, "workers": 1, **kw})


def _url() -> str:
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:10]}"


class Stop(Exception):
    """Raised from the progress callback: the process dies mid-upload (no cleanup of the release)."""


def test_upload_read_back_and_parquet_from_s3(aws, data, tmp_path):
    url = _url()
    s = export_release(data, url, cfg(format="parquet", workers=2))
    assert s.status == "released" and s.files == {"uploaded": s.shards} and s.bytes_uploaded > 0
    fs = aws.fs()
    prefix = url.removeprefix("s3://")
    assert fs.exists(f"{prefix}/releases/v0001/manifest.json") and not fs.exists(f"{prefix}/releases/v0001/_partial")
    dest, m = read_manifest(url)
    assert m["version"] == "v0001" and len(m["shards"]) == s.shards
    assert verify_release(url).ok
    # A shard read straight from the store is the exported table.
    first = m["shards"][0]["files"][0]
    with fs.open(f"{prefix}/releases/v0001/{first['path']}", "rb") as fh:
        t = pq.read_table(fh)
    assert t.num_rows == m["shards"][0]["documents"] and sum(t.column("n_tokens").to_pylist()) == m["shards"][0]["tokens"]


def test_interrupted_upload_resumes_and_manifest_appears_only_at_the_end(aws, data, tmp_path):
    url, fs = _url(), aws.fs()
    prefix = url.removeprefix("s3://") + "/releases/v0001"
    seen_manifest = []

    def stop_after(n):
        def progress(event, info):
            if event == "shard":
                seen_manifest.append(fs.exists(f"{prefix}/manifest.json"))
                if len(seen_manifest) >= n:
                    raise Stop()
        return progress

    with pytest.raises(Stop):
        export_release(data, url, cfg(format="megatron"), progress=stop_after(4))
    shipped = len(seen_manifest)  # 4, or 5 when the worker had taken the next shard already
    assert shipped in (4, 5) and not any(seen_manifest)
    assert not fs.exists(f"{prefix}/manifest.json") and not fs.exists(url.removeprefix("s3://") + "/releases/latest.json")
    journals = fs.ls(f"{prefix}/_partial")
    assert len(journals) == shipped  # shards uploaded and verified before the interruption
    with pytest.raises(ConfigError, match="no release there"):
        verify_release(url)  # a half-uploaded release is not a release

    seen_manifest.clear()
    s = export_release(data, url, cfg(format="megatron"), progress=stop_after(10**6))
    assert s.version == "v0001" and s.status == "released"
    assert s.files["resumed"] == 2 * shipped and s.files["uploaded"] == 2 * (s.shards - shipped)  # .bin + .idx
    assert not any(seen_manifest) and fs.exists(f"{prefix}/manifest.json")
    assert verify_release(url).ok
    # The resumed release is the one an uninterrupted export writes.
    other = _url()
    export_release(data, other, cfg(format="megatron"))
    assert read_manifest(other)[1]["shards"] == read_manifest(url)[1]["shards"]


def test_checksum_mismatches_are_detected(aws, data, tmp_path):
    url, fs = _url(), aws.fs()
    prefix = url.removeprefix("s3://") + "/releases/v0001"

    def stop(event, info):
        if event == "shard" and info["entry"]["number"] == 2:
            raise Stop()

    with pytest.raises(Stop):
        export_release(data, url, cfg(format="jsonl"), progress=stop)
    # Someone (a partial copy, bit rot) changed an uploaded shard before the export resumed.
    victim = json.loads(fs.cat_file(f"{prefix}/_partial/bugfixer_v1-00001.json"))["files"][0]["path"]
    good = fs.cat_file(f"{prefix}/{victim}")
    fs.pipe_file(f"{prefix}/{victim}", good[:-10] + b"0123456789")
    s = export_release(data, url, cfg(format="jsonl"))
    assert s.checksum_mismatches == [victim] and s.files["uploaded"] >= 1
    assert fs.cat_file(f"{prefix}/{victim}") == good and verify_release(url).ok
    # After completion: a corrupted object is reported by --verify (the cluster's check after a transfer).
    fs.pipe_file(f"{prefix}/{victim}", b"garbage")
    res = verify_release(url)
    assert not res.ok and res.bad[0][0] == victim and "checksum mismatch" in res.bad[0][1]


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("swe-curate"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_", "GITHUB_TOKEN"))}
    base.update(PREFECT_HOME=str(cwd / "prefect-home"), COLUMNS="120", **env)
    return subprocess.run([exe, *args], env=base, cwd=cwd, capture_output=True, text=True, timeout=240)


def test_cli_bad_credentials_and_bucket_are_one_line_errors_then_a_release(s3, data, tmp_path):
    url = _url()
    cfg_file = tmp_path / "pipeline.toml"
    cfg_file.write_text("[export]\nrequire_decontam = false\nshard_size = 20000\n")
    bad = s3.env(AWS_SECRET_ACCESS_KEY="not-the-secret-at-all")
    res = _cli(["export", "--data", str(data), "--to", url, "--config", str(cfg_file)], bad, tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"swe-curate: error: --to {url}: access denied"), res.stderr
    assert "not-the-secret-at-all" not in res.stdout + res.stderr
    res = _cli(["export", "--data", str(data), "--to", "s3://no-such-bucket-here/x", "--config", str(cfg_file)],
               s3.env(), tmp_path)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "swe-curate: error: --to s3://no-such-bucket-here/x: no such bucket or folder (The specified bucket does "
        "not exist)"], res.stderr
    assert not s3.fs().exists(url.removeprefix("s3://"))  # nothing written
    # The same command with the right credentials: a Megatron release, verified by the verify verb.
    res = _cli(["export", "--data", str(data), "--to", url, "--format", "megatron", "--config", str(cfg_file)],
               s3.env(), tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"export -> {url}/releases/v0001 (megatron" in res.stderr
    res = _cli(["export", "--to", url, "--verify"], s3.env(), tmp_path)
    assert res.returncode == 0 and "; ok" in res.stdout, res.stdout + res.stderr
    m = read_manifest(url, options={"key": s3.access_key, "secret": s3.secret_key, "endpoint_url": s3.endpoint})[1]
    assert m["format"] == "megatron" and m["config"]["shard_size"] == 20_000
    # The data root remembers where its releases went (for the card); no credential is stored anywhere.
    state = json.loads((data / "export" / "state.json").read_text())
    assert state["releases"]["v0001"]["url"] == url
    for path in list(tmp_path.rglob("*")) + list(data.rglob("*")):
        if path.is_file():
            assert s3.secret_key.encode() not in path.read_bytes(), path
