"""Release content: shard rows, the three shard formats, content hashes, shard keys, the manifest's
pieces and the difference against a parent release.

Reads/writes nothing itself: Arrow tables in; bytes written to the binary streams the caller
passes; dicts out. The one idea: a shard's bytes are a pure function of its **key** (the release
settings, the code's release format, and the ordered content hashes and copy numbers of its
documents), so equal keys mean byte-identical shards: a new release copies such shards from its
parent instead of rendering and uploading them again, and two runs over the same inputs write
byte-identical releases.

Content hash of a sequence (``content_hash``): BLAKE2b-128 over ``sequence_id, kind, sample_type,
record_id, source_ids (joined with "\\x1f"), repo, license, prompt, response, n_tokens,
n_prompt_tokens``, each as UTF-8 followed by one NUL byte (null as the empty string).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from format.megatron import encode_documents, index_bytes
from format.schema import RELEASE_CHANGES, SHARD_ROWS
from ingest.errors import ConfigError

RELEASE_FORMAT = "swe_curate_release_v1"
EXTENSIONS = {"parquet": (".parquet",), "jsonl": (".jsonl.zst",), "megatron": (".bin", ".idx")}
SOURCE_COLUMNS = ["sequence_id", "kind", "sample_type", "record_id", "source_ids", "repo", "license", "prompt",
                  "response", "n_tokens", "n_prompt_tokens"]
MEGATRON_COLUMNS = ["sequence_id", "prompt", "response", "n_tokens"]
ROW_GROUP = 2_048
ENCODE_CHUNK = 1_024  # documents tokenized at a time (bounded Python int lists)


class TokenMismatch(ConfigError):
    """The tokenizer disagrees with the ``n_tokens`` the format stage recorded (another tokenizer)."""


def shard_paths(fmt: str, kind: str, number: int) -> list[str]:
    """Release-relative paths of one shard's files (a Megatron prefix is ``<kind>/shard-NNNNN``)."""
    return [f"{kind}/shard-{number:05d}{ext}" for ext in EXTENSIONS[fmt]]


