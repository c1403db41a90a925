"""The export's one I/O entry: a release of the sequences at any fsspec URL, resumable and verified.

Reads (data root): ``sequences/<kind>/part-*.parquet``, the dedup and decontam drop lists,
``decontam/state.json`` (reference names and hashes), ``format/state.json``. Reads and writes
(destination ``--to``): ``releases/<version>/`` with ``<kind>/shard-NNNNN.{parquet | jsonl.zst |
bin + idx}``, ``index.parquet``, ``changes.parquet``, ``_partial/`` (upload journal, removed at the
end), ``manifest.json`` (last); then ``releases/latest.json``. Writes ``export/state.json`` in the
data root (the releases made from it, for ``swe-curate card``).

The one idea: a release is complete exactly when its manifest exists, and the manifest is written
only after every file it lists was uploaded and read back with the right SHA-256. Everything before
it can be interrupted and re-run: a shard already at the destination with its checksum is kept, a
shard whose bytes differ is uploaded again, and a shard whose key equals one of the parent
release's is copied from the parent inside the store instead of being rendered and uploaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from decontam.apply import propagate
from format import export as X
from format import mixture
from format.config import RELEASE_VERSION_RE, ExportConfig
from format.schema import RELEASE_INDEX
from format.templates import KINDS
from ingest.errors import ConfigError, RetryableError, SweCurateError
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.export")

STATE = "export/state.json"
CHUNK = 8 << 20  # bytes read at a time when hashing a remote file
Progress = Callable[[str, dict[str, Any]], None]


class ChecksumError(RetryableError):
    """A file read back from the destination does not have the SHA-256 that was uploaded (after
    ``upload_retries`` more uploads): a transfer problem, so the export can be run again."""


# -- the destination ---------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def storage_error(url: str, exc: BaseException) -> SweCurateError:
    """A one-line error for a failed storage call (credentials, bucket, endpoint), naming the URL."""
    name = type(exc).__name__
    msg = _first_line(exc)
    if isinstance(exc, PermissionError) or any(s in msg for s in ("InvalidAccessKeyId", "SignatureDoesNotMatch",
                                                                   "AccessDenied", "Forbidden", "403")):
        return ConfigError(f"--to {url}: access denied (check the credentials: AWS_ACCESS_KEY_ID / "
                           f"AWS_SECRET_ACCESS_KEY or [export] profile): {msg}")
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in msg:
        return ConfigError(f"--to {url}: no such bucket or folder ({msg})")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ConnectionError",
                "ReadTimeoutError") or isinstance(exc, (ConnectionError, TimeoutError)):
        return RetryableError(f"--to {url}: cannot reach the storage endpoint ({msg})")
    return ConfigError(f"--to {url}: storage error {name}: {msg}")


class Destination:
    """A release destination: a local folder or any fsspec URL (``s3://bucket/prefix`` ...)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None):
        self.url = url.rstrip("/") or "/"
        opts = dict(options or {})
        try:
            proto = fsspec.core.split_protocol(self.url)[0] or "file"
            if proto in ("s3", "s3a"):
                # Fresh listings (another writer may have changed the store), no shared instance.
                opts.setdefault("use_listings_cache", False)
                opts.setdefault("skip_instance_cache", True)
            self.fs, root = fsspec.core.url_to_fs(self.url, **opts)
        except (ImportError, ValueError, TypeError) as exc:
            raise ConfigError(f"--to {url}: {_first_line(exc)}") from None
        protos = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protos or "local" in protos
        self.root = os.path.abspath(root) if self.local else root.rstrip("/")

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except SweCurateError:
            raise
        except FileNotFoundError:
            raise
        except Exception as exc:  # botocore / aiohttp / OS errors -> one line naming the URL
            raise storage_error(self.url, exc) from None

    def check(self) -> None:
        """Reachable and writable (a probe object written and removed), else a one-line error."""
        probe = self.path(f"releases/.probe-{uuid.uuid4().hex}")
        try:
            if self.local:
                os.makedirs(self.path("releases"), exist_ok=True)
            else:
                bucket = self.root.split("/", 1)[0]
                self.fs.ls(bucket)
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
        except Exception as exc:
            raise storage_error(self.url, exc) from None

    def exists(self, rel: str) -> bool:
        return bool(self.call(self.fs.exists, self.path(rel)))

    def size(self, rel: str) -> int | None:
        try:
            return int(self.call(self.fs.size, self.path(rel)))
        except FileNotFoundError:
            return None

    def sha256(self, rel: str) -> tuple[str, int] | None:
        """(SHA-256, bytes) of a stored file, read back in full; None when it does not exist."""
        h = hashlib.sha256()
        n = 0
        try:
            with self.call(self.fs.open, self.path(rel), "rb", block_size=CHUNK) as fh:
                while chunk := self.call(fh.read, CHUNK):
                    h.update(chunk)
                    n += len(chunk)
        except FileNotFoundError:
            return None
        return h.hexdigest(), n

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            return self.call(self.fs.cat_file, self.path(rel))
        except FileNotFoundError:
            return None

    def read_json(self, rel: str) -> Any | None:
        data = self.read_bytes(rel)
        return None if data is None else orjson.loads(data)

    def _local_atomic(self, rel: str, write: Callable[[str], None]) -> None:
        """``write(tmp)`` to a hidden temporary name beside ``rel``, flushed, then renamed: a
        local file appears whole or not at all."""
        final = self.path(rel)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        parent, name = final.rsplit("/", 1)
        tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex}"
        try:
            write(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put(self, local_path: str, rel: str) -> None:
        """Upload a file whole: under a temporary name then renamed on local disk; one PUT (or a
        completed multipart upload, invisible until complete) on object storage."""
        if self.local:
            self._local_atomic(rel, lambda tmp: shutil.copyfile(local_path, tmp))
        else:
            self.call(self.fs.put_file, local_path, self.path(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        if self.local:
            self._local_atomic(rel, lambda tmp: Path(tmp).write_bytes(data))
        else:
            self.call(self.fs.pipe_file, self.path(rel), data)

    def copy(self, src_rel: str, rel: str) -> None:
        """Copy inside the store (server-side on object storage: nothing is uploaded)."""
        if self.local:
            self._local_atomic(rel, lambda tmp: shutil.copyfile(self.path(src_rel), tmp))
        else:
            self.call(self.fs.copy, self.path(src_rel), self.path(rel))

    def rm(self, rel: str, recursive: bool = False) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.call(self.fs.rm, self.path(rel), recursive=recursive)
        if recursive and not self.local:
            # Stores with real folders (SeaweedFS) keep an empty folder entry, listed as "<prefix>/".
            with contextlib.suppress(Exception):
                self.fs.rm_file(self.path(rel) + "/")

    def ls(self, rel: str) -> list[str]:
        try:
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.call(self.fs.ls, self.path(rel), detail=False)]
        except FileNotFoundError:
            return []


# -- plan ------------------------------------------------------------------------------------------
@dataclass
class ShardPlan:
    number: int  # in the release (kinds in order, then shards of each)
    kind: str
    kind_number: int
    start: int  # into the kind's document order
    end: int
    documents: int
    tokens: int
    size: int  # in the shard unit
    key: str
    paths: list[str]
    group: int


@dataclass
class _Kind:
    kind: str
    files: list[str]
    meta: pa.Table  # sequence_id, record_id, repo, license, n_tokens, n_prompt_tokens, source_ids
    hashes: list[str]
    text_bytes: np.ndarray
    copies: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    copy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    target: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass
class ExportSummary:
    version: str
    url: str  # the release folder
    format: str
    parent: str | None
    fingerprint: str
    status: str  # released | unchanged (same content as the parent) | exists (this version, same content)
    kinds: dict[str, dict[str, Any]]
    shards: int
    files: dict[str, int]  # uploaded | reused | resumed | present -> files
    checksum_mismatches: list[str]
    changes: dict[str, dict[str, int]]
    documents: int
    tokens: int
    bytes: int
    bytes_uploaded: int
    seconds: float
    tokens_per_s: float
    dropped: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def code_version() -> dict[str, str | None]:
    try:
        pkg = importlib.metadata.version("swe-curate")
    except importlib.metadata.PackageNotFoundError:
        pkg = None
    here = Path(__file__).resolve().parents[1]
    sha = None
    if (here / ".git").exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                 timeout=10)
            sha = out.stdout.strip() or None if out.returncode == 0 else None
    return {"package": f"swe-curate {pkg}" if pkg else "swe-curate", "git": sha, "release_format": X.RELEASE_FORMAT}


def sequence_files(root: DataRoot, kind: str) -> list[str]:
    return sorted(root.fs.glob(root.path("sequences", kind, "part-*.parquet")))


class ExportRun:
    """One export (the flow maps :meth:`ship` over the shards of :meth:`plan`). Everything that can
    be refused (sequences, decontam, tokenizer, destination, version, parent) is refused here."""

    def __init__(self, data_root: str | os.PathLike[str], to: str, config: ExportConfig, version: str | None = None,
                 parent: str | None = None, progress: Progress | None = None):
        self.t0 = time.perf_counter()
        self.root = DataRoot(data_root)
        self.cfg = config
        self.progress = progress or (lambda e, i: None)
        self.settings = config.release_settings()
        kinds = config.kinds or KINDS
        self.files = {k: sequence_files(self.root, k) for k in kinds}
        self.files = {k: f for k, f in self.files.items() if f}
        if not self.files:
            raise ConfigError(f"--data {self.root.url}: no sequences to export (run swe-curate format first)")
        self.decontam = self.root.read_json("decontam/state.json")
        if self.decontam is None and config.require_decontam:
            raise ConfigError(f"--data {self.root.url}: never decontaminated (run swe-curate decontam, then format; "
                              "or set [export] require_decontam = false)")
        self.format_state = self.root.read_json("format/state.json") or {}
        self.counter = None
        if config.format == "megatron":
            from format.tokens import EOT, QwenCounter

            self.counter, self.eot = QwenCounter(config.tokenizer), EOT
            made_with = self.format_state.get("tokenizer")
            # Names are "<ranks> (<encoder>)": encoders of the same ranks give the same ids
            # (format.bpe is tested against tiktoken, the encoder before it).
            if made_with and made_with.split(" (")[0] != self.counter.name.split(" (")[0]:
                raise ConfigError(f"export.tokenizer {config.tokenizer}: the sequences were counted with {made_with}, "
                                  f"not {self.counter.name} (set [export] tokenizer to the [format] one)")
        if version is not None and not re.match(RELEASE_VERSION_RE, version):
            raise ConfigError(f"--version {version}: not a release name (letters, digits, . _ -; at most 64)")
        self.dest = Destination(to, config.storage())
        self.dest.check()
        latest = self.dest.read_json("releases/latest.json")
        self.parent = parent if parent is not None else (latest or {}).get("version")
        self.parent_manifest = None
        if self.parent is not None:
            self.parent_manifest = self.dest.read_json(f"releases/{self.parent}/manifest.json")
            if self.parent_manifest is None:
                raise ConfigError(f"--parent {self.parent}: no complete release {self.parent} at {self.dest.url}")
        self.version = version or self._next_version()
        if self.parent == self.version:
            if parent is not None:
                raise ConfigError(f"--parent {parent}: a release cannot be its own parent")
            # Exporting the latest release's version again: its own parent is its parent.
            self.parent = self.parent_manifest.get("parent")
            self.parent_manifest = (self.dest.read_json(f"releases/{self.parent}/manifest.json")
                                    if self.parent else None)
        self.auto_version = version is None
        self.prefix = f"releases/{self.version}"
        self.existing = self.dest.read_json(f"{self.prefix}/manifest.json")
        self.staging = tempfile.mkdtemp(prefix="swe-curate-export-", dir=config.staging_dir)
        self.kinds: dict[str, _Kind] = {}
        self.shards: list[ShardPlan] = []
        self.status = "released"
        self._groups: OrderedDict[int, tuple[np.ndarray, pa.Table]] = OrderedDict()
        self._group_lock = threading.Lock()
        self._loading: dict[int, threading.Event] = {}
        self.seconds: Counter[str] = Counter()

    def _next_version(self) -> str:
        done = [int(m[1]) for name in self.dest.ls("releases") if (m := re.match(r"^v(\d{4,})$", name))
                and self.dest.exists(f"releases/{name}/manifest.json")]
        return f"v{max(done, default=0) + 1:04d}"

    def close(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    # -- plan -------------------------------------------------------------------------------------
    def _read_kind(self, kind: str, files: list[str]) -> _Kind:
        metas, hashes, sizes = [], [], []
        cols = X.SOURCE_COLUMNS
        for path in files:
            with self.root.parquet_file(path) as pf:
                missing = [c for c in cols if c not in pf.schema_arrow.names]
                if missing:
                    raise ConfigError(f"{self.root.uri(path)}: not a sequences table (no column {missing[0]!r})")
                for batch in pf.iter_batches(batch_size=8_192, columns=cols, use_threads=False):
                    t = pa.Table.from_batches([batch])
                    hashes += X.content_hashes(t)
                    sizes.append(pc.add(pc.binary_length(t.column("prompt")),
                                        pc.binary_length(t.column("response"))).to_numpy(zero_copy_only=False))
                    metas.append(t.select(["sequence_id", "record_id", "repo", "license", "n_tokens",
                                           "n_prompt_tokens", "source_ids"]))
        meta = pa.concat_tables(metas) if metas else pa.table({c: [] for c in cols})
        ids = meta.column("sequence_id")
        if pc.count_distinct(ids).as_py() != meta.num_rows:
            vc = pc.value_counts(ids)
            dup = vc.filter(pc.greater(vc.field("counts"), 1))[0]["values"].as_py()
            raise ConfigError(f"--data {self.root.url}: sequence {dup} appears twice in sequences/{kind}")
        return _Kind(kind, files, meta, hashes, np.concatenate(sizes) if sizes else np.zeros(0, np.int64))

    def _export_drops(self, k: _Kind) -> np.ndarray:
        """Rows removed because dedup or decontam now drop one of their sources (both stages may
        have run again since format): a release never holds a removed record."""
        from decontam.run import dropped_ids as decontam_dropped
        from dedup.run import dropped_ids as dedup_dropped

        keep = np.ones(k.meta.num_rows, dtype=bool)
        pos = {s: i for i, s in enumerate(k.meta.column("sequence_id").to_pylist())}
        for stage, dropped in (("decontam", decontam_dropped(self.root.url)), ("dedup", dedup_dropped(self.root.url))):
            if not dropped.num_rows or not k.meta.num_rows:
                continue
            why = dict(zip(dropped.column("record_id").to_pylist(), dropped.column("reason").to_pylist(), strict=True))
            for r in propagate(k.meta.select(["sequence_id", "source_ids"]), dropped).to_pylist():
                i = pos[r["sequence_id"]]
                if keep[i]:
                    keep[i] = False
                    reason = f"{stage}:{why[r['record_id']]}"
                    k.dropped[reason] = k.dropped.get(reason, 0) + 1
        return keep

    def plan(self) -> list[ShardPlan]:
        t0 = time.perf_counter()
        cfg = self.cfg
        for kind, files in self.files.items():
            self.kinds[kind] = self._read_kind(kind, files)
        keeps = {k: self._export_drops(d) for k, d in self.kinds.items()}
        tokens = {k: d.meta.column("n_tokens").to_numpy().astype(np.int64) for k, d in self.kinds.items()}
        available = {k: int(tokens[k][keeps[k]].sum()) for k in self.kinds}
        goal = mixture.targets(available, epochs=cfg.epochs, weights=cfg.weights, token_targets=cfg.token_targets,
                               total_tokens=cfg.total_tokens, max_epochs=cfg.max_epochs)
        number = 0
        budget = max(1, cfg.memory_mb << 19)  # half the memory: two groups may be held at once
        group, group_bytes = 0, 0
        for kind, k in self.kinds.items():
            keys = mixture.hash_keys(cfg.seed, kind, k.meta.column("sequence_id").to_pylist())
            t = np.where(keeps[kind], tokens[kind], 0)
            k.target = goal.get(kind, 0)
            k.copies = mixture.copies_for(t, keys, k.target)
            k.copies[~keeps[kind]] = 0
            k.rows, k.copy = mixture.instance_order(keys, k.copies)
            if cfg.shard_unit == "tokens":
                sizes = tokens[kind][k.rows]
            elif cfg.format == "megatron":
                sizes = tokens[kind][k.rows] * 4
            else:
                sizes = k.text_bytes[k.rows]
            starts = mixture.cut(sizes, cfg.shard_size)
            for j, (a, b) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)):
                rows = k.rows[a:b]
                need = int(k.text_bytes[np.unique(rows)].sum()) * 2 + 64 * (b - a)
                if group_bytes and group_bytes + need > budget:
                    group, group_bytes = group + 1, 0
                group_bytes += need
                key = X.shard_key(self.settings, kind, j, [k.hashes[r] for r in rows.tolist()], k.copy[a:b])
                self.shards.append(ShardPlan(number, kind, j, a, b, b - a, int(tokens[kind][rows].sum()),
                                             int(sizes[a:b].sum()), key, X.shard_paths(cfg.format, kind, j), group))
                number += 1
            group, group_bytes = group + 1, 0  # a group never spans kinds
        self.fingerprint = X.fingerprint(self.settings, [s.key for s in self.shards])
        self.index = self._index()
        self.parent_index = self._parent_index()
        self.changes = X.changes(self.parent_index, self.index) if self.parent_manifest is not None else None
        self.reusable = {}
        for s in (self.parent_manifest or {}).get("shards", []):
            self.reusable[s["key"]] = s
        if self.existing is not None:
            if self.existing.get("fingerprint") != self.fingerprint:
                raise ConfigError(f"--version {self.version}: release {self.version} at {self.dest.url} exists with "
                                  "other content (releases are immutable; choose another --version)")
            self.status = "exists"
            self.shards_to_ship: list[ShardPlan] = []
        elif (self.auto_version and self.parent_manifest is not None
              and self.parent_manifest.get("fingerprint") == self.fingerprint):
            self.status = "unchanged"
            self.shards_to_ship = []
        else:
            self.shards_to_ship = self.shards
        self.seconds["plan"] += time.perf_counter() - t0
        self.progress("plan", {"shards": len(self.shards), "version": self.version, "status": self.status})
        return self.shards_to_ship

    def _index(self) -> pa.Table:
        parts = []
        for kind, k in self.kinds.items():
            sel = np.flatnonzero(k.copies > 0)
            m = k.meta.take(pa.array(sel, pa.int64()))
            parts.append(pa.table({
                "sequence_id": m.column("sequence_id"), "kind": pa.array([kind] * len(sel), pa.string()),
                "record_id": m.column("record_id"), "source_ids": m.column("source_ids"), "repo": m.column("repo"),
                "license": m.column("license"),
                "n_tokens": m.column("n_tokens"), "n_prompt_tokens": m.column("n_prompt_tokens"),
                "copies": pa.array(k.copies[sel], pa.int32()),
                "content_hash": pa.array([k.hashes[i] for i in sel.tolist()], pa.string())}).cast(RELEASE_INDEX))
        return pa.concat_tables(parts) if parts else RELEASE_INDEX.empty_table()

    def _parent_index(self) -> pa.Table | None:
        if self.parent_manifest is None:
            return None
        data = self.dest.read_bytes(f"releases/{self.parent}/index.parquet")
        if data is None:
            raise ConfigError(f"--parent {self.parent}: its index.parquet is missing at {self.dest.url}")
        return pq.read_table(pa.BufferReader(data))

    # -- rows of a group of shards --------------------------------------------------------------------
    def _group_rows(self, g: int) -> tuple[np.ndarray, pa.Table]:
        """(sorted source rows, their table) of every shard in group ``g`` (loaded once, two groups
        kept at most: shards are shipped roughly in order)."""
        while True:
            with self._group_lock:
                if g in self._groups:
                    self._groups.move_to_end(g)
                    return self._groups[g]
                ev = self._loading.get(g)
                if ev is None:
                    ev = self._loading[g] = threading.Event()
                    break
            ev.wait()
        try:
            shards = [s for s in self.shards if s.group == g]
            k = self.kinds[shards[0].kind]
            need = np.unique(np.concatenate([k.rows[s.start:s.end] for s in shards]))
            pieces, off = [], 0
            for path in k.files:
                with self.root.parquet_file(path) as pf:
                    for batch in pf.iter_batches(batch_size=4_096, columns=X.SOURCE_COLUMNS, use_threads=False):
                        lo, hi = np.searchsorted(need, [off, off + batch.num_rows])
                        if hi > lo:
                            pieces.append(batch.take(pa.array(need[lo:hi] - off)))
                        off += batch.num_rows
            table = pa.Table.from_batches(pieces) if pieces else None
            with self._group_lock:
                self._groups[g] = (need, table)
                while len(self._groups) > 2:
                    self._groups.popitem(last=False)
                return need, table
        finally:
            with self._group_lock:
                self._loading.pop(g).set()

    # -- one shard ---------------------------------------------------------------------------------
    def _render(self, s: ShardPlan) -> list[tuple[str, str, str, int]]:
        """Write the shard's files to staging: (release path, local path, sha256, bytes) each."""
        t0 = time.perf_counter()
        k = self.kinds[s.kind]
        need, table = self._group_rows(s.group)
        rows = k.rows[s.start:s.end]
        local_rows = np.searchsorted(need, rows)
        out = []
        locals_ = [os.path.join(self.staging, f"{uuid.uuid4().hex}-{os.path.basename(p)}") for p in s.paths]
        if self.cfg.format == "megatron":
            docs = table.select(X.MEGATRON_COLUMNS).take(pa.array(local_rows, pa.int64()))
            with open(locals_[0], "wb") as fh:
                idx, _ = X.write_megatron(docs, self.counter, self.eot, fh)
            with open(locals_[1], "wb") as fh:
                fh.write(idx)
        else:
            shard = X.shard_rows(table, local_rows, k.copy[s.start:s.end])
            with open(locals_[0], "wb") as fh:
                (X.write_parquet if self.cfg.format == "parquet" else X.write_jsonl_zst)(
                    shard, fh, self.cfg.compression_level)
        for rel, local in zip(s.paths, locals_, strict=True):
            out.append((rel, local, *_file_sha256(local)))
        self.seconds["render"] += time.perf_counter() - t0
        return out

    def _verified(self, rel: str, sha: str, size: int) -> bool:
        got = self.dest.sha256(f"{self.prefix}/{rel}")
        return got is not None and got == (sha, size)

    def _upload(self, rel: str, local: str, sha: str, size: int) -> None:
        for attempt in range(self.cfg.upload_retries + 1):
            self.dest.put(local, f"{self.prefix}/{rel}")
            if self._verified(rel, sha, size):
                return
            log.warning("checksum mismatch after uploading %s (attempt %d)", rel, attempt + 1)
        raise ChecksumError(f"{self.dest.url}/{self.prefix}/{rel}: SHA-256 after upload is not {sha} "
                            f"({self.cfg.upload_retries + 1} attempts)")

    def ship(self, i: int) -> dict[str, Any]:
        """Make shard ``i`` present and verified at the destination; its manifest entry."""
        s = self.shards[i]
        t0 = time.perf_counter()
        journal_rel = f"{self.prefix}/_partial/{s.kind}-{s.kind_number:05d}.json"
        status: Counter[str] = Counter()
        mismatches: list[str] = []
        files: list[dict[str, Any]] | None = None
        reused_from = None
        uploaded = 0
        # 1. Resumed: the journal of an earlier run names this key, and every file reads back right.
        journal = self.dest.read_json(journal_rel)
        if journal and journal.get("key") == s.key:
            ok = True
            for f in journal["files"]:
                if not self._verified(f["path"], f["sha256"], f["bytes"]):
                    ok = False
                    if self.dest.exists(f"{self.prefix}/{f['path']}"):
                        mismatches.append(f["path"])
            if ok:
                files, reused_from = journal["files"], journal.get("reused_from")
                status["resumed"] += len(files)
        # 2. Reused: the parent has a shard with this key; copy it inside the store.
        if files is None and s.key in self.reusable:
            p = self.reusable[s.key]
            files = []
            for pf, rel in zip(p["files"], s.paths, strict=True):
                if not self._verified(rel, pf["sha256"], pf["bytes"]):
                    self.dest.copy(f"releases/{self.parent}/{pf['path']}", f"{self.prefix}/{rel}")
                    if not self._verified(rel, pf["sha256"], pf["bytes"]):
                        raise ChecksumError(f"{self.dest.url}/{self.prefix}/{rel}: copy of the parent's "
                                            f"{pf['path']} does not have SHA-256 {pf['sha256']}")
                files.append({"path": rel, "sha256": pf["sha256"], "bytes": pf["bytes"]})
            reused_from = self.parent
            status["reused"] += len(files)
        # 3. Rendered here; a file already at the destination with this checksum is kept.
        if files is None:
            files = []
            for rel, local, sha, size in self._render(s):
                got = self.dest.sha256(f"{self.prefix}/{rel}")
                if got == (sha, size):
                    status["present"] += 1
                else:
                    if got is not None:
                        mismatches.append(rel)
                    t1 = time.perf_counter()
                    self._upload(rel, local, sha, size)
                    self.seconds["upload"] += time.perf_counter() - t1
                    status["uploaded"] += 1
                    uploaded += size
                os.unlink(local)
                files.append({"path": rel, "sha256": sha, "bytes": size})
        mismatches = list(dict.fromkeys(mismatches))
        for m in mismatches:
            log.warning("%s/%s/%s had other bytes than expected (checksum mismatch): replaced", self.dest.url,
                        self.prefix, m)
        self.dest.write_bytes(journal_rel, orjson.dumps({"key": s.key, "files": files, "reused_from": reused_from}))
        entry = {"number": s.number, "kind": s.kind, "documents": s.documents, "tokens": s.tokens,
                 "bytes": sum(f["bytes"] for f in files), "key": s.key, "files": files, "reused_from": reused_from}
        info = {"entry": entry, "status": dict(status), "mismatches": mismatches, "bytes_uploaded": uploaded,
                "seconds": round(time.perf_counter() - t0, 3)}
        self.progress("shard", info)
        return info

    # -- commit -------------------------------------------------------------------------------------
    def _put_table(self, rel: str, table: pa.Table) -> dict[str, Any]:
        local = os.path.join(self.staging, f"{uuid.uuid4().hex}-{os.path.basename(rel)}")
        pq.write_table(table, local, compression="zstd", compression_level=self.cfg.compression_level,
                       row_group_size=65_536)
        sha, size = _file_sha256(local)
        if not self._verified(rel, sha, size):
            self._upload(rel, local, sha, size)
        os.unlink(local)
        return {"path": rel, "sha256": sha, "bytes": size}

    def finish(self, results: list[dict[str, Any]]) -> ExportSummary:
        t0 = time.perf_counter()
        if self.status == "released":
            entries = sorted((r["entry"] for r in results), key=lambda e: e["number"])
            if [e["number"] for e in entries] != [s.number for s in self.shards]:
                raise ConfigError(f"export {self.version}: shards missing from the results (internal error)")
            index_file = self._put_table("index.parquet", self.index)
            changes_file = self._put_table("changes.parquet", self.changes) if self.changes is not None else None
            manifest = self._manifest(entries, index_file, changes_file)
            data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
            self.dest.write_bytes(f"{self.prefix}/manifest.json", data)  # the release is complete from here on
            self.dest.rm(f"{self.prefix}/_partial", recursive=True)
            self.dest.write_bytes("releases/latest.json", orjson.dumps({"version": self.version}) + b"\n")
        else:
            manifest = self.existing if self.status == "exists" else self.parent_manifest
            data = b""
        version = self.version if self.status != "unchanged" else self.parent
        self._record(version, manifest)
        self.seconds["finish"] += time.perf_counter() - t0
        files: Counter[str] = Counter()
        mism: list[str] = []
        up = 0
        for r in results:
            files.update(r["status"])
            mism += r["mismatches"]
            up += r["bytes_uploaded"]
        secs = time.perf_counter() - self.t0
        tokens = sum(s["tokens"] for s in manifest["totals"].values()) if manifest else 0
        dropped: Counter[str] = Counter()
        for k in self.kinds.values():
            dropped.update({f"{k.kind}:{r}": n for r, n in k.dropped.items()})
        return ExportSummary(
            version=version, url=f"{self.dest.url}/releases/{version}", format=self.cfg.format,
            parent=manifest.get("parent") if manifest else None, fingerprint=self.fingerprint, status=self.status,
            kinds=manifest["mixture"], shards=len(manifest["shards"]), files=dict(sorted(files.items())),
            checksum_mismatches=mism, changes=(manifest.get("changes") or {}).get("by_kind", {}),
            documents=sum(s["documents"] for s in manifest["totals"].values()), tokens=tokens,
            bytes=sum(s["bytes"] for s in manifest["totals"].values()) + len(data), bytes_uploaded=up,
            seconds=round(secs, 2), tokens_per_s=round(tokens / secs if secs else 0.0, 1),
            dropped=dict(sorted(dropped.items())))

    def _manifest(self, entries: list[dict[str, Any]], index_file: dict[str, Any],
                  changes_file: dict[str, Any] | None) -> dict[str, Any]:
        totals: dict[str, dict[str, int]] = {}
        for e in entries:
            t = totals.setdefault(e["kind"], {"shards": 0, "documents": 0, "tokens": 0, "bytes": 0})
            t["shards"] += 1
            t["documents"] += e["documents"]
            t["tokens"] += e["tokens"]
            t["bytes"] += e["bytes"]
        all_tokens = sum(t["tokens"] for t in totals.values()) or 1
        mix = {}
        for kind, k in self.kinds.items():
            tok = k.meta.column("n_tokens").to_numpy().astype(np.int64)
            released = int((tok * k.copies).sum())
            kept = int(tok[k.copies > 0].sum())
            mix[kind] = {"available_sequences": k.meta.num_rows, "available_tokens": int(tok.sum()),
                         "dropped_at_export": dict(sorted(k.dropped.items())),
                         "target_tokens": k.target, "sequences": int((k.copies > 0).sum()),
                         "documents": int(k.copies.sum()), "tokens": released,
                         "unique_tokens": kept, "epochs": round(released / kept, 4) if kept else 0.0,
                         "share": round(released / all_tokens, 6)}
        refs = (self.decontam or {}).get("references", [])
        changes = None
        if self.changes is not None:
            changes = {"parent": self.parent, "file": changes_file,
                       "by_kind": X.change_counts(self.changes),
                       "shards_reused": sum(1 for e in entries if e["reused_from"] == self.parent),
                       "shards_new": sum(1 for e in entries if e["reused_from"] != self.parent)}
        fmt = self.cfg.format
        load = X.how_to_load(fmt, "<release url>", list(totals))
        if fmt == "megatron":
            load["megatron_data_path"] = " ".join(X.megatron_data_path(entries))
        return {
            "release_format": X.RELEASE_FORMAT, "version": self.version, "parent": self.parent,
            "fingerprint": self.fingerprint, "format": fmt, "code": code_version(), "config": self.settings,
            "tokenizer": self.counter.name if self.counter else self.format_state.get("tokenizer"),
            "sources": {"format": {k: self.format_state.get(k) for k in ("tokenizer", "rules")},
                        "sequences": {k: len(v) for k, v in self.files.items()}},
            "decontam": {"references": [{k: r.get(k) for k in ("name", "source", "content_sha256", "ids_sha256",
                                                               "instances")} for r in refs],
                         "fingerprint": (self.decontam or {}).get("fingerprint"),
                         "flagged_records": (self.decontam or {}).get("flagged")},
            "mixture": mix, "totals": totals, "shards": entries, "index": index_file, "changes": changes,
            "load": load,
        }

    def _record(self, version: str, manifest: dict[str, Any]) -> None:
        """``export/state.json`` in the data root: every release made from it (for the card)."""
        state = self.root.read_json(STATE) or {"releases": {}}
        state["releases"][version] = {"url": self.dest.url, "format": manifest["format"],
                                      "fingerprint": manifest["fingerprint"], "parent": manifest.get("parent")}
        state["latest"] = version
        self.root.write_json(STATE, state)


