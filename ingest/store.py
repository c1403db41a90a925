"""The data root: atomic Parquet/JSON writes and latest-per-key reads of append-only tables.

Reads and writes ``<data root>/raw/<table>/batch=<crawl_id>/part-*.parquet`` and
``raw/_state/*.json`` on any fsspec URL (local path, ``s3://...``). The one idea: files appear
whole or not at all (temporary name, then rename), and readers pick the newest version of each
key across batches, so a re-crawl or a crash never duplicates a record.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import duckdb
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.errors import ConfigError
from ingest.schema import TABLES, TableSpec

# Row groups of 4k rows (a few MB of text): readers that want some records (a partition's) skip
# the other groups by their key statistics, and decode little beyond the rows they want.
PARQUET_OPTS = {"compression": "zstd", "compression_level": 3, "use_dictionary": True, "write_statistics": True,
                "row_group_size": 4_096}


class DataRoot:
    """A data root on local disk or object storage."""

    def __init__(self, url: str | os.PathLike[str]):
        url = os.fspath(url)
        self.url = url.rstrip("/") or "/"
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:  # e.g. s3:// without s3fs, an unknown protocol
            raise ConfigError(f"data root {url}: {exc}") from None
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.root = os.path.abspath(root) if self.local else root.rstrip("/")

    def __repr__(self) -> str:
        return f"DataRoot({self.url!r})"

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def uri(self, path: str) -> str:
        """A path from this filesystem as DuckDB / pyarrow read it (protocol kept when remote)."""
        if self.local:
            return path
        proto = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        return f"{proto}://{path}"

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    # -- atomic writes -------------------------------------------------------------------------
    def _atomic(self, rel: str, write: Any, durable: bool = True, direct: bool = False) -> str:
        final = self.path(rel)
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if not self.local:
            # An object-store PUT is atomic: the object appears whole or not at all.
            with self.fs.open(final, "wb") as fh:
                write(fh)
            return final
        # Hidden temporary name (no .parquet suffix) so globs never see a partial file.
        tmp = f"{parent}/.{final.rsplit('/', 1)[1]}.tmp-{uuid.uuid4().hex}"
        try:
            with (_DirectWriter(tmp) if direct else open(tmp, "wb")) as fh:
                write(fh)
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return final

    def write_parquet(self, rel: str, table: pa.Table, durable: bool = True, direct: bool = False,
                      **options: Any) -> str:
        """Atomic Parquet write (zstd by default; ``options`` override, e.g. for incompressible hashes).
        ``durable=False`` leaves the flush to disk to the OS (and to a later :meth:`sync`);
        ``direct=True`` bypasses the page cache (bulk files this process will not read back soon)."""
        opts = {**PARQUET_OPTS, **options}
        return self._atomic(rel, lambda fh: pq.write_table(table, fh, **opts), durable, direct)

    def sync(self, paths: Iterable[str]) -> None:
        """Flush files written with ``durable=False`` to disk (before a commit that names them).
        Most of their bytes were written back while other work ran, so this waits little."""
        if self.local:
            for path in paths:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    @contextmanager
    def parquet_file(self, path: str) -> Iterator[pq.ParquetFile]:
        """A Parquet file of this root to read row groups from: opened natively on local disk
        (no Python file object in Arrow's I/O threads), through fsspec elsewhere."""
        if self.local:
            yield pq.ParquetFile(path)
        else:
            with self.fs.open(path, "rb") as fh:
                yield pq.ParquetFile(fh)

    def write_array(self, rel: str, parts: list[np.ndarray], durable: bool = True, direct: bool = False) -> str:
        """Atomic ``.npy`` file of the concatenation of ``parts`` (one dtype, 1-D), written part by
        part (no concatenated copy); ``np.load(path, mmap_mode="r")`` maps it back, and
        :meth:`read_spans` reads parts of it."""
        dtype = np.dtype(parts[0].dtype if parts else np.uint8)
        n = sum(len(p) for p in parts)

        def write(fh: Any) -> None:
            np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                      "fortran_order": False, "shape": (n,)})
            for p in parts:
                fh.write(memoryview(np.ascontiguousarray(p, dtype=dtype)).cast("B"))

        return self._atomic(rel, write, durable, direct)

    def read_spans(self, path: str, spans: np.ndarray, gap: int = 1 << 20) -> Iterator[tuple[int, memoryview]]:
        """Yield ``(file offset, bytes)`` blocks covering the byte ranges ``spans`` (n x 2, sorted,
        end exclusive) of one file, in file order; ranges closer than ``gap`` are read as one.

        Local files are read with O_DIRECT into a reused buffer: a bulk read leaves no page cache
        behind, and on a VM touching fresh memory costs more than reading the disk. A block is
        valid until the next one is yielded."""
        spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        if not len(spans):
            return
        start = spans[:, 0] // _ALIGN * _ALIGN
        end = -(-spans[:, 1] // _ALIGN) * _ALIGN
        # Coalesce: a new run starts where the gap to everything before exceeds ``gap``.
        reach = np.maximum.accumulate(end)
        cut = np.flatnonzero(start[1:] > reach[:-1] + gap) + 1
        runs = zip(start[np.r_[0, cut]], reach[np.r_[cut - 1, len(spans) - 1]], strict=True)
        if not self.local:
            with self.fs.open(path, "rb") as fh:
                for lo, hi in runs:
                    fh.seek(int(lo))
                    yield int(lo), memoryview(fh.read(int(hi - lo)))
            return
        with _Blocks(path) as blocks:
            for lo, hi in runs:
                yield from blocks.read(int(lo), int(hi))

    def write_bytes(self, rel: str, data: bytes) -> str:
        """Atomic write of any file (e.g. a report, or a NumPy array saved to bytes)."""
        return self._atomic(rel, lambda fh: fh.write(data))

    def write_json(self, rel: str, obj: Any) -> str:
        data = (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
        return self._atomic(rel, lambda fh: fh.write(data))

    def read_json(self, rel: str) -> Any | None:
        try:
            with self.fs.open(self.path(rel), "rb") as fh:
                return json.loads(fh.read())
        except FileNotFoundError:
            return None

    # -- reads ---------------------------------------------------------------------------------
    def table_files(self, table: str, batches: Iterable[str] | None = None) -> list[str]:
        """Committed part files of a raw table (of the given batches only), sorted (temporary files
        never match)."""
        files = sorted(self.fs.glob(self.path("raw", table, "batch=*", "*.parquet")))
        if batches is not None:
            wanted = set(batches)
            files = [f for f in files if _batch_of(f) in wanted]
        return files

    def connect(self) -> duckdb.DuckDBPyConnection:
        """One explicit DuckDB connection (STACK.md: never the module-global one)."""
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        con.execute("SET enable_progress_bar=false")
        if not self.local:
            con.register_filesystem(self.fs)
        return con

    def read_latest(self, table: str, repo: str | None = None, records: pa.Table | None = None,
                    con: duckdb.DuckDBPyConnection | None = None, columns: Iterable[str] | None = None,
                    repos: Iterable[str] | None = None) -> pa.Table:
        """Current rows of a raw table: newest version per key across all batches (optionally of
        one repository, of several (``repos``: one query for a partition of repositories), or of the
        ``records`` (a table of ``repo, number``), filtered inside the scan so other rows' columns
        are never materialized). ``con``: a connection of this data root's to reuse (repeated reads
        keep DuckDB's buffers warm), else a new one. ``columns``: only these (the others are never
        read)."""
        return read_latest(self, TABLES[table], repo, records, con, columns, repos)

    def batches(self, table: str) -> list[str]:
        """The batch ids (crawl ids) a raw table has, sorted."""
        return sorted({_batch_of(f) for f in self.table_files(table)})

    def read_all(self, table: str) -> pa.Table:
        """Every stored row version of a raw table (for audits and tests)."""
        spec = TABLES[table]
        files = self.table_files(table)
        if not files:
            return spec.schema.empty_table()
        scan = _scan(self, files)
        with self.connect() as con:
            rel = con.sql(f"SELECT {_cols(spec.schema, _present(con, scan))} FROM {scan}")
            return _conform(rel.to_arrow_table(), spec)


_ALIGN = 4096  # O_DIRECT transfers: buffer address, file offset and length in whole blocks
_CHUNK = 8 << 20


class _Buffers:
    """Page-aligned 8 MB buffers (anonymous mmaps) that outlive the files using them: memory a
    process keeps touching stays warm, where a fresh buffer per file would fault in every page."""

    def __init__(self) -> None:
        self.free: list[mmap.mmap] = []
        self.lock = threading.Lock()

    def take(self) -> mmap.mmap:
        with self.lock:
            # Private: a shared anonymous map would be one buffer for a forked child and its parent.
            return self.free.pop() if self.free else mmap.mmap(-1, _CHUNK, flags=mmap.MAP_PRIVATE)

    def give(self, buf: mmap.mmap) -> None:
        with self.lock:
            self.free.append(buf)


_BUFFERS = _Buffers()
if hasattr(os, "register_at_fork"):  # a forked worker starts its own pool (and a fresh lock)
    os.register_at_fork(after_in_child=lambda: _BUFFERS.__init__())


def _open_direct(path: str, flags: int) -> tuple[int, bool]:
    """A descriptor opened with O_DIRECT where the OS and filesystem allow it (not tmpfs, not
    macOS), else a plain one; and whether it is direct."""
    if hasattr(os, "O_DIRECT"):
        try:
            return os.open(path, flags | os.O_DIRECT, 0o644), True
        except OSError:
            pass
    return os.open(path, flags, 0o644), False


class _DirectWriter(io.RawIOBase):
    """A write-only file that bypasses the page cache (O_DIRECT): bytes gather in an aligned
    buffer and go to disk 8 MB at a time; the last block is padded, then the file truncated to its
    length. Falls back to ordinary writes where O_DIRECT is refused."""

    def __init__(self, path: str):
        self.fd, self.direct = _open_direct(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self.path = path
        self.buf = _BUFFERS.take()
        self.view = memoryview(self.buf)
        self.n = 0      # bytes in the buffer
        self.done = 0   # bytes on disk

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def tell(self) -> int:
        return self.done + self.n

    def write(self, data: Any) -> int:
        mv = memoryview(data).cast("B")
        total = len(mv)
        while len(mv):
            k = min(len(mv), _CHUNK - self.n)
            self.view[self.n:self.n + k] = mv[:k]
            self.n += k
            mv = mv[k:]
            if self.n == _CHUNK:
                self._drain(_CHUNK)
        return total

    def _drain(self, length: int) -> None:
        try:
            written = os.write(self.fd, self.view[:length])
        except OSError:
            if not self.direct or self.done:
                raise
            # The filesystem took O_DIRECT at open but refuses its I/O: everything is still in the
            # buffer, so start over with a plain descriptor.
            os.close(self.fd)
            self.fd, self.direct = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), False
            written = os.write(self.fd, self.view[:length])
        if written != length:
            raise OSError(f"{self.path}: short write ({written} of {length} bytes)")
        self.done += written
        self.n = 0

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.n:
                size = self.done + self.n
                if self.direct:
                    padded = -(-self.n // _ALIGN) * _ALIGN
                    self.view[self.n:padded] = bytes(padded - self.n)
                    self._drain(padded)
                    os.ftruncate(self.fd, size)
                else:
                    self._drain(self.n)
        finally:
            _BUFFERS.give(self.buf)
            os.close(self.fd)
            super().close()


class _Blocks:
    """Reads of one local file through O_DIRECT (plain reads where refused) into a reused buffer."""

    def __init__(self, path: str):
        self.fd, self.direct = _open_direct(path, os.O_RDONLY)
        self.path = path
        self.buf = _BUFFERS.take()
        self.view = memoryview(self.buf)

    def __enter__(self) -> _Blocks:
        return self

    def __exit__(self, *exc: Any) -> None:
        _BUFFERS.give(self.buf)
        os.close(self.fd)

    def read(self, lo: int, hi: int) -> Iterator[tuple[int, memoryview]]:
        """Blocks of bytes [lo, hi) (aligned offsets), up to 8 MB each, ending early at end of file."""
        while lo < hi:
            want = min(hi - lo, _CHUNK)
            try:
                got = os.preadv(self.fd, [self.view[:want]], lo)
            except OSError:
                if not self.direct:
                    raise
                os.close(self.fd)  # O_DIRECT accepted at open, refused at read: read plainly
                self.fd, self.direct = os.open(self.path, os.O_RDONLY), False
                continue
            if got <= 0:
                return
            yield lo, self.view[:got]
            lo += got


def _batch_of(path: str) -> str:
    return path.rsplit("/batch=", 1)[1].split("/", 1)[0]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cols(schema: pa.Schema, present: set[str]) -> str:
    # Columns no file has yet (added after the oldest batches) are filled by _conform.
    return ", ".join(_q(f.name) for f in schema if f.name in present)


def _present(con: duckdb.DuckDBPyConnection, scan: str) -> set[str]:
    return set(con.sql(f"SELECT * FROM {scan} LIMIT 0").columns)


def _lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _scan(root: DataRoot, files: list[str], row_numbers: bool = False) -> str:
    paths = ", ".join(_lit(root.uri(f)) for f in files)
    # union_by_name: older batches may lack columns added later; they read as NULL.
    extra = ", file_row_number=true" if row_numbers else ""
    return f"read_parquet([{paths}], union_by_name=true, filename=true, hive_partitioning=false{extra})"


_FETCH_BATCH = 2048


def _fetch(root: DataRoot, files: list[str], where: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rows at ``where`` (``filename``, ``file_row_number``), in that order, with the
    columns of ``schema``: only the row groups holding them are read, only those columns."""
    uris = {root.uri(f): f for f in files}
    names = where.column("filename").to_pylist()
    rows = where.column("file_row_number").to_numpy(zero_copy_only=False).astype(np.int64)
    by_file: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_file.setdefault(name, []).append(i)
    parts, positions = [], []
    for name in sorted(by_file):
        at = np.asarray(by_file[name], dtype=np.int64)
        at = at[np.argsort(rows[at], kind="stable")]  # file order
        want = rows[at]
        with root.parquet_file(uris[name]) as pf:
            sizes = np.array([pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)], dtype=np.int64)
            starts = np.concatenate([[0], np.cumsum(sizes)])
            groups = np.unique(np.searchsorted(starts, want, side="right") - 1)
            present = set(pf.schema_arrow.names)
            # Small batches: bounded, reused buffers instead of a row group's worth at once.
            pieces, got = [], []
            for g in groups.tolist():
                first = int(starts[g])
                for batch in pf.iter_batches(batch_size=_FETCH_BATCH, row_groups=[g], use_threads=False,
                                             columns=[c for c in schema.names if c in present]):
                    last = first + batch.num_rows
                    lo, hi = np.searchsorted(want, [first, last])
                    if hi > lo:
                        pieces.append(batch.take(pa.array(want[lo:hi] - first)))
                        got.append(np.arange(lo, hi))
                    first = last
        t = pa.Table.from_batches(pieces, schema=pieces[0].schema) if pieces else None
        parts.append(_conform(t, schema) if t is not None else schema.empty_table())
        positions.append(at[np.concatenate(got)] if got else at[:0])
    if not parts:
        return schema.empty_table()
    table = pa.concat_tables(parts)
    order = np.argsort(np.concatenate(positions), kind="stable")
    if np.any(order[1:] < order[:-1]):  # usually in order already (files hold rows in key order)
        table = table.take(pa.array(order))
    return table


def _conform(t: pa.Table, schema: TableSpec | pa.Schema) -> pa.Table:
    schema = schema.schema if isinstance(schema, TableSpec) else schema
    missing = [f for f in schema if f.name not in t.column_names]
    for f in missing:
        t = t.append_column(f.name, pa.nulls(len(t), f.type))
    return t.select(schema.names).cast(schema)


def read_latest(root: DataRoot, spec: TableSpec, repo: str | None = None,
                records: pa.Table | None = None, con: duckdb.DuckDBPyConnection | None = None,
                columns: Iterable[str] | None = None, repos: Iterable[str] | None = None) -> pa.Table:
    schema = spec.schema if columns is None else pa.schema([spec.schema.field(c) for c in columns])
    files = root.table_files(spec.name)
    if not files:
        return schema.empty_table()
    key = ", ".join(_q(k) for k in spec.key)
    scan = _scan(root, files, row_numbers=True)
    if repo is not None:
        scan = f"(SELECT * FROM {scan} WHERE repo = {_lit(repo)})"
    if repos is not None:
        names = sorted(set(repos))
        # The range as well as the list: Parquet statistics skip row groups (parts are in key order).
        cond = (f"repo BETWEEN {_lit(names[0])} AND {_lit(names[-1])} AND repo IN ({', '.join(map(_lit, names))})"
                if names else "false")
        scan = f"(SELECT * FROM {scan} WHERE {cond})"
    if records is not None:
        # The repository range first: Parquet statistics skip row groups (parts are in key order).
        lo, hi = pc.min_max(records.column("repo")).values()
        rng = f"repo BETWEEN {_lit(lo.as_py())} AND {_lit(hi.as_py())}" if records.num_rows else "false"
        scan = f"(SELECT * FROM (SELECT * FROM {scan} WHERE {rng}) SEMI JOIN _records USING (repo, number))"
    with nullcontext(con) if con is not None else root.connect() as con:
        if records is not None:
            con.register("_records", records.select(["repo", "number"]))
        present = _present(con, scan)
        # A version column no file has yet (older batches) orders nothing.
        order = ", ".join(f"coalesce({_q(v[1:])}, false) ASC" if v.startswith("-") else f"{_q(v)} DESC NULLS LAST"
                          for v in spec.version if v.lstrip("-") in present) + ", filename DESC"
        if spec.parent:
            parent = ", ".join(_q(k) for k in spec.parent)
            # Child rows are a set per parent: take every row of the parent's newest crawl (one
            # crawl of a repository shares one crawled_at, whichever part file holds the rows).
            inner = f"SELECT *, dense_rank() OVER (PARTITION BY {parent} ORDER BY crawled_at DESC) AS _v FROM {scan}"
            inner = f"SELECT * FROM ({inner}) WHERE _v = 1"
        else:
            inner = f"SELECT * FROM {scan}"
        # Which row of which file is current, from the key and version columns alone; then only
        # those rows' requested columns are read (the text columns never pass through the sort).
        sql = (f"SELECT filename, file_row_number FROM (SELECT *, row_number() OVER (PARTITION BY {key} "
               f"ORDER BY {order}) AS _rn FROM ({inner})) WHERE _rn = 1 ORDER BY {key}")
        where = con.sql(sql).to_arrow_table()
    return _fetch(root, files, where, schema)