# -- identities --------------------------------------------------------------------------------
def content_hashes(table: pa.Table) -> list[str]:
    """``content_hash`` of each row of a sequences table (definition in the module docstring)."""
    cols = [table.column(c).to_pylist() for c in SOURCE_COLUMNS]
    out = []
    for row in zip(*cols, strict=True):
        h = hashlib.blake2b(digest_size=16)
        for c, v in zip(SOURCE_COLUMNS, row, strict=True):
            if c == "source_ids":
                v = "\x1f".join(v or [])
            h.update(("" if v is None else str(v)).encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        out.append(h.hexdigest())
    return out


def shard_key(settings: dict[str, Any], kind: str, number: int, hashes: Sequence[str], copies: np.ndarray) -> str:
    """SHA-256 naming a shard's bytes: settings, code release format, kind and number, then the
    content hash and copy number of each document in order."""
    h = hashlib.sha256()
    h.update(json.dumps({"release_format": RELEASE_FORMAT, "settings": settings, "kind": kind, "number": number},
                        sort_keys=True).encode())
    for s, c in zip(hashes, copies.tolist(), strict=True):
        h.update(f"\n{s}:{c}".encode())
    return h.hexdigest()


def fingerprint(settings: dict[str, Any], keys: Iterable[str]) -> str:
    """The release content's identity: its settings and its shard keys."""
    h = hashlib.sha256(json.dumps({"release_format": RELEASE_FORMAT, "settings": settings}, sort_keys=True).encode())
    for k in keys:
        h.update(k.encode())
    return h.hexdigest()


# -- shard rendering -------------------------------------------------------------------------------
def shard_rows(source: pa.Table, rows: np.ndarray, copy: np.ndarray) -> pa.Table:
    """Rows ``rows`` of ``source`` (a sequences table with ``SOURCE_COLUMNS``), in this order, as a
    ``SHARD_ROWS`` table (``text`` is prompt + response, ``copy`` the copy number)."""
    t = source.take(pa.array(rows, pa.int64()))
    cols = {c: t.column(c) for c in SOURCE_COLUMNS}
    cols["text"] = pc.binary_join_element_wise(t.column("prompt"), t.column("response"), "")
    cols["copy"] = pa.array(copy, pa.int32())
    return pa.table({f.name: cols[f.name] for f in SHARD_ROWS}).cast(SHARD_ROWS)


def write_parquet(table: pa.Table, out: IO[bytes], level: int) -> None:
    pq.write_table(table, out, compression="zstd", compression_level=level, row_group_size=ROW_GROUP,
                   use_dictionary=["kind", "sample_type", "repo", "license"], write_statistics=True)


def write_jsonl_zst(table: pa.Table, out: IO[bytes], level: int) -> None:
    """One JSON object per line (the Parquet columns, in order), zstd-compressed."""
    import zstandard

    cctx = zstandard.ZstdCompressor(level=level, threads=0)
    with cctx.stream_writer(out, closefd=False) as w:
        for batch in table.to_batches(max_chunksize=ROW_GROUP):
            lines = b"".join(orjson.dumps(r) + b"\n" for r in batch.to_pylist())
            w.write(lines)


def write_megatron(table: pa.Table, counter: Any, eot: int, out_bin: IO[bytes]) -> tuple[bytes, int]:
    """Token ids of each document (prompt, response, ``<|endoftext|>``) to ``out_bin``; returns the
    ``.idx`` bytes and the tokens written. Raises ``TokenMismatch`` when a document's length is not
    its recorded ``n_tokens``."""
    lengths = []
    expect = table.column("n_tokens").to_numpy()
    total = 0
    for lo in range(0, table.num_rows, ENCODE_CHUNK):
        part = table.slice(lo, ENCODE_CHUNK)
        tokens, lens = encode_documents(counter, part.column("prompt").to_pylist(),
                                        part.column("response").to_pylist(), eot)
        bad = np.flatnonzero(lens != expect[lo:lo + len(lens)])
        if len(bad):
            i = int(bad[0])
            raise TokenMismatch(f"sequence {part.column('sequence_id')[i].as_py()}: the tokenizer gives "
                                f"{int(lens[i])} tokens, the sequences table says {int(expect[lo + i])}")
        out_bin.write(tokens.astype("<i4", copy=False).tobytes())
        lengths.append(lens)
        total += int(tokens.size)
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
    return index_bytes(all_lengths), total


# -- changes against the parent -----------------------------------------------------------------------
def changes(parent: pa.Table | None, index: pa.Table) -> pa.Table:
    """``RELEASE_CHANGES`` between two release indexes (``sequence_id, kind, copies, content_hash``),
    sorted by kind and sequence id. With no parent every sequence is ``added``."""
    now = {r["sequence_id"]: r for r in index.select(["sequence_id", "kind", "copies", "content_hash"]).to_pylist()}
    before = ({} if parent is None else
              {r["sequence_id"]: r for r in parent.select(["sequence_id", "kind", "copies", "content_hash"]).to_pylist()})
    rows = []
    for sid in sorted(now.keys() | before.keys()):
        a, b = before.get(sid), now.get(sid)
        if a is None:
            rows.append((sid, b["kind"], "added", 0, b["copies"]))
        elif b is None:
            rows.append((sid, a["kind"], "removed", a["copies"], 0))
        elif a["content_hash"] != b["content_hash"]:
            rows.append((sid, b["kind"], "changed", a["copies"], b["copies"]))
        elif a["copies"] != b["copies"]:
            rows.append((sid, b["kind"], "copies", a["copies"], b["copies"]))
    rows.sort(key=lambda r: (r[1], r[0]))
    return pa.table([pa.array([r[i] for r in rows], f.type) for i, f in enumerate(RELEASE_CHANGES)],
                    schema=RELEASE_CHANGES)


def change_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """kind -> change -> sequences."""
    out: dict[str, Counter[str]] = {}
    for k, c in zip(table.column("kind").to_pylist(), table.column("change").to_pylist(), strict=True):
        out.setdefault(k, Counter())[c] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


# -- loading instructions ----------------------------------------------------------------------------
def megatron_data_path(shards: list[dict[str, Any]]) -> list[str]:
    """Megatron's ``--data-path`` (weight, prefix pairs): weights are tokens, so the blend
    reproduces the release mixture (its copies are already in the files)."""
    out: list[str] = []
    for s in shards:
        out += [str(s["tokens"]), s["files"][0]["path"].removesuffix(".bin")]
    return out


def how_to_load(fmt: str, url: str, kinds: list[str]) -> dict[str, str]:
    base = url.rstrip("/")
    if fmt == "parquet":
        files = "{" + ", ".join(f'"{k}": "{base}/{k}/shard-*.parquet"' for k in kinds) + "}"
        return {"datasets": f'datasets.load_dataset("parquet", data_files={files})'}
    if fmt == "jsonl":
        files = "{" + ", ".join(f'"{k}": "{base}/{k}/shard-*.jsonl.zst"' for k in kinds) + "}"
        return {"datasets": f'datasets.load_dataset("json", data_files={files})'}
    return {"megatron-core": f'megatron.core.datasets.indexed_dataset.IndexedDataset("{base}/<kind>/shard-NNNNN")',
            "megatron-lm": "--data-path " + "<weight> <prefix> ... (manifest load.megatron_data_path, prefixes "
                                            f"relative to {base})"}
