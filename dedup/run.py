"""The dedup stage's one I/O entry: exact and near-duplicate flags for every issue and PR document.

Reads: the raw tables ``issues``, ``pulls``, ``comments``, ``pull_files`` (only records in batches
this stage has not seen), and its own index under ``dedup/``. Writes, per run ``R``:
``dedup/signatures|bands/run=R/part-NNNNN.parquet`` and ``dedup/shingles/run=R/part-NNNNN.{values,offsets}.npy``
(one part per partition of records),
``dedup/buckets/run=R.parquet`` and ``dedup/edges/run=R.parquet`` (the LSH buckets the run
recomputed and every candidate pair in them with its exact Jaccard), then ``dedup/flags/flags.parquet``
and, last, ``dedup/state.json`` (the batches seen, the runs, the index fingerprint).

The one idea: a bucket's edges depend only on its members, so a run recomputes exactly the buckets
its new or changed records fall into (reading old members' stored shingle sets, never their text)
and keeps every other bucket's edges; components over the current edges then give the same
clusters, and the same flags, as a run over everything at once. Thresholds and the keep policy
apply after the stored Jaccards, so re-tuning them never re-hashes anything.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dedup import lsh, minhash
from dedup.config import DedupConfig
from dedup.documents import DOC_RULES, INPUT_COLUMNS, build_documents, clean_bodies, content_hashes
from dedup.schema import BANDS, BUCKETS, EDGES, FLAGS, FLAGS_VERSION, SIGNATURES
from ingest.errors import ConfigError
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.dedup")

INPUT_TABLES = ("issues", "pulls", "comments", "pull_files")
STATE = "dedup/state.json"
Progress = Callable[[str, dict[str, Any]], None]


@dataclass
class DedupSummary:
    run: int
    rebuilt: bool
    new_batches: int
    records_hashed: int
    partitions: int
    buckets_recomputed: int
    candidate_pairs: int
    docs: int
    clusters: int
    counts: dict[str, int] = field(default_factory=dict)  # "<kind>:<kept|exact|near>" -> records
    bands: tuple[int, int] = (0, 0)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class DedupRun:
    """One dedup run over a data root (the flows map ``hash_partition`` over ``partitions()``)."""

    def __init__(self, data_root: str | os.PathLike[str], config: DedupConfig, progress: Progress | None = None):
        self.root = DataRoot(data_root)
        self.cfg = config
        self.progress = progress or (lambda event, info: None)
        self.bands = (config.bands, config.rows) if config.bands and config.rows else lsh.choose_bands(
            config.num_perm, config.threshold, config.lsh_recall)
        self.fp = config.fingerprint(DOC_RULES, minhash.SHINGLE_SCHEME, minhash.PERM_SCHEME, self.bands)
        state = self.root.read_json(STATE) or {}
        self.run = int(state.get("run", 0)) + 1
        self.rebuilt = state.get("fingerprint") != self.fp
        if self.rebuilt and state:
            log.warning("dedup index built with other settings: rebuilding it from the raw tables")
            state = {}
        self.state = state
        # Leftovers of an attempt of this run that died are never mixed with this attempt's files.
        for name in ("signatures", "shingles", "bands", "edges", "buckets"):
            for f in self._files(name, [self.run], "*.*"):
                self.root.fs.rm(f)
        self.seconds: Counter[str] = Counter()
        self._offsets_of: dict[int, np.ndarray] = {}

    # -- what is new -----------------------------------------------------------------------------
    def new_batches(self) -> dict[str, list[str]]:
        seen = self.state.get("batches", {})
        return {t: [b for b in self.root.batches(t) if b not in set(seen.get(t, []))] for t in INPUT_TABLES}

    def changed_records(self, batches: dict[str, list[str]]) -> pa.Table:
        """(repo, number) of every record with a row in a new batch, sorted."""
        scans = []
        for table, ids in batches.items():
            files = self.root.table_files(table, ids)
            if files:
                paths = ", ".join("'" + self.root.uri(f).replace("'", "''") + "'" for f in files)
                scans.append(f"SELECT repo, number FROM read_parquet([{paths}], union_by_name=true)")
        schema = pa.schema([("repo", pa.string()), ("number", pa.int64())])
        if not scans:
            return schema.empty_table()
        with self.root.connect() as con:  # one query: UNION drops repeats, DuckDB sorts
            t = con.sql(f"SELECT repo, number FROM ({' UNION '.join(scans)}) ORDER BY repo, number").to_arrow_table()
        return t.cast(schema)

    def partitions(self, records: pa.Table) -> list[pa.Table]:
        """Records split into partitions of about ``partition_docs``, whole repositories where they
        fit (a repository's records are read together), in a fixed order."""
        n = records.num_rows
        # At most partition_docs each, and a multiple of the workers, so none idles in the last round.
        workers = self.cfg.threads
        parts = -(-n // self.cfg.partition_docs)
        parts = -(-parts // workers) * workers if parts > 1 else parts
        step = max(1, -(-n // max(parts, 1)))
        if -(-n // step) >= 1 << 20:  # a version's ref holds its partition in 20 bits
            raise ConfigError(f"dedup.partition_docs = {self.cfg.partition_docs} makes over 2^20 partitions of "
                              f"{n} records: raise it")
        return [records.slice(i, step) for i in range(0, n, step)]

    # -- one partition: documents -> shingles -> signatures -> band keys --------------------------
    def job(self, index: int, records: pa.Table) -> PartitionJob:
        return PartitionJob(self.root.url, self.cfg.model_dump(mode="json"), self.run, self.bands, self.fp, index,
                            records)

    def hash_partition(self, index: int, records: pa.Table) -> int:
        n, seconds = hash_partition(self.job(index, records))
        self.seconds.update(seconds)
        self.progress("partition", {"index": index, "docs": n})
        return n

    # -- buckets, edges, components, flags ----------------------------------------------------------
    def _files(self, name: str, runs: Iterable[int] | None = None, pattern: str = "*.parquet") -> list[str]:
        files = sorted(self.root.fs.glob(self.root.path("dedup", name, "run=*", pattern)))
        files += sorted(self.root.fs.glob(self.root.path("dedup", name, "run=*.parquet")))
        keep = set(runs) if runs is not None else {r for r in self.state.get("runs", [])} | {self.run}
        return [f for f in files if int(f.split("run=")[1][:6]) in keep]

    def _scan(self, name: str, runs: Iterable[int] | None = None) -> str | None:
        files = self._files(name, runs)
        if not files:
            return None
        paths = ", ".join("'" + self.root.uri(f).replace("'", "''") + "'" for f in files)
        return f"read_parquet([{paths}])"

    def _connect(self) -> Any:
        con = self.root.connect()
        con.execute(f"SET memory_limit='{self.cfg.memory_limit_mb}MB'")
        # Spill to local disk when a query outgrows the limit (an in-memory database has no default).
        con.execute(f"SET temp_directory='{os.path.join(tempfile.gettempdir(), 'swe-curate-duckdb')}'")
        con.execute(f"SET threads={self.cfg.threads}")
        con.execute("SET preserve_insertion_order=false")
        return con

    def link(self) -> tuple[int, int]:
        """Recompute the buckets this run's documents fall into (and those their older versions
        left), verify every candidate pair there with exact Jaccard, and store buckets and edges."""
        t0 = time.perf_counter()
        sigs, bands = self._scan("signatures"), self._scan("bands")
        if sigs is None or bands is None:
            return 0, 0
        prior = self._scan("edges", self.state.get("runs", [])) if self.state.get("runs") else None
        first = not self.state.get("runs")
        with self._connect() as con:
            if first:
                # Everything is new: every bucket is touched and every document current.
                # Grouped by key alone (twice as fast; keys of different bands never meet in
                # practice, and a bucket left with one member makes no pair).
                con.execute(f"""CREATE TEMP TABLE multi AS SELECT DISTINCT band, key FROM {bands}
                    SEMI JOIN (SELECT key FROM {bands} GROUP BY key HAVING count(*) > 1) USING (key)""")
                members = f"(SELECT band, key, ref FROM {bands} SEMI JOIN multi USING (band, key))"
            else:
                # The current version of each document is its newest run. Buckets touched: this
                # run's keys and the keys older versions of its documents had.
                con.execute(f"CREATE TEMP TABLE docs AS SELECT doc_id, run, ref FROM {sigs}")
                con.execute(f"""CREATE TEMP TABLE touched AS SELECT DISTINCT band, key FROM {bands}
                    SEMI JOIN (SELECT ref FROM docs SEMI JOIN (SELECT doc_id FROM docs WHERE run = {self.run})
                               USING (doc_id)) USING (ref)""")
                con.execute(f"""CREATE TEMP TABLE members AS SELECT band, key, ref FROM {bands}
                    SEMI JOIN (SELECT ref FROM docs JOIN (SELECT doc_id, max(run) AS run FROM docs GROUP BY doc_id)
                               USING (doc_id, run)) USING (ref)
                    SEMI JOIN touched USING (band, key)""")
                con.execute("""CREATE TEMP TABLE multi AS
                    SELECT band, key FROM members GROUP BY band, key HAVING count(*) > 1""")
                members = "(SELECT band, key, ref FROM members SEMI JOIN multi USING (band, key))"
            # Recomputed: touched buckets with two or more current members, or with edges before.
            recomputed = "SELECT band, key FROM multi" + (
                "" if first else f" UNION SELECT band, key FROM (SELECT band, key FROM {prior}) SEMI JOIN touched USING (band, key)"
                if prior else "")
            touched = con.sql(f"SELECT band, key FROM ({recomputed}) ORDER BY band, key").to_arrow_table()
            # Members by record id within a bucket: the same order whichever runs hashed them.
            members = con.sql(f"""SELECT m.band, m.key, s.doc_id, m.ref FROM {members} m
                JOIN (SELECT ref, doc_id FROM {sigs}) s USING (ref) ORDER BY m.band, m.key, s.doc_id""").to_arrow_table()
        pairs = _bucket_pairs(members, self.cfg.max_bucket_pairs)
        t1 = time.perf_counter()
        jac = self._jaccard(pairs["a_ref"], pairs["b_ref"])
        edges = pa.table({"band": pairs["band"], "key": pairs["key"], "a": pairs["a"], "b": pairs["b"],
                          "jaccard": pa.array(jac, pa.float64()),
                          "run": pa.array(np.full(len(jac), self.run, dtype=np.int64))}, schema=EDGES)
        self.root.write_parquet(f"dedup/buckets/run={self.run:06d}.parquet", pa.table({
            "band": touched.column("band"), "key": touched.column("key"),
            "run": pa.array(np.full(touched.num_rows, self.run, dtype=np.int64))}, schema=BUCKETS))
        self.root.write_parquet(f"dedup/edges/run={self.run:06d}.parquet", edges)
        self.seconds["candidates"] += t1 - t0
        self.seconds["verify"] += time.perf_counter() - t1
        return touched.num_rows, len(jac)

    def _jaccard(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the document versions ``a[k]``, ``b[k]`` (refs) from their stored
        shingle sets; a pair seen in several buckets is measured once. The sets of the pairs'
        documents are read into memory (a ref names run, partition and row), a share of
        ``memory_limit_mb`` at a time."""
        if not len(a):
            return np.zeros(0)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        refs, dense = np.unique(np.concatenate([lo, hi]), return_inverse=True)
        codes, inverse = np.unique(dense[:len(lo)] * len(refs) + dense[len(lo):], return_inverse=True)
        pa_, pb = codes // len(refs), codes % len(refs)
        sizes = self._set_sizes(refs)
        budget = self.cfg.memory_limit_mb * (1 << 20) // 8  # uint32 values: half the limit
        out = np.empty(len(codes))
        groups = 1
        while True:
            cuts = np.linspace(0, len(codes), groups + 1).astype(np.int64)
            sel = [np.unique(np.concatenate([pa_[s:e], pb[s:e]])) for s, e in zip(cuts[:-1], cuts[1:], strict=True)]
            if groups >= len(codes) or max(int(sizes[u].sum()) for u in sel) <= budget:
                break
            groups = min(2 * groups, len(codes))
        for (s, e), u in zip(zip(cuts[:-1], cuts[1:], strict=True), sel, strict=True):
            values, offsets = self._load_sets(refs[u])
            pairs = np.stack([np.searchsorted(u, pa_[s:e]), np.searchsorted(u, pb[s:e])], axis=1)
            out[s:e] = minhash.pair_jaccard(values, offsets, pairs)
        return out[inverse.reshape(-1)]

    def _offsets(self, file: int) -> np.ndarray:
        """The CSR offsets of one partition's shingle file (``ref >> 20``; small, kept)."""
        if file not in self._offsets_of:
            run, index = file >> 20, file & _ROW
            path = self.root.path(f"dedup/shingles/run={run:06d}/part-{index:05d}.offsets.npy")
            with self.root.fs.open(path, "rb") as fh:
                self._offsets_of[file] = np.load(io.BytesIO(fh.read()))
        return self._offsets_of[file]

    def _set_sizes(self, refs: np.ndarray) -> np.ndarray:
        sizes = np.empty(len(refs), dtype=np.int64)
        for s, e, file in _by_file(refs):
            off, rows = self._offsets(file), refs[s:e] & _ROW
            sizes[s:e] = off[rows + 1] - off[rows]
        return sizes

    def _load_sets(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The shingle sets of the versions ``refs`` (sorted unique) as one CSR collection, read
        from the partition files (``threads`` at once), only the byte ranges holding them."""
        sizes = self._set_sizes(refs)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        values = np.empty(int(offsets[-1]), dtype=np.uint32)

        def load(s: int, e: int, file: int) -> None:
            off, rows = self._offsets(file), refs[s:e] & _ROW
            starts, ends, dest = off[rows], off[rows + 1], offsets[s:e]
            keep = ends > starts
            if not keep.any():
                return
            starts, ends, dest = starts[keep], ends[keep], dest[keep]
            run, index = file >> 20, file & _ROW
            path = self.root.path(f"dedup/shingles/run={run:06d}/part-{index:05d}.values.npy")
            with self.root.fs.open(path, "rb") as fh:
                major, _ = np.lib.format.read_magic(fh)
                header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                header(fh)
                data = fh.tell()  # a multiple of 64: values never straddle 4 KB blocks
            for at, block in self.root.read_spans(path, np.stack([data + 4 * starts, data + 4 * ends], axis=1)):
                first = max(at, data)
                chunk = np.frombuffer(block, dtype="<u4", count=(at + len(block) - first) // 4, offset=first - at)
                minhash.gather_ranges(chunk, (first - data) // 4, starts, ends, dest, values)

        for _, _, file in _by_file(refs):
            self._offsets(file)  # the small offsets files first, in this thread (a plain dict cache)
        # Reads and the gather kernel release the GIL: files load in parallel into disjoint ranges.
        with ThreadPoolExecutor(max_workers=self.cfg.threads) as pool:
            list(pool.map(lambda job: load(*job), _by_file(refs)))
        return values, offsets

    def flags(self) -> tuple[pa.Table, int]:
        """Components over the current edges at the threshold, one representative each by the
        policy, and a flag row for every current document."""
        t0 = time.perf_counter()
        sigs = self._scan("signatures")
        edges, buckets = self._scan("edges"), self._scan("buckets")
        assert sigs is not None
        with self._connect() as con:
            docs = con.sql(f"""SELECT s.doc_id, s.kind, s.repo, s.content_hash, s.merged, s.n_comments, s.created_at,
                    s.n_chars, s.ref FROM {sigs} s JOIN (SELECT doc_id, max(run) AS run FROM {sigs} GROUP BY doc_id)
                    USING (doc_id, run) ORDER BY s.doc_id""").to_arrow_table()
            if edges is not None and buckets is not None:
                # A bucket's edges come from the newest run that recomputed it.
                e = con.sql(f"""WITH last AS (SELECT band, key, max(run) AS run FROM {buckets} GROUP BY band, key)
                    SELECT DISTINCT a, b, jaccard FROM {edges} JOIN last USING (band, key, run)
                    WHERE jaccard >= {self.cfg.threshold} ORDER BY a, b""").to_arrow_table()
            else:
                e = pa.table({"a": pa.array([], pa.string()), "b": pa.array([], pa.string()),
                              "jaccard": pa.array([], pa.float64())})
        ids = docs.column("doc_id").combine_chunks()
        n = len(ids)
        # One lookup table for both ends of every edge.
        both = pc.index_in(pa.chunked_array(e.column("a").chunks + e.column("b").chunks, pa.string()),
                           value_set=ids).to_numpy(zero_copy_only=False)
        ea, eb = both[:e.num_rows], both[e.num_rows:]
        ok = ~(np.isnan(ea.astype(float)) | np.isnan(eb.astype(float)))  # edges of documents no longer current
        labels = _components(n, ea[ok].astype(np.int64), eb[ok].astype(np.int64))
        # The representative of a component: its first member in policy order.
        order = self._policy_order(docs)
        uniq, first = np.unique(labels[order], return_index=True)
        best = np.empty(n, dtype=np.int64)
        best[uniq] = order[first]
        rep = best[labels]
        size = np.bincount(labels, minlength=n)[labels]
        dup = np.nonzero(rep != np.arange(n))[0]
        sim = np.ones(n)
        if len(dup):
            # Most duplicates share an edge with their representative: its stored Jaccard. The
            # others (linked through a third document) are measured from their shingle sets.
            ia, ib = ea[ok].astype(np.int64), eb[ok].astype(np.int64)
            codes = np.minimum(ia, ib) * n + np.maximum(ia, ib)
            order_e = np.argsort(codes, kind="stable")
            codes, jac = codes[order_e], e.column("jaccard").to_numpy()[ok][order_e]
            want = np.minimum(dup, rep[dup]) * n + np.maximum(dup, rep[dup])
            at = np.minimum(np.searchsorted(codes, want), max(len(codes) - 1, 0))
            found = (codes[at] == want) if len(codes) else np.zeros(len(dup), dtype=bool)
            sim[dup[found]] = jac[at[found]]
            rest = dup[~found]
            if len(rest):
                refs = docs.column("ref").to_numpy()
                sim[rest] = self._jaccard(refs[rest], refs[rep[rest]])
        keep = rep == np.arange(n)
        hashes = docs.column("content_hash").combine_chunks()
        exact = pc.fill_null(pc.equal(hashes, hashes.take(pa.array(rep))), False).to_numpy(zero_copy_only=False)
        reason = np.where(keep, None, np.where(exact, "exact", "near"))
        flags = pa.table({
            "record_id": docs.column("doc_id"), "kind": docs.column("kind"), "repo": docs.column("repo"),
            "cluster_id": ids.take(pa.array(rep)), "cluster_size": pa.array(size, pa.int64()),
            "keep": pa.array(keep), "similarity": pa.array(np.round(sim, 6)), "reason": pa.array(reason, pa.string()),
        }, schema=FLAGS).replace_schema_metadata({b"swe_curate.table": FLAGS_VERSION.encode(),
                                                  b"swe_curate.fingerprint": self.fp.encode()})
        self.root.write_parquet("dedup/flags/flags.parquet", flags)
        self.seconds["flags"] += time.perf_counter() - t0
        return flags, int(len(np.unique(labels[size > 1])))

    def _policy_order(self, docs: pa.Table) -> np.ndarray:
        # Nulls last whatever the direction (an issue has no merged flag; it never beats a PR on it).
        sort_keys = [(key, "descending" if desc else "ascending", "at_end") for key, desc in self.cfg.policy_keys()]
        return pc.sort_indices(docs, sort_keys=sort_keys).to_numpy()

    def plan(self) -> list[pa.Table]:
        """The partitions of records to hash in this run (new or changed since the last run)."""
        self.t0 = time.perf_counter()
        self.batches = self.new_batches()
        records = self.changed_records(self.batches) if any(self.batches.values()) else None
        self.parts = self.partitions(records) if records is not None else []
        self.seconds["plan"] += time.perf_counter() - self.t0
        return self.parts

    def finish(self, hashed: int) -> DedupSummary:
        """After every partition is hashed: link, flag, commit the state; the run's summary. With
        nothing new, the flags are still recomputed (the threshold or the policy may have changed)."""
        buckets, pairs = self.link() if self.parts else (0, 0)
        if not self._files("signatures"):
            raise ConfigError(f"nothing to dedup in {self.root.url}: no issues or pull requests under raw/")
        flags, clusters = self.flags()
        self.commit(self.batches)
        counts: Counter[str] = Counter()
        for kind, keep, reason in zip(flags.column("kind").to_pylist(), flags.column("keep").to_pylist(),
                                      flags.column("reason").to_pylist(), strict=True):
            counts[f"{kind}:{'kept' if keep else reason}"] += 1
        self.seconds["total"] = time.perf_counter() - self.t0
        return DedupSummary(run=self.run, rebuilt=self.rebuilt, new_batches=sum(len(v) for v in self.batches.values()),
                            records_hashed=hashed, partitions=len(self.parts), buckets_recomputed=buckets,
                            candidate_pairs=pairs, docs=flags.num_rows, clusters=clusters,
                            counts=dict(sorted(counts.items())), bands=self.bands,
                            seconds={k: round(v, 3) for k, v in sorted(self.seconds.items())})

    def commit(self, batches: dict[str, list[str]]) -> None:
        # The partitions' files were written without waiting for the disk: flush them before
        # the state names this run (a crash before this line leaves the run uncommitted).
        self.root.sync(f for name in ("signatures", "bands", "shingles") for f in self._files(name, [self.run], "*.*"))
        seen = {t: sorted(set(self.state.get("batches", {}).get(t, [])) | set(batches.get(t, [])))
                for t in INPUT_TABLES}
        self.root.write_json(STATE, {"fingerprint": self.fp, "run": self.run, "batches": seen,
                                     "runs": sorted(set(self.state.get("runs", [])) | {self.run}),
                                     "bands": list(self.bands)})


@dataclass
class PartitionJob:
    """Everything one partition needs, picklable, so a process (or a Dask worker) can run it."""

    data_root: str
    config: dict[str, Any]
    run: int
    bands: tuple[int, int]
    fingerprint: str
    index: int
    records: pa.Table


# Hashes are incompressible: no compression (zstd only costs time here); dictionaries for the
# repeated columns (a version's ref repeats in each of its band rows), and large row groups.
_RAW = {"signatures": {"compression": "none", "compression_level": None, "use_dictionary": ["doc_id", "kind", "repo", "run"],
                       "row_group_size": 16_384},
        "bands": {"compression": "none", "compression_level": None, "use_dictionary": ["band", "ref"], "row_group_size": 65_536}}


def hash_partition(job: PartitionJob) -> tuple[int, dict[str, float]]:
    """Read a partition's records, build their documents, hash them, and write the partition's
    signatures, shingle sets and band keys. Returns (documents, seconds per step)."""
    keep_memory()
    cfg = DedupConfig.model_validate(job.config)
    root = DataRoot(job.data_root)
    seconds: Counter[str] = Counter()
    t0 = time.perf_counter()
    con = _connection(root)
    tables = {t: root.read_latest(t, records=job.records, con=con, columns=INPUT_COLUMNS[t]) for t in INPUT_TABLES}
    seconds["read"] += time.perf_counter() - t0
    perms = minhash.permutations(cfg.num_perm, cfg.seed)
    out: dict[str, list[pa.Table]] = {"signatures": [], "bands": []}
    sets: list[tuple[np.ndarray, np.ndarray]] = []
    for chunk in _chunks(tables, cfg.chunk_docs):
        t1 = time.perf_counter()
        docs = build_documents(chunk["issues"], chunk["pulls"], chunk["comments"], chunk["pull_files"],
                               **cfg.doc_options())
        docs = docs.filter(pc.is_in(docs.column("kind"), pa.array(list(cfg.kinds))))
        t2 = time.perf_counter()
        values, offsets = minhash.shingle_sets(docs.column("text"), cfg.ngram)
        sigs = minhash.signatures(values, offsets, perms)
        keys = lsh.band_keys(sigs, *job.bands)
        t3 = time.perf_counter()
        first_ref = (job.run << 40) | (job.index << 20) | sum(t.num_rows for t in out["signatures"])
        for name, table in zip(out, _index_tables(docs, offsets, sigs, keys, job.run, first_ref), strict=True):
            out[name].append(table)
        sets.append((values, np.diff(offsets)))
        seconds["documents"] += t2 - t1
        seconds["hash"] += t3 - t2
        seconds["write"] += time.perf_counter() - t3
    t4 = time.perf_counter()
    del tables
    meta = {b"swe_curate.shingles": minhash.SHINGLE_SCHEME.encode(), b"swe_curate.perm": minhash.PERM_SCHEME.encode(),
            b"swe_curate.num_perm": str(cfg.num_perm).encode(), b"swe_curate.seed": str(cfg.seed).encode(),
            b"swe_curate.ngram": str(cfg.ngram).encode(), b"swe_curate.fingerprint": job.fingerprint.encode()}
    schemas = {"signatures": SIGNATURES, "bands": BANDS}
    for name, parts in out.items():
        table = pa.concat_tables(parts) if parts else schemas[name].empty_table()
        # Not flushed here: the run flushes all its files once, before it commits (finish).
        root.write_parquet(f"dedup/{name}/run={job.run:06d}/part-{job.index:05d}.parquet",
                           table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), durable=False,
                           direct=name == "signatures", **_RAW[name])
    sizes = np.concatenate([n for _, n in sets]) if sets else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype("<i8")
    # Signatures and shingle values are bulk this run never reads again or reads in part: written
    # past the page cache (on a VM, fresh page-cache memory costs more than the disk write).
    # Band rows are grouped straight after, so they go through it.
    for what, parts in (("values", [v.astype("<u4", copy=False) for v, _ in sets] or [np.zeros(0, "<u4")]),
                        ("offsets", [offsets])):
        root.write_array(f"dedup/shingles/run={job.run:06d}/part-{job.index:05d}.{what}.npy", parts, durable=False,
                         direct=what == "values")
    seconds["write"] += time.perf_counter() - t4
    return sum(t.num_rows for t in out["signatures"]), dict(seconds)


_CONNECTIONS: dict[tuple[int, int, str], Any] = {}


def _connection(root: DataRoot) -> Any:
    """One DuckDB connection per worker process and thread, reused partition after partition
    (its buffers stay warm: reads take about half the time of a new connection each)."""
    key = (os.getpid(), threading.get_ident(), root.url)
    if key not in _CONNECTIONS:
        _CONNECTIONS[key] = root.connect()
    return _CONNECTIONS[key]


def _chunks(tables: dict[str, pa.Table], size: int) -> Iterable[dict[str, pa.Table]]:
    """The partition's tables, a few records at a time (every table's rows of those records)."""
    ids = pa.concat_arrays([tables["pulls"].column("id").combine_chunks().cast(pa.string()),
                            tables["issues"].column("id").combine_chunks().cast(pa.string())]).unique()
    if len(ids) <= size:
        yield tables
        return
    ids = ids.take(pc.sort_indices(ids))
    key = {"issues": "id", "pulls": "id", "comments": "record_id", "pull_files": "record_id"}
    for start in range(0, len(ids), size):
        part = ids.slice(start, size)
        yield {name: t.filter(pc.is_in(t.column(key[name]), value_set=part)) for name, t in tables.items()}


def _index_tables(docs: pa.Table, offsets: np.ndarray, sigs: np.ndarray, keys: np.ndarray,
                  run_id: int, first_ref: int) -> tuple[pa.Table, pa.Table]:
    """The signatures and bands rows of a chunk of documents (refs from ``first_ref``)."""
    n, num_perm = sigs.shape
    run = pa.array(np.full(n, run_id, dtype=np.int64))
    refs = np.arange(first_ref, first_ref + n, dtype=np.int64)
    sig_list = pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(
        np.arange(0, n * num_perm * 4 + 1, num_perm * 4, dtype=np.int32)), pa.py_buffer(sigs.astype("<u4").tobytes())])
    signatures = pa.table({
        "doc_id": docs.column("doc_id"), "kind": docs.column("kind"), "repo": docs.column("repo"),
        "number": docs.column("number"), "content_hash": docs.column("content_hash"),
        "merged": docs.column("merged"), "n_comments": docs.column("n_comments"),
        "created_at": docs.column("created_at"), "n_chars": docs.column("n_chars"),
        "n_shingles": pa.array(np.diff(offsets).astype(np.int64)), "run": run, "ref": pa.array(refs),
        "minhash": sig_list,
    }, schema=SIGNATURES)
    b = keys.shape[1] if keys.ndim == 2 else 0
    bands = pa.table({
        "band": pa.array(np.tile(np.arange(b, dtype=np.int16), n)),
        "key": pa.array(keys.reshape(-1)),
        "ref": pa.array(np.repeat(refs, b)),
    }, schema=BANDS)
    return signatures, bands


def keep_memory() -> None:
    """Keep freed memory in this process for reuse (once per process). Returning it to the OS
    and faulting it in again costs more than the hashing on small VMs (a fresh page can take tens
    of microseconds to fault in); what is kept never exceeds the process's own peak."""
    global _MEMORY_KEPT
    if _MEMORY_KEPT:
        return
    _MEMORY_KEPT = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-1, 1 << 40)  # M_TRIM_THRESHOLD: never give the top of the heap back
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: buffers up to 32 MB come from the heap
    except (OSError, AttributeError):  # not glibc
        pass
    else:
        # Arrow's buffers from the same heap (mimalloc and jemalloc give large ones back at once).
        pa.set_memory_pool(pa.system_memory_pool())


_MEMORY_KEPT = False


def _bucket_pairs(members: pa.Table, max_pairs: int) -> dict[str, pa.Array]:
    """Candidate pairs per bucket (members sorted by band, key, doc_id): every pair in a bucket of
    at most ``max_pairs`` members, each member with the first one in a larger bucket. Depends only
    on the bucket's members. Vectorized by bucket size (most buckets hold two documents)."""
    band = members.column("band").to_numpy()
    key = members.column("key").to_numpy()
    n = len(band)
    if n == 0:
        return {"band": pa.array([], pa.int16()), "key": pa.array([], pa.uint64()),
                "a": pa.array([], pa.string()), "b": pa.array([], pa.string()),
                "a_ref": np.zeros(0, dtype=np.int64), "b_ref": np.zeros(0, dtype=np.int64)}
    starts = np.flatnonzero(np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1])])
    sizes = np.diff(np.r_[starts, n])
    left, right = [], []
    for size in np.unique(sizes):
        if size < 2:
            continue
        first = starts[sizes == size]
        if size <= max_pairs:
            i, j = np.triu_indices(size, 1)
        else:
            i, j = np.zeros(size - 1, dtype=np.int64), np.arange(1, size)
        left.append((first[:, None] + i[None, :]).reshape(-1))
        right.append((first[:, None] + j[None, :]).reshape(-1))
    a_idx = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)
    b_idx = np.concatenate(right) if right else np.zeros(0, dtype=np.int64)
    order = np.argsort(a_idx, kind="stable")  # bucket order: a deterministic row order
    a_idx, b_idx = a_idx[order], b_idx[order]
    doc, ref = members.column("doc_id"), members.column("ref").to_numpy()
    return {"band": pa.array(band[a_idx].astype(np.int16)), "key": pa.array(key[a_idx].astype(np.uint64)),
            "a": doc.take(pa.array(a_idx)).combine_chunks(), "b": doc.take(pa.array(b_idx)).combine_chunks(),
            "a_ref": ref[a_idx], "b_ref": ref[b_idx]}


_ROW = (1 << 20) - 1  # a ref's low 20 bits: its row in the partition (above: run and partition)


def _by_file(refs: np.ndarray) -> Iterable[tuple[int, int, int]]:
    """``(start, end, file)`` runs of sorted refs that live in one partition file (``ref >> 20``)."""
    if not len(refs):
        return
    files = refs >> 20
    bounds = np.flatnonzero(np.r_[True, files[1:] != files[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(s), int(e), int(files[s])


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label per node (scipy's union over the sparse edge list)."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)

def warm_up() -> None:
    """Load the compiled kernels once (about a second: numba's code generator starts on first use),
    before forking, so worker processes inherit them instead of each paying it."""
    values, offsets = minhash.shingle_sets(["warm up the kernels"], 5)
    sigs = minhash.signatures(values, offsets, minhash.permutations(16, 1))
    lsh.band_keys(sigs, 4, 4)
    minhash.pair_jaccard(values, offsets, np.zeros((1, 2), dtype=np.int64))
    minhash.gather_ranges(values, 0, offsets[:-1], offsets[1:], offsets[:-1], np.empty_like(values))
    # The document kernels too: cleaning, and content hashes of ASCII and non-ASCII text.
    clean_bodies(pa.array(["Warm  up\r\n\n\n\nthe kernels ", "Ünïcode  TEXT", "> quoted\nOn Mon, x wrote:"]))
    content_hashes(["Warm  up", "Ünïcode  TEXT \u0130"])


def dedup(data_root: str | os.PathLike[str], config: DedupConfig, progress: Progress | None = None) -> DedupSummary:
    """The whole stage without Prefect: plan, hash partitions in worker processes (documents are
    built in Python, so threads would share one core), then link and flag."""
    keep_memory()
    r = DedupRun(data_root, config, progress)
    t0 = time.perf_counter()
    # Planning (DuckDB, which releases the GIL) overlaps loading the compiled kernels.
    with ThreadPoolExecutor(max_workers=1) as planner:
        planned = planner.submit(r.plan)
        warm_up()
        parts = planned.result()
    jobs = [r.job(i, p) for i, p in enumerate(parts)]
    t1 = time.perf_counter()
    if config.workers == "processes" and len(jobs) > 1 and config.threads > 1:
        # fork: the children inherit the imported modules and compiled kernels (spawn would
        # re-import them, seconds per worker); the parent holds no open DuckDB connection here.
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=config.threads, mp_context=ctx) as pool:
            results = list(pool.map(hash_partition, jobs))
    else:
        with ThreadPoolExecutor(max_workers=config.threads) as pool:
            results = list(pool.map(hash_partition, jobs))
    for _, seconds in results:
        r.seconds.update(seconds)
    r.seconds.update({"plan_and_warm_up": t1 - t0, "partitions_wall": time.perf_counter() - t1})
    return r.finish(sum(n for n, _ in results))


def dropped_ids(data_root: str | os.PathLike[str]) -> pa.Table:
    """The apply step's input: record ids the dedup flags drop (empty when dedup never ran)."""
    root = DataRoot(data_root)
    if not root.exists("dedup/flags/flags.parquet"):
        return pa.table({"record_id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
    with root.parquet_file(root.path("dedup/flags/flags.parquet")) as pf:
        t = pf.read(columns=["record_id", "keep", "reason"])
    return t.filter(pc.invert(t.column("keep"))).select(["record_id", "reason"])