def _file_sha256(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def export_release(data_root: str | os.PathLike[str], to: str, config: ExportConfig, version: str | None = None,
                   parent: str | None = None, progress: Progress | None = None) -> ExportSummary:
    """The whole export without Prefect (shards shipped by ``config.workers`` threads)."""
    from concurrent.futures import ThreadPoolExecutor

    r = ExportRun(data_root, to, config, version, parent, progress)
    try:
        shards = r.plan()
        with ThreadPoolExecutor(config.workers) as ex:
            futures = [ex.submit(r.ship, s.number) for s in shards]
            try:
                results = [f.result() for f in futures]
            except BaseException:
                for f in futures:  # stop at the first failure; a re-run resumes
                    f.cancel()
                raise
        return r.finish(results)
    finally:
        r.close()


# -- readers -----------------------------------------------------------------------------------------
def read_manifest(url: str, version: str | None = None, options: dict[str, Any] | None = None
                  ) -> tuple[Destination, dict[str, Any]]:
    """(destination, manifest) of a complete release (``version`` None: the latest)."""
    dest = Destination(url, options)
    if version is None:
        latest = dest.read_json("releases/latest.json")
        if not latest:
            raise ConfigError(f"--to {url}: no release there (no releases/latest.json)")
        version = latest["version"]
    m = dest.read_json(f"releases/{version}/manifest.json")
    if m is None:
        raise ConfigError(f"--version {version}: no complete release {version} at {dest.url} (no manifest.json)")
    return dest, m


@dataclass
class VerifyResult:
    version: str
    files: int
    bytes: int
    bad: list[tuple[str, str]]  # (path, reason)

    @property
    def ok(self) -> bool:
        return not self.bad


def verify_release(url: str, version: str | None = None, options: dict[str, Any] | None = None) -> VerifyResult:
    """Read every file a release's manifest lists back from the store and check its SHA-256 and
    size (what a training cluster runs after a transfer)."""
    dest, m = read_manifest(url, version, options)
    prefix = f"releases/{m['version']}"
    listed = [f for s in m["shards"] for f in s["files"]] + [m["index"]]
    if m.get("changes") and m["changes"].get("file"):
        listed.append(m["changes"]["file"])
    out = VerifyResult(m["version"], len(listed), 0, [])
    for f in listed:
        got = dest.sha256(f"{prefix}/{f['path']}")
        if got is None:
            out.bad.append((f["path"], "missing"))
        elif got[0] != f["sha256"] or got[1] != f["bytes"]:
            out.bad.append((f["path"], f"checksum mismatch: sha256 {got[0][:16]}..., {got[1]} bytes; manifest says "
                                       f"{f['sha256'][:16]}..., {f['bytes']} bytes"))
        else:
            out.bytes += got[1]
    return out
