"""The export to a local destination: the mixture (up- and down-sampling toward a budget, seeded
order), shard sizes, the Parquet release read back with ``datasets``, JSONL.zst, the manifest's
checksums, byte-identical releases, an incremental release that reuses its parent's shards and
lists what changed, removed records never released, and one-line errors on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from format import mixture
from format.config import ExportConfig
from format.export_run import export_release, verify_release
from ingest.errors import ConfigError
from tests.format.export_data import sequences, write_sequences

KINDS = ("bugfixer_v1", "testwriter_v1", "commitpack_v1")


@pytest.fixture(scope="module")
def tables():
    return sequences(240, seed=3)


@pytest.fixture
def data(tmp_path, tables):
    d = tmp_path / "data"
    write_sequences(str(d), tables)
    return d


def cfg(**kw) -> ExportConfig:
    return ExportConfig(**{"require_decontam": False, "shard_size": 12_000, **kw})


def _manifest(dest: Path, version: str = "v0001") -> dict:
    return json.loads((dest / "releases" / version / "manifest.json").read_text())


def _tree(dest: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}


# -- the mixture (pure) -------------------------------------------------------------------------------
def test_targets_from_weights_epochs_and_token_targets():
    avail = {"bugfixer_v1": 1000, "testwriter_v1": 500, "commitpack_v1": 3000}
    assert mixture.targets(avail) == avail
    assert mixture.targets(avail, epochs={"testwriter_v1": 4}) == {**avail, "testwriter_v1": 2000}
    t = mixture.targets(avail, weights={"bugfixer_v1": 2, "testwriter_v1": 1, "commitpack_v1": 1}, total_tokens=10_001)
    assert sum(t.values()) == 10_001 and abs(t["bugfixer_v1"] - 5000) <= 1 and abs(t["commitpack_v1"] - 2500) <= 1
    t = mixture.targets(avail, token_targets={"testwriter_v1": 2000}, total_tokens=6000)
    assert t["testwriter_v1"] == 2000 and t["bugfixer_v1"] + t["commitpack_v1"] == 4000
    assert abs(t["commitpack_v1"] - 3000) <= 1  # the rest of the budget in natural proportions
    with pytest.raises(ConfigError, match="testwriter_v1 needs 40.00 copies"):
        mixture.targets(avail, token_targets={"testwriter_v1": 20_000}, max_epochs=16)
    with pytest.raises(ConfigError, match="bugfixer_v1 has a target of 5 tokens and no sequences"):
        mixture.targets({"bugfixer_v1": 0}, token_targets={"bugfixer_v1": 5})


def test_copies_reach_the_target_and_order_is_a_stable_seeded_shuffle():
    rng = np.random.default_rng(0)
    tok = rng.integers(10, 500, size=400)
    ids = [f"s{i:04d}" for i in range(400)]
    keys = mixture.hash_keys(7, "bugfixer_v1", ids)
    for target in (1_000, int(tok.sum()) // 2, int(tok.sum()) * 4 + 777):
        c = mixture.copies_for(tok, keys, target)
        got = int((c * tok).sum())
        assert target <= got < target + tok.max(), (target, got)  # at most one sequence past the target
        assert c.max() - c.min() <= 1
    c = mixture.copies_for(tok, keys, int(tok.sum()) * 4)
    assert (c == 4).all()  # x4 upsampling: every sequence exactly four times
    rows, copy = mixture.instance_order(keys, c)
    assert len(rows) == 1600 and sorted(zip(rows.tolist(), copy.tolist(), strict=True)) == [
        (r, k) for r in range(400) for k in range(4)]
    assert not np.array_equal(rows[:400], np.arange(400))  # shuffled
    # Another seed gives another order; adding sequences keeps the old ones' relative order.
    assert not np.array_equal(mixture.instance_order(mixture.hash_keys(8, "bugfixer_v1", ids), c)[0], rows)
    more = ids + [f"t{i:04d}" for i in range(50)]
    rows2, _ = mixture.instance_order(mixture.hash_keys(7, "bugfixer_v1", more), np.concatenate([c, np.full(50, 4)]))
    assert [r for r in rows2.tolist() if r < 400] == rows.tolist()
    starts = mixture.cut(tok[rows], 2_000)
    sizes = np.add.reduceat(tok[rows], starts[:-1])
    assert starts[-1] == 1600 and (sizes <= 2_000).all() and (sizes[:-1] + tok[rows][starts[1:-1]] > 2_000).all()
    assert mixture.cut(np.array([5, 5000, 5]), 100).tolist() == [0, 1, 2, 3]  # an oversized document alone


# -- releases -----------------------------------------------------------------------------------------
def test_parquet_release_loads_with_datasets_and_matches_the_manifest(data, tmp_path, tables, monkeypatch):
    dest = tmp_path / "out"
    s = export_release(data, str(dest), cfg(epochs={"testwriter_v1": 4}))
    assert s.status == "released" and s.version == "v0001" and s.files == {"uploaded": s.shards}
    m = _manifest(dest)
    rel = dest / "releases" / "v0001"
    for sh in m["shards"]:
        for f in sh["files"]:
            b = (rel / f["path"]).read_bytes()
            assert hashlib.sha256(b).hexdigest() == f["sha256"] and len(b) == f["bytes"]
    assert not (rel / "_partial").exists()
    assert json.loads((dest / "releases" / "latest.json").read_text()) == {"version": "v0001"}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    ds = datasets.load_dataset("parquet", data_files={k: str(rel / k / "shard-*.parquet") for k in KINDS},
                               cache_dir=str(tmp_path / "hf-cache"))
    for kind in KINDS:
        t, mk = tables[kind], m["mixture"][kind]
        got = ds[kind]
        assert got.num_rows == mk["documents"] == m["totals"][kind]["documents"]
        assert sum(got["n_tokens"]) == mk["tokens"] == m["totals"][kind]["tokens"]
        assert set(got.column_names) >= {"prompt", "response", "text", "n_tokens", "kind", "source_ids", "repo",
                                         "license", "sequence_id", "copy"}
        by_id = {r["sequence_id"]: r for r in t.to_pylist()}
        for r in got.select(range(0, got.num_rows, 37)):
            src = by_id[r["sequence_id"]]
            assert r["prompt"] == src["prompt"] and r["text"] == src["prompt"] + src["response"]
            assert r["source_ids"] == src["source_ids"] and r["license"] == src["license"]
        copies = [r for r in got["copy"]]
        want = 4 if kind == "testwriter_v1" else 1
        assert max(copies) == want - 1 and got.num_rows == want * t.num_rows
    assert m["mixture"]["testwriter_v1"]["epochs"] == 4.0
    index = pq.read_table(rel / "index.parquet")
    assert index.num_rows == sum(t.num_rows for t in tables.values())
    assert verify_release(str(dest)).ok


def test_budget_downsamples_and_shards_by_bytes(data, tmp_path, tables):
    avail = {k: int(t.column("n_tokens").to_numpy().sum()) for k, t in tables.items()}
    budget = sum(avail.values()) // 3
    dest = tmp_path / "out"
    export_release(data, str(dest), cfg(format="jsonl", total_tokens=budget, shard_size=40_000, shard_unit="bytes",
                                        weights={"bugfixer_v1": 1, "testwriter_v1": 1, "commitpack_v1": 2}))
    m = _manifest(dest)
    rel = dest / "releases" / "v0001"
    for kind in KINDS:
        mk = m["mixture"][kind]
        share = budget * (0.5 if kind == "commitpack_v1" else 0.25)
        assert abs(mk["target_tokens"] - share) <= 1 and mk["target_tokens"] <= mk["tokens"] < mk["target_tokens"] + 2000
        assert mk["sequences"] == mk["documents"] < tables[kind].num_rows  # down-sampled: each at most once
        rows = []
        for sh in [s for s in m["shards"] if s["kind"] == kind]:
            raw = zstandard.ZstdDecompressor().stream_reader((rel / sh["files"][0]["path"]).open("rb")).read()
            lines = [json.loads(x) for x in raw.decode().splitlines()]
            assert len(lines) == sh["documents"] and sum(x["n_tokens"] for x in lines) == sh["tokens"]
            size = sum(len(x["text"].encode()) for x in lines)
            assert size <= 40_000 or len(lines) == 1
            rows += lines
        assert sum(x["n_tokens"] for x in rows) == mk["tokens"]
        assert len({x["sequence_id"] for x in rows}) == len(rows)


def test_same_inputs_and_config_give_a_byte_identical_release(data, tmp_path):
    for fmt in ("parquet", "megatron"):
        a, b = tmp_path / f"a-{fmt}", tmp_path / f"b-{fmt}"
        export_release(data, str(a), cfg(format=fmt, epochs={"bugfixer_v1": 2.5}), version="r1")
        export_release(data, str(b), cfg(format=fmt, epochs={"bugfixer_v1": 2.5}, workers=1, memory_mb=16),
                       version="r1")
        ta, tb = _tree(a), _tree(b)
        assert ta == tb and len(ta) > 10, fmt
    c = tmp_path / "c"
    export_release(data, str(c), cfg(epochs={"bugfixer_v1": 2.5}, seed=1), version="r1")
    assert _manifest(c, "r1")["fingerprint"] != _manifest(tmp_path / "a-parquet", "r1")["fingerprint"]


def test_incremental_release_reuses_unchanged_shards_and_lists_changes(data, tmp_path, tables):
    dest = tmp_path / "out"
    first = export_release(data, str(dest), cfg())
    again = export_release(data, str(dest), cfg())
    assert again.status == "unchanged" and again.version == "v0001"
    # An incremental crawl: new commit packs, one bug-fixer sequence changed, one removed; TestWriter as before.
    more = sequences(30, kinds=("commitpack_v1",), seed=99)["commitpack_v1"]
    more = more.set_column(0, more.schema.field(0), pa.array([s.replace(":org", ":new-org") for s in
                                                       more.column("sequence_id").to_pylist()]))
    bf = tables["bugfixer_v1"].to_pylist()
    changed_id, removed_id = bf[5]["sequence_id"], bf[6]["sequence_id"]
    bf[5]["response"] += "\n# reviewed"
    del bf[6]
    write_sequences(str(data), {"commitpack_v1": pa.concat_tables([tables["commitpack_v1"], more]).sort_by("sequence_id"),
                                "bugfixer_v1": pa.Table.from_pylist(bf, schema=tables["bugfixer_v1"].schema)})
    second = export_release(data, str(dest), cfg())
    assert second.version == "v0002" and second.parent == "v0001" and second.status == "released"
    m1, m2 = _manifest(dest, "v0001"), _manifest(dest, "v0002")
    tw1 = [s["files"][0]["sha256"] for s in m1["shards"] if s["kind"] == "testwriter_v1"]
    tw2 = [s for s in m2["shards"] if s["kind"] == "testwriter_v1"]
    assert [s["files"][0]["sha256"] for s in tw2] == tw1 and all(s["reused_from"] == "v0001" for s in tw2)
    # Shards before the first changed document of a kind's (seeded, insertion-stable) order are reused too.
    reused = second.files["reused"]
    assert reused == m2["changes"]["shards_reused"] > len(tw2) and second.files["uploaded"] == second.shards - reused
    assert m2["changes"]["by_kind"] == {"bugfixer_v1": {"changed": 1, "removed": 1}, "commitpack_v1": {"added": 30}}
    ch = pq.read_table(dest / "releases" / "v0002" / "changes.parquet").to_pylist()
    assert {(c["sequence_id"], c["change"]) for c in ch if c["kind"] == "bugfixer_v1"} == {
        (changed_id, "changed"), (removed_id, "removed")}
    assert verify_release(str(dest), "v0002").ok and verify_release(str(dest), "v0001").ok
    assert first.fingerprint != second.fingerprint


def test_records_removed_after_format_are_never_released(data, tmp_path, tables):
    rid = tables["bugfixer_v1"].column("record_id")[0].as_py()
    n = sum(1 for t in tables.values() for r in t.column("record_id").to_pylist() if r == rid)
    os.makedirs(data / "decontam" / "flags")
    pq.write_table(pa.table({"record_id": [rid], "reason": ["text"]}), data / "decontam" / "flags" / "flags.parquet")
    s = export_release(data, str(tmp_path / "out"), cfg())
    index = pq.read_table(tmp_path / "out" / "releases" / "v0001" / "index.parquet")
    assert rid not in set(index.column("record_id").to_pylist())
    assert sum(s.dropped.values()) == n and all(k.endswith(":decontam:text") for k in s.dropped)


def test_bad_input_is_one_line_and_loses_nothing(data, tmp_path):
    with pytest.raises(ConfigError, match="no sequences to export"):
        export_release(tmp_path / "empty", str(tmp_path / "o"), cfg())
    with pytest.raises(ConfigError, match="never decontaminated"):
        export_release(data, str(tmp_path / "o"), cfg(require_decontam=True))
    with pytest.raises(ConfigError, match="--version a/b: not a release name"):
        export_release(data, str(tmp_path / "o"), cfg(), version="a/b")
    with pytest.raises(ConfigError, match="config error: export: .*weights are shares of total_tokens"):
        ExportConfig.from_dict({"weights": {"bugfixer_v1": 1}}, "export")
    with pytest.raises(ConfigError, match="needs .* copies"):
        export_release(data, str(tmp_path / "o"), cfg(token_targets={"bugfixer_v1": 10**9}))
    assert not list((tmp_path / "o").rglob("*.parquet"))  # refused before any shard
    dest = tmp_path / "out"
    export_release(data, str(dest), cfg(), version="r1")
    before = _tree(dest)
    with pytest.raises(ConfigError, match="release r1 .* exists with other content"):
        export_release(data, str(dest), cfg(seed=5), version="r1")
    with pytest.raises(ConfigError, match="--parent nope: no complete release nope"):
        export_release(data, str(dest), cfg(), parent="nope")
    assert export_release(data, str(dest), cfg(), version="r1").status == "exists"
    assert _tree(dest) == before  # nothing already written was lost or changed
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=f"--to {blocker}"):
        export_release(data, str(blocker), cfg())
    shutil.rmtree(dest / "releases" / "r1" / "bugfixer_v1")
    res = verify_release(str(dest), "r1")
    assert not res.ok and all(reason == "missing" for _, reason in res.bad)
