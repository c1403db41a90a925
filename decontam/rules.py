"""The four decontamination layers as named rules over one partition's records, and the flags.

Reads/writes nothing: inputs are Arrow tables and the reference index, outputs are audit rows
(``decontam.schema.AUDIT``). The one idea: every rule records its evidence (field, instance,
score, the matched span) whether or not it passes its threshold; ``flags`` keeps the flagged
evidence per record, so thresholds re-tune without rescanning.

Rules: ``repository`` (benchmark repositories, forks, mirrors; by policy), ``reference_pr`` (the
record is a benchmark PR: same repository and number, i.e. its record id is the instance id),
``reference_closes`` (an issue a benchmark PR record closes), ``reference_mention`` (text names an
instance: its id, ``owner/name#N`` or a GitHub URL of the PR), ``text_ngram`` and ``text_substring``
(``decontam.index``), ``patch`` (``decontam.patches``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from decontam.index import ReferenceIndex
from decontam.patches import PatchIndex, parse_hunks
from decontam.references import TEXT_FIELDS, Reference
from decontam.schema import AUDIT, FLAGS, FLAGS_VERSION

PRIORITY = {"repository": 0, "reference_pr": 1, "reference_closes": 1, "reference_mention": 1, "patch": 2,
            "text_ngram": 3, "text_substring": 3}
LAYER = {0: "repository", 1: "reference", 2: "patch", 3: "text"}
EVIDENCE_CHARS = 500
MENTION_RE = re.compile(
    r"(?P<id>\b[A-Za-z0-9_.-]+__[A-Za-z0-9_.-]+-[0-9]+\b)"
    r"|github\.com/(?P<urepo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/(?:pull|issues)/(?P<unum>[0-9]+)"
    r"|(?<![\w/])(?P<rrepo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<rnum>[0-9]+)\b")
# RE2 prefilter (pyarrow) for rows that may mention an instance.
MENTION_PREFILTER = r"__[A-Za-z0-9_.-]+-[0-9]|github\.com/|[A-Za-z0-9_.-]/[A-Za-z0-9_.-]+#[0-9]"


class Rows:
    """Audit rows in the making, with the references an instance belongs to."""

    def __init__(self, refs: list[Reference], index: ReferenceIndex):
        self.refs, self.index = refs, index
        self.rows: list[dict[str, Any]] = []

    def add(self, rec: dict, field: str, rule: str, inst: int | None, score: float, flagged: bool,
            evidence: str | None = None, start: int | None = None, end: int | None = None,
            ref: int | None = None) -> None:
        base = {"record_id": rec["record_id"], "kind": rec["kind"], "repo": rec["repo"], "field": field,
                "rule": rule, "score": float(score), "flagged": bool(flagged),
                "evidence": None if evidence is None else evidence[:EVIDENCE_CHARS], "start": start, "end": end}
        if inst is None:
            r = self.refs[ref or 0]
            self.rows.append({**base, "instance_id": None, "reference": r.name, "reference_sha256": r.content_sha256})
            return
        for ri in self.index.refs[inst]:
            r = self.refs[ri]
            self.rows.append({**base, "instance_id": self.index.instance_ids[inst], "reference": r.name,
                              "reference_sha256": r.content_sha256})


# -- layer 1 ---------------------------------------------------------------------------------------
def benchmark_repos(index: ReferenceIndex, repos: pa.Table, extra: tuple[str, ...]) -> dict[str, str]:
    """repo -> why it is a benchmark repository: itself, a fork (through ``repos.parent``, at any
    depth), a mirror (not a fork, its description says it mirrors one), or listed in the config."""
    bench = sorted(set(index.repos))
    out = {r: "benchmark repository" for r in bench}
    for r in extra:
        out.setdefault(r, "listed in decontam.extra_repos")
    rows = repos.select(["repo", "fork", "parent", "description"]).to_pylist() if repos.num_rows else []
    parent = {r["repo"]: r["parent"] for r in rows if r["fork"] and r["parent"]}
    for r in sorted(parent):
        seen, p = {r}, parent[r]
        while p and p not in out and p in parent and p not in seen:
            seen.add(p)
            p = parent[p]
        if p in out and r not in out:
            out[r] = f"fork of {p}"
    for row in rows:
        desc = (row["description"] or "").lower()
        if row["repo"] not in out and "mirror" in desc:
            for b in bench:
                if b.lower() in desc or f"github.com/{b.lower()}" in desc:
                    out[row["repo"]] = f"mirror of {b}"
                    break
    return out


def repository_rows(out: Rows, records: list[dict], bench: dict[str, str], policy: str,
                    after: Any) -> None:
    if policy == "keep":
        return
    cutoff = datetime(after.year, after.month, after.day, tzinfo=UTC) if after is not None else None
    for rec in records:
        why = bench.get(rec["repo"])
        if why is None:
            continue
        if policy == "after_date" and (rec["created_at"] is None or rec["created_at"] < cutoff):
            continue
        out.add(rec, "repo", "repository", None, 1.0, True, evidence=f"{rec['repo']}: {why}")


# -- layer 2 ---------------------------------------------------------------------------------------
def reference_rows(out: Rows, records: list[dict], fields: pa.Table, by_id: dict[str, dict]) -> None:
    """Benchmark PRs by id, the issues they close, and texts naming an instance."""
    pos = {iid: i for i, iid in enumerate(out.index.instance_ids)}
    by_pr = {(out.index.repos[i], int(out.index.numbers[i])): i for i in range(out.index.n_instances)}
    for rec in records:
        inst = pos.get(rec["record_id"])
        if inst is not None:
            out.add(rec, "number", "reference_pr", inst, 1.0, True,
                    evidence=f"{rec['repo']}#{rec['number']} is benchmark instance {rec['record_id']}")
            for issue_id in rec.get("linked_issues") or ():
                target = by_id.get(issue_id)
                if target is not None and target["record_id"] != rec["record_id"]:
                    out.add(target, "linked_issues", "reference_closes", inst, 1.0, True,
                            evidence=f"closed by benchmark PR {rec['record_id']}")
    if not fields.num_rows:
        return
    import pyarrow.compute as pc

    maybe = pc.match_substring_regex(pc.fill_null(fields.column("text"), ""), MENTION_PREFILTER)
    idx = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
    if not len(idx):
        return
    sub = fields.take(pa.array(idx)).to_pylist()
    for row in sub:
        rec = by_id[row["record_id"]]
        seen: set[int] = set()
        for m in MENTION_RE.finditer(row["text"]):
            if m["id"]:
                inst = pos.get(m["id"])
            else:
                repo, num = (m["urepo"], m["unum"]) if m["urepo"] else (m["rrepo"], m["rnum"])
                inst = by_pr.get((repo, int(num)))
            if inst is None or inst in seen or out.index.instance_ids[inst] == rec["record_id"]:
                continue
            seen.add(inst)
            out.add(rec, row["field"], "reference_mention", inst, 1.0, True, evidence=m.group(0),
                    start=m.start(), end=m.end())


# -- layer 3 ---------------------------------------------------------------------------------------
def _chars(text_bytes: bytes, b: int) -> int:
    return len(text_bytes[:b].decode("utf-8", "ignore"))


def text_rows(out: Rows, hits: dict[str, np.ndarray], n_words: np.ndarray, fields: list[dict],
              by_id: dict[str, dict], cfg: Any, common: np.ndarray | None = None,
              copied: np.ndarray | None = None, bench: dict[str, str] | None = None) -> None:
    """Score (field, instance) pairs from the expanded hits of one scan (``ReferenceIndex.expand``).

    ``common`` (per key) and ``copied`` (per instance) apply boilerplate rule 3: a widely matched
    key is not evidence for an instance that was not itself widely copied."""
    idx = out.index
    if not len(hits["doc"]):
        return
    keep = np.ones(len(hits["doc"]), bool)
    if common is not None and copied is not None:
        keep = ~(common[hits["key"]] & ~copied[hits["inst"]])
    h = {k: v[keep] for k, v in hits.items()}
    order = np.lexsort((h["nstart"], h["key"], h["kind"], h["inst"], h["doc"]))
    h = {k: v[order] for k, v in h.items()}
    grp = np.r_[True, (h["doc"][1:] != h["doc"][:-1]) | (h["inst"][1:] != h["inst"][:-1])
                | (h["kind"][1:] != h["kind"][:-1])] if len(h["doc"]) else np.zeros(0, bool)
    starts = np.flatnonzero(grp)
    ends = np.r_[starts[1:], len(h["doc"])]
    enc: dict[int, bytes] = {}
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        d, inst, kind = int(h["doc"][a]), int(h["inst"][a]), int(h["kind"][a])
        f = fields[d]
        text = f["text"] or ""
        tb = enc.setdefault(d, text.encode("utf-8", "surrogatepass"))
        rec = by_id[f["record_id"]]
        home = _home(rec["repo"], bench or {})
        same = home == idx.repos[inst]
        if kind == 0:
            matched = len(np.unique(h["key"][a:b]))
            rec_ngrams = max(int(n_words[d]) - cfg.ngram + 1, 0)
            shorter = max(min(rec_ngrams, int(idx.inst_keys[inst, 0])), 1)
            flagged = (matched >= cfg.same_repo_min_ngrams if same
                       else matched >= cfg.min_ngrams or matched >= cfg.min_fraction * shorter)
            s, e = int(h["start"][a:b].min()), int(h["end"][a:b].max())
            rule, score = "text_ngram", float(matched)
        else:
            # The longest run of overlapping windows: a common normalized substring.
            ns = np.unique(h["nstart"][a:b])
            best, run_start, prev = 0, 0, None
            best_span = (0, 0)
            for k, x in enumerate(ns.tolist()):
                if prev is None or x > prev + cfg.window:
                    run_start = k
                prev = x
                length = x + cfg.window - ns[run_start]
                if length > best:
                    best, best_span = int(length), (int(ns[run_start]), x)
            in_run = (h["nstart"][a:b] >= best_span[0]) & (h["nstart"][a:b] <= best_span[1])
            s, e = int(h["start"][a:b][in_run].min()), int(h["end"][a:b][in_run].max())
            rule, score = "text_substring", float(best)
            flagged = best >= (cfg.same_repo_min_substring if same else cfg.min_substring)
        cs, ce = _chars(tb, s), _chars(tb, e)
        out.add(rec, f["field"], rule, inst, score, flagged, evidence=text[cs:ce], start=cs, end=ce)


def _home(repo: str, bench: dict[str, str]) -> str:
    """The benchmark repository a fork or mirror belongs to (the repository itself otherwise)."""
    why = bench.get(repo, "")
    for prefix in ("fork of ", "mirror of "):
        if why.startswith(prefix):
            return why[len(prefix):]
    return repo


# -- layer 4 ---------------------------------------------------------------------------------------
def patch_index(index: ReferenceIndex, refs: list[Reference], cfg: Any) -> PatchIndex:
    pos = {iid: i for i, iid in enumerate(index.instance_ids)}
    hunks: list[tuple[int, str, tuple[str, ...]]] = []
    done: set[str] = set()
    for ref in refs:
        for row in ref.table.select(["instance_id", "patch", "test_patch"]).to_pylist():
            if row["instance_id"] in done:
                continue
            done.add(row["instance_id"])
            for fld in ("patch", "test_patch"):
                hunks += [(pos[row["instance_id"]], fld, h.lines) for h in parse_hunks(row[fld])]
    return PatchIndex(hunks, index.repos, cfg.patch_min_context, cfg.patch_min_changed_alone,
                      cfg.patch_max_instances)


def patch_rows(out: Rows, files: pa.Table, pindex: PatchIndex, by_id: dict[str, dict]) -> None:
    for f in files.select(["record_id", "path", "patch"]).to_pylist():
        rec = by_id.get(f["record_id"])
        if rec is None or not f["patch"]:
            continue
        best: dict[int, tuple[int, Any]] = {}
        for hunk in parse_hunks(f["patch"]):
            for inst, _fld, m in pindex.match(hunk.lines):
                if m > best.get(inst, (0, None))[0]:
                    best[inst] = (m, hunk)
        for inst, (m, hunk) in sorted(best.items()):
            out.add(rec, f"file:{f['path']}", "patch", inst, float(m), True,
                    evidence=f["patch"][hunk.start:hunk.end], start=hunk.start, end=hunk.end)


# -- flags -----------------------------------------------------------------------------------------
def audit_table(rows: list[dict]) -> pa.Table:
    t = pa.Table.from_pylist(rows, schema=AUDIT) if rows else AUDIT.empty_table()
    keys = ["record_id", "rule", "field", "instance_id", "reference", "start"]
    return t.sort_by([(k, "ascending") for k in keys]) if t.num_rows else t


def flags_from_audit(audit: pa.Table, fingerprint: str = "") -> pa.Table:
    """One row per record with flagged evidence, sorted by record id."""
    per: dict[str, dict] = {}
    rules: dict[str, set[str]] = defaultdict(set)
    insts: dict[str, set[str]] = defaultdict(set)
    for r in audit.filter(audit.column("flagged")).to_pylist() if audit.num_rows else []:
        cur = per.setdefault(r["record_id"], {"record_id": r["record_id"], "kind": r["kind"], "repo": r["repo"],
                                              "max_score": r["score"], "prio": PRIORITY[r["rule"]]})
        cur["max_score"] = max(cur["max_score"], r["score"])
        cur["prio"] = min(cur["prio"], PRIORITY[r["rule"]])
        rules[r["record_id"]].add(r["rule"])
        if r["instance_id"]:
            insts[r["record_id"]].add(r["instance_id"])
    rows = [{"record_id": k, "kind": v["kind"], "repo": v["repo"], "rules": sorted(rules[k]),
             "instance_ids": sorted(insts[k]), "max_score": v["max_score"], "reason": LAYER[v["prio"]]}
            for k, v in sorted(per.items())]
    t = pa.Table.from_pylist(rows, schema=FLAGS) if rows else FLAGS.empty_table()
    return t.replace_schema_metadata({b"swe_curate.table": FLAGS_VERSION.encode(),
                                      b"swe_curate.fingerprint": fingerprint.encode()})


__all__ = ["TEXT_FIELDS", "Rows", "audit_table", "benchmark_repos", "flags_from_audit", "patch_index",
           "patch_rows", "reference_rows", "repository_rows", "text_rows"]
