"""The decontam stage's one I/O entry: flag and audit every record that overlaps a benchmark.

Reads: the references (local Parquet / JSONL, or a Hugging Face dataset through ``datasets``) and
the raw tables ``repos``, ``issues``, ``pulls``, ``comments``, ``pull_commits``, ``pull_files``
(latest rows, in partitions of records). Writes ``decontam/references.parquet`` (the manifest),
``decontam/audit/audit.parquet``, ``decontam/flags/flags.parquet``, ``decontam/audit/report.md`` and,
last, ``decontam/state.json`` (reference names and hashes, the fingerprint, counts).

The one idea: one pass over the text columns against a compact key set of the references finds
every candidate; boilerplate needs the whole corpus's view (rule 3 of ``decontam.index``), so
partitions keep their few hits and scoring happens once all are scanned.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from decontam import ngrams, report
from decontam.config import DecontamConfig
from decontam.index import build_index, load_background
from decontam.references import Reference, from_table, is_local, parse_spec
from decontam.rules import (
    Rows,
    audit_table,
    benchmark_repos,
    flags_from_audit,
    patch_index,
    patch_rows,
    reference_rows,
    repository_rows,
    text_rows,
)
from decontam.schema import AUDIT_VERSION, REFERENCES
from ingest.errors import ConfigError
from ingest.schema import record_id
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.decontam")

FLAGS_PATH = "decontam/flags/flags.parquet"
AUDIT_PATH = "decontam/audit/audit.parquet"
REPORT_PATH = "decontam/audit/report.md"
REFS_PATH = "decontam/references.parquet"
STATE = "decontam/state.json"
SCAN_BATCH = 5_000
Progress = Callable[[str, dict[str, Any]], None]


# -- references ------------------------------------------------------------------------------------
def _read_local(name: str, source: str) -> pa.Table:
    if not os.path.exists(source):
        raise ConfigError(f"reference {name}: no such file {source}")
    try:
        if source.endswith(".parquet"):
            return pq.read_table(source)
        opener = gzip.open if source.endswith(".gz") else open
        with opener(source, "rt", encoding="utf-8") as fh:
            text = fh.read()
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines()
                                                                        if x.strip()]
        return pa.Table.from_pylist(rows)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ConfigError(f"reference {name}: cannot read {source} ({str(exc).splitlines()[0][:200]})") from None


def _read_hub(name: str, source: str) -> pa.Table:
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"reference {name}: {source} is not a local file and the 'datasets' package is not "
                          "installed; pass a local Parquet/JSONL path (e.g. bundled:swe-bench-verified)") from None
    # The hub client logs each failed request; the one-line error below says it all.
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    datasets.logging.set_verbosity_error()
    try:
        ds = datasets.load_dataset(source, split="test")
    except Exception as exc:  # the hub is unreachable, or the dataset does not exist
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"reference {name}: cannot load Hugging Face dataset {source} (hub unreachable or no "
                          f"such dataset: {first}); pass a local Parquet/JSONL path, e.g. "
                          "--reference bundled:swe-bench-verified") from None
    return ds.data.table if hasattr(ds.data, "table") else ds.with_format("arrow")[:]


def load_reference(spec: str) -> Reference:
    name, source = parse_spec(spec)
    table = _read_local(name, source) if is_local(source) else _read_hub(name, source)
    return from_table(name, source, table)


def load_references(specs: tuple[str, ...] | list[str]) -> list[Reference]:
    refs = [load_reference(s) for s in specs]
    names = [r.name for r in refs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"--reference: two references are named {dup[0]!r} (name them: NAME=PATH)")
    return refs


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class DecontamSummary:
    records: int
    fields: int
    mb_scanned: float
    flagged: int
    counts: dict[str, int] = field(default_factory=dict)  # "<kind>:<reason>" -> records
    rules: dict[str, int] = field(default_factory=dict)  # rule -> flagged records
    instances_found: dict[str, int] = field(default_factory=dict)  # reference -> instances found
    references: list[dict[str, Any]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Part:
    rows: list[dict]
    hits: dict[str, np.ndarray]
    n_words: np.ndarray
    fields: list[dict]  # the fields with hits, indexed by hits["doc"]
    records: dict[str, dict]
    closes: list[tuple[str, int, str]]  # (issue id, instance, benchmark PR id)
    n_records: int
    n_fields: int
    n_bytes: int


class DecontamRun:
    """One decontam run (the flow maps ``scan_partition`` over ``plan()``)."""

    def __init__(self, data_root: str | os.PathLike[str], config: DecontamConfig,
                 refs: list[Reference] | None = None, progress: Progress | None = None):
        t0 = time.perf_counter()
        self.root = DataRoot(data_root)
        self.cfg = config
        self.progress = progress or (lambda event, info: None)
        self.refs = refs if refs is not None else load_references(config.references)
        for path in config.background_files:
            if not os.path.isfile(path):
                raise ConfigError(f"decontam.background_files: no such file {path}")
        self.index = build_index(self.refs, config.ngram, config.window, config.common_max_instances,
                                 load_background(config.background_files), config.bloom_bits)
        self.pindex = patch_index(self.index, self.refs, config)
        self.bench = benchmark_repos(self.index, self.root.read_latest("repos"), config.extra_repos)
        self.fp = config.fingerprint([r.content_sha256 for r in self.refs], ngrams.KEY_SCHEME)
        self.seconds: Counter[str] = Counter({"index": time.perf_counter() - t0})

    def plan(self) -> list[pa.Table]:
        """Partitions of ``(repo, number)`` of every issue and PR, in key order."""
        parts = []
        with self.root.connect() as con:
            for table in ("issues", "pulls"):
                files = self.root.table_files(table)
                if files:
                    paths = ", ".join("'" + self.root.uri(f).replace("'", "''") + "'" for f in files)
                    parts.append(con.sql(f"SELECT DISTINCT repo, number FROM read_parquet([{paths}], "
                                         "union_by_name=true)").to_arrow_table())
        if not parts:
            raise ConfigError(f"nothing to decontaminate in {self.root.url}: no issues or pull requests under raw/")
        schema = pa.schema([("repo", pa.string()), ("number", pa.int64())])
        t = pa.concat_tables([p.cast(schema) for p in parts]).group_by(["repo", "number"]).aggregate([])
        t = t.sort_by([("repo", "ascending"), ("number", "ascending")])
        step = self.cfg.partition_records
        self.parts = [t.slice(i, step) for i in range(0, t.num_rows, step)]
        return self.parts

    def scan_partition(self, i: int, records: pa.Table) -> _Part:
        t0 = time.perf_counter()
        tabs = {t: self.root.read_latest(t, records=records)
                for t in ("issues", "pulls", "comments", "pull_commits", "pull_files")}
        t1 = time.perf_counter()
        recs: dict[str, dict] = {}
        fields: list[dict] = []
        for p in tabs["pulls"].select(["id", "repo", "number", "title", "body", "created_at", "linked_issues"]
                                      ).to_pylist():
            recs[p["id"]] = {"record_id": p["id"], "kind": "pull", "repo": p["repo"], "number": p["number"],
                             "created_at": p["created_at"], "linked_issues": p["linked_issues"] or []}
            fields.append({"record_id": p["id"], "field": "title_body", "text": _join(p["title"], p["body"])})
        for it in tabs["issues"].select(["id", "repo", "number", "title", "body", "created_at", "is_pull_request"]
                                        ).to_pylist():
            if it["id"] in recs:
                continue
            recs[it["id"]] = {"record_id": it["id"], "kind": "pull" if it["is_pull_request"] else "issue",
                              "repo": it["repo"], "number": it["number"], "created_at": it["created_at"],
                              "linked_issues": []}
            fields.append({"record_id": it["id"], "field": "title_body", "text": _join(it["title"], it["body"])})
        for c in tabs["comments"].select(["record_id", "kind", "comment_id", "body"]).to_pylist():
            if c["record_id"] in recs and c["body"]:
                fields.append({"record_id": c["record_id"], "field": f"comment:{c['kind']}:{c['comment_id']}",
                               "text": c["body"]})
        for c in tabs["pull_commits"].select(["record_id", "sha", "message"]).to_pylist():
            if c["record_id"] in recs and c["message"]:
                fields.append({"record_id": c["record_id"], "field": f"commit:{c['sha']}", "text": c["message"]})
        fields.sort(key=lambda f: (f["record_id"], f["field"]))
        ftable = pa.table({"record_id": [f["record_id"] for f in fields], "field": [f["field"] for f in fields],
                           "text": pa.array([f["text"] for f in fields], pa.large_string())})
        out = Rows(self.refs, self.index)
        records_list = [recs[k] for k in sorted(recs)]
        repository_rows(out, records_list, self.bench, self.cfg.repo_policy, self.cfg.repo_after)
        closes: list[tuple[str, int, str]] = []
        if self.cfg.reference_rule:
            local = Rows(self.refs, self.index)
            reference_rows(local, records_list, ftable, recs)
            pos = {iid: k for k, iid in enumerate(self.index.instance_ids)}
            for r in local.rows:
                if r["rule"] == "reference_pr":
                    for issue in recs[r["record_id"]]["linked_issues"]:
                        closes.append((issue, pos[r["instance_id"]], r["record_id"]))
            out.rows += [r for r in local.rows if r["rule"] != "reference_closes"]
        t2 = time.perf_counter()
        # Batches of a few thousand fields keep the scanner's reused hit buffers in cache.
        col = ftable.column("text")
        chunks, words = [], []
        for lo in range(0, len(fields), SCAN_BATCH):
            hits = self.index.scanner.scan(col.slice(lo, SCAN_BATCH))
            e = self.index.expand(hits)
            e["doc"] = e["doc"] + lo
            chunks.append(e)
            words.append(hits.n_words)
        t3 = time.perf_counter()
        ex = ({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]} if chunks
              else self.index.expand(self.index.scanner.scan([], copy=True)))
        n_words_all = np.concatenate(words) if words else np.zeros(0, np.int64)
        docs = np.unique(ex["doc"])
        remap = np.full(len(fields) + 1, -1, np.int64)
        remap[docs] = np.arange(len(docs))
        ex["doc"] = remap[ex["doc"]]
        hit_fields = [fields[d] for d in docs.tolist()]
        n_words = n_words_all[docs]
        patch_rows(out, tabs["pull_files"], self.pindex, recs)
        t4 = time.perf_counter()
        self.seconds.update({"read": t1 - t0, "rules": (t2 - t1) + (t4 - t3), "scan": t3 - t2})
        n_bytes = int(pc.sum(pc.binary_length(ftable.column("text"))).as_py() or 0)
        self.progress("partition", {"index": i, "records": len(recs), "mb": n_bytes / 1e6})
        return _Part(out.rows, ex, n_words, hit_fields, {f["record_id"]: recs[f["record_id"]] for f in hit_fields},
                     closes, len(recs), len(fields), n_bytes)

    def finish(self, parts: list[_Part]) -> DecontamSummary:
        t0 = time.perf_counter()
        rows: list[dict] = []
        # Boilerplate rule 3: keys matched in records of many distinct repositories.
        pairs = [np.stack([p.hits["key"], _repo_codes(p)], axis=1) for p in parts if len(p.hits["key"])]
        common = np.zeros(len(self.index.keys), bool)
        if pairs:
            kr = np.unique(np.concatenate(pairs), axis=0)
            keys, counts = np.unique(kr[:, 0], return_counts=True)
            common[keys[counts >= self.cfg.common_min_repos]] = True
        copied = self.index.widely_copied(np.flatnonzero(common), self.cfg.common_copy_fraction)
        for p in parts:
            out = Rows(self.refs, self.index)
            text_rows(out, p.hits, p.n_words, p.fields, p.records, self.cfg, common, copied, self.bench)
            rows += p.rows + out.rows
        rows += self._closes([c for p in parts for c in p.closes])
        audit = audit_table(rows).replace_schema_metadata({b"swe_curate.table": AUDIT_VERSION.encode(),
                                                           b"swe_curate.fingerprint": self.fp.encode()})
        flags = flags_from_audit(audit, self.fp)
        manifest = self.manifest()
        self.root.write_parquet(REFS_PATH, manifest)
        self.root.write_parquet(AUDIT_PATH, audit)
        self.root.write_parquet(FLAGS_PATH, flags)
        found = write_report(self.root, audit, flags, manifest)
        counts: Counter[str] = Counter()
        rules: Counter[str] = Counter()
        for f in flags.to_pylist():
            counts[f"{f['kind']}:{f['reason']}"] += 1
            rules.update(f["rules"])
        inst_found: Counter[str] = Counter()
        for r in found:
            if r["records"]:
                for ref in r["references"]:
                    inst_found[ref] += 1
        self.seconds["finish"] += time.perf_counter() - t0
        summary = DecontamSummary(
            records=sum(p.n_records for p in parts), fields=sum(p.n_fields for p in parts),
            mb_scanned=round(sum(p.n_bytes for p in parts) / 1e6, 3), flagged=flags.num_rows,
            counts=dict(sorted(counts.items())), rules=dict(sorted(rules.items())),
            instances_found={r.name: inst_found.get(r.name, 0) for r in self.refs},
            references=[{"name": r.name, "source": r.source, "content_sha256": r.content_sha256,
                         "ids_sha256": r.ids_sha256, "instances": r.n_instances} for r in self.refs],
            index={**self.index.stats, "common_in_corpus": int(common.sum()), "copied_instances": int(copied.sum()),
                   "patch_hunks": len(self.pindex.hunks), "benchmark_repos": len(self.bench)},
            seconds={k: round(v, 3) for k, v in sorted(self.seconds.items())})
        self.root.write_json(STATE, {"fingerprint": self.fp, "references": summary.references,
                                     "config": self.cfg.model_dump(mode="json"), "counts": summary.counts,
                                     "flagged": summary.flagged, "index": summary.index})
        return summary

    def _closes(self, closes: list[tuple[str, int, str]]) -> list[dict]:
        """reference_closes rows for linked issues that exist in the raw tables (any partition)."""
        if not closes:
            return []
        keys = sorted({c[0] for c in closes})
        want = pa.table({"repo": [_repo_of(k) for k in keys], "number": [int(k.rsplit("-", 1)[1]) for k in keys]},
                        schema=pa.schema([("repo", pa.string()), ("number", pa.int64())]))
        issues = {i["id"]: i for i in self.root.read_latest("issues", records=want).to_pylist()}
        out = Rows(self.refs, self.index)
        for issue_id, inst, pr in sorted(set(closes)):
            it = issues.get(issue_id)
            if it is None:
                continue
            rec = {"record_id": issue_id, "kind": "pull" if it["is_pull_request"] else "issue", "repo": it["repo"]}
            out.add(rec, "linked_issues", "reference_closes", inst, 1.0, True, evidence=f"closed by benchmark PR {pr}")
        return out.rows

    def manifest(self) -> pa.Table:
        rows = []
        for r in self.refs:
            for x in r.table.select(["instance_id", "repo", "number", "created_at"]).to_pylist():
                rows.append({"reference": r.name, "reference_sha256": r.content_sha256, "source": r.source, **x})
        return pa.Table.from_pylist(rows, schema=REFERENCES)


def _join(title: str | None, body: str | None) -> str:
    return (title or "") + "\n\n" + (body or "")


def _repo_of(rid: str) -> str:
    head = rid.rsplit("-", 1)[0]
    owner, _, name = head.partition("__")
    return f"{owner}/{name}"


def _repo_codes(p: _Part) -> np.ndarray:
    # A stable code per repository name (crc of the name), so partitions agree without a shared table.
    import zlib

    by_doc = np.array([zlib.crc32(p.records[f["record_id"]]["repo"].encode()) for f in p.fields], np.int64)
    return by_doc[p.hits["doc"]]


def decontam(data_root: str | os.PathLike[str], config: DecontamConfig, progress: Progress | None = None,
             refs: list[Reference] | None = None) -> DecontamSummary:
    """The whole stage without Prefect."""
    r = DecontamRun(data_root, config, refs, progress)
    return r.finish([r.scan_partition(i, p) for i, p in enumerate(r.plan())])


# -- readers ---------------------------------------------------------------------------------------
def write_report(root: DataRoot, audit: pa.Table, flags: pa.Table, manifest: pa.Table) -> list[dict]:
    """The per-instance report as Markdown at ``REPORT_PATH`` (for the data card); its entries."""
    entries = report.per_instance(audit, manifest)
    root.write_bytes(REPORT_PATH, report.markdown(entries, audit, flags, manifest).encode())
    return entries


def _read(root: DataRoot, rel: str, columns: list[str] | None = None) -> pa.Table | None:
    if not root.exists(rel):
        return None
    # Natively on local disk: Arrow reading a Python file object on its own threads sometimes
    # aborted the interpreter at exit here.
    with root.parquet_file(root.path(rel)) as pf:
        return pf.read(columns=columns, use_threads=False)


def dropped_ids(data_root: str | os.PathLike[str]) -> pa.Table:
    """The apply step's input: record ids the decontam flags drop, with the reason (empty when
    decontam never ran)."""
    t = _read(DataRoot(data_root), FLAGS_PATH, ["record_id", "reason"])
    if t is None:
        return pa.table({"record_id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
    return t


def read_outputs(data_root: str | os.PathLike[str]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(audit, flags, references manifest) of the last run; a one-line error when there is none."""
    root = DataRoot(data_root)
    audit, flags, refs = _read(root, AUDIT_PATH), _read(root, FLAGS_PATH), _read(root, REFS_PATH)
    if audit is None or flags is None or refs is None:
        raise ConfigError(f"--data {root.url}: no decontam output (run swe-curate decontam first)")
    return audit, flags, refs


def record_exists(data_root: str | os.PathLike[str], rid: str) -> bool:
    try:
        repo, number = _repo_of(rid), int(rid.rsplit("-", 1)[1])
    except (ValueError, IndexError):
        return False
    want = pa.table({"repo": [repo], "number": [number]}, schema=pa.schema([("repo", pa.string()),
                                                                          ("number", pa.int64())]))
    root = DataRoot(data_root)
    return any(root.read_latest(t, records=want).num_rows for t in ("issues", "pulls")) and rid == record_id(
        repo, number)
