"""The format stage's one I/O entry: BugFixer, TestWriter and commit-pack sequences with exact
Qwen2.5 token counts, and the check that re-applies every emitted edit from the stored tables.

Reads: the raw tables ``pulls``, ``issues``, ``comments``, ``pull_files``, ``pull_commits``,
``trees``, ``blobs``, ``repos`` (latest rows, one partition of repositories at a time) and the drop
lists of dedup and decontam. Writes ``sequences/<kind>/part-00000.parquet`` (sorted by sequence id),
``format/rejects/rejects.parquet`` and, last, ``format/state.json`` (the summary).

The one idea: flag-then-build. A candidate sequence is named and its sources known before any text
is made; removed records (dedup, decontam) remove it first, then each filter and validation step
either passes it on or records one reason. Nothing malformed, truncated or unredacted is emitted.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from decontam.apply import propagate
from format import templates as T
from format.config import FormatConfig
from format.edits import EDIT_RULES, Edit, EditError, apply, make_edits, validate
from format.redact import REDACT_RULES, redact, residue
from format.schema import REJECTS, SEQUENCES
from format.split import SPLIT_RULE, extension, is_test, split
from format.tokens import QwenCounter
from ingest.errors import ConfigError
from ingest.schema import record_id, record_number
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.format")

REJECTS_PATH = "format/rejects/rejects.parquet"
STATE = "format/state.json"
Progress = Callable[[str, dict[str, Any]], None]


def sequences_path(kind: str) -> str:
    return f"sequences/{kind}/part-00000.parquet"


def _seq_id(kind: str, rid: str, sample: str) -> str:
    return f"{kind}:{rid}:{sample}"


@dataclass
class Part:
    """What one partition built: emitted rows, rejects, and redactions of the emitted rows."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    redactions: Counter[str] = field(default_factory=Counter)
    prs: int = 0


@dataclass
class FormatSummary:
    prs: int
    sequences: dict[str, int]  # kind -> sequences
    by_sample: dict[str, int]  # kind:sample_type -> sequences
    tokens: dict[str, int]  # kind -> tokens
    prompt_tokens: dict[str, int]
    drops: dict[str, int]  # kind:reason -> sequences not emitted
    redactions: dict[str, int]  # placeholder type -> replacements in emitted sequences
    tokenizer: str
    rules: str
    seconds: float
    data_root: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Sample:
    __slots__ = ("seq_id", "kind", "sample", "rid", "repo", "sources", "prompt", "response", "red", "handles")

    def __init__(self, seq_id: str, kind: str, sample: str, rid: str, repo: str, sources: list[str],
                 prompt: str, response: str, red: Counter[str], handles: bool = False):
        self.seq_id, self.kind, self.sample, self.rid, self.repo = seq_id, kind, sample, rid, repo
        self.sources, self.prompt, self.response, self.red, self.handles = sources, prompt, response, red, handles


def _records(keys: Iterable[tuple[str, int]]) -> pa.Table:
    """A ``repo, number`` table (for ``read_latest(records=...)``), sorted so reads are deterministic."""
    keys = sorted(set(keys))
    return pa.table({"repo": pa.array([k[0] for k in keys], pa.string()),
                     "number": pa.array([k[1] for k in keys], pa.int64())})


def _decode(content: bytes | None) -> str | None:
    if content is None:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


class FormatRun:
    def __init__(self, data_root: str | os.PathLike[str], config: FormatConfig, progress: Progress | None = None):
        self.root = DataRoot(data_root)
        self.cfg = config
        self.progress = progress or (lambda e, i: None)
        self.counter = QwenCounter(config.tokenizer)  # a bad tokenizer is a one-line error before any work
        self.rules = (f"{T.TEMPLATES_VERSION};split={SPLIT_RULE};redact={REDACT_RULES};edits={EDIT_RULES};"
                      f"context={config.edit_context};config={config.fingerprint()}")
        from decontam.run import dropped_ids as decontam_dropped
        from dedup.run import dropped_ids as dedup_dropped

        self.dropped = [("decontam", decontam_dropped(self.root.url)), ("dedup", dedup_dropped(self.root.url))]
        self.t0 = time.perf_counter()
        self.parts: list[list[str]] = []

    def plan(self) -> list[list[str]]:
        if not self.root.table_files("pulls"):
            raise ConfigError(f"--data {self.root.url}: no raw pulls to format (run swe-curate crawl first)")
        with self.root.connect() as con:
            pulls = self.root.read_latest("pulls", con=con, columns=["repo", "merged"])
        repos = sorted(set(pulls.filter(pc.fill_null(pulls.column("merged"), False)).column("repo").to_pylist()))
        n = self.cfg.partition_repos
        self.parts = [repos[i:i + n] for i in range(0, len(repos), n)]
        return self.parts

    # -- one partition --------------------------------------------------------------------------
    def build_partition(self, index: int, repos: list[str]) -> Part:
        part = Part()
        with self.root.connect() as con:
            licenses = {r["repo"]: r["license"] for r in self.root.read_latest("repos", con=con, columns=[
                "repo", "license"]).to_pylist()}
            samples = self._partition_samples(con, repos, part)
        # Token counts of everything that passed, then the length filter.
        ids_p = self.counter.count_batch([s.prompt for s in samples])
        ids_r = self.counter.count_batch([s.response for s in samples])
        for s, n_p, n_r in zip(samples, ids_p, ids_r, strict=True):
            n = n_p + n_r + 1  # the <|endoftext|> the renderer appends
            if n > self.cfg.max_tokens:
                self._reject(part, s.seq_id, s.kind, s.sample, s.rid, s.repo, "too_long", f"{n} tokens")
                continue
            part.redactions.update(s.red)
            part.rows.append({"sequence_id": s.seq_id, "kind": s.kind, "sample_type": s.sample, "record_id": s.rid,
                              "source_ids": s.sources, "repo": s.repo, "license": licenses.get(s.repo),
                              "prompt": s.prompt, "response": s.response, "text": s.prompt + s.response,
                              "n_tokens": n, "n_prompt_tokens": n_p, "template": T.TEMPLATES_VERSION,
                              "rules": self.rules})
        self.progress("partition", {"index": index, "repos": len(repos), "sequences": len(part.rows)})
        return part

    @staticmethod
    def _reject(part: Part, seq_id: str, kind: str, sample: str, rid: str, repo: str, reason: str,
                detail: str | None = None) -> None:
        part.rejects.append({"sequence_id": seq_id, "kind": kind, "sample_type": sample, "record_id": rid,
                             "repo": repo, "reason": reason, "detail": detail})

    def _partition_samples(self, con: Any, repos: list[str], part: Part) -> list[_Sample]:
        """The samples of a partition's repositories. Each table is read once for the whole
        partition (one query per table, then split by repository in memory): a query costs about
        as much for one repository as for sixteen. Text (titles, issues, comments) is read only for
        the merged PRs that have files or commits, the ones that can become samples: PRs known only
        from GH Archive are most merged PRs and are rejected without it."""
        root, cfg = self.root, self.cfg

        def rows(table: str, columns: list[str], records: pa.Table | None = None) -> dict[str, list[dict]]:
            out: dict[str, list[dict]] = defaultdict(list)
            if records is not None and not records.num_rows:
                return out
            for r in root.read_latest(table, repos=None if records is not None else repos, records=records,
                                      con=con, columns=["repo", *columns]).to_pylist():
                out[r["repo"]].append(r)
            return out

        files: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for repo, fs in rows("pull_files", ["number", "path", "status", "previous_path", "patch", "is_binary",
                                            "base_blob_sha", "head_blob_sha", "base_sha", "skip_reason"]).items():
            for f in fs:
                files[repo, f["number"]].append(f)
        commits: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for repo, cs in rows("pull_commits", ["number", "position", "sha", "message"]).items():
            for c in cs:
                commits[repo, c["number"]].append(c)
        pulls = rows("pulls", ["id", "number", "merged", "linked_issues"])
        live = [(repo, p) for repo in repos for p in pulls.get(repo, [])
                if p["merged"] and ((repo, p["number"]) in files or (repo, p["number"]) in commits)]
        titles = {(t["repo"], t["number"]): t["title"] for ts in rows(
            "pulls", ["number", "title"], _records((repo, p["number"]) for repo, p in live)).values() for t in ts}
        # Linked issues by key (ids are owner__repo-N): only issues of the PR's own repository.
        keys = {(repo, n) for repo, p in live for i in (p["linked_issues"] or [])
                if (n := record_number(i)) is not None and record_id(repo, n) == i}
        issues = {repo: {i["id"]: i for i in rs}
                  for repo, rs in rows("issues", ["id", "title", "body"], _records(keys)).items()}
        changes = {(c["repo"], c["sha"]): c for cs in rows("commit_diffs", ["sha", "parents", "files"]).values()
                   for c in cs}
        comments: dict[str, list[dict]] = defaultdict(list)
        if cfg.discussion:
            for cs in rows("comments", ["record_id", "kind", "comment_id", "author_type", "body", "created_at"],
                           _records(keys)).values():
                for c in cs:
                    if c["kind"] == "issue" and c["author_type"] != "Bot" and c["body"]:
                        comments[c["record_id"]].append(c)
        trees = {(t["repo"], t["commit"]): t["paths"] for ts in rows("trees", ["commit", "paths"]).values()
                 for t in ts}
        want = sorted({s for fs in files.values() for f in fs for s in (f["base_blob_sha"], f["head_blob_sha"]) if s})
        blobs = read_blobs(root, want, con)

        # Candidates and their sources first: removed records remove them before any text is made.
        plans = []
        for repo in repos:
            for p in pulls.get(repo, []):
                if not p["merged"]:
                    continue
                # A PR without files or commits has no title read and needs none: every kind rejects it first.
                p = {**p, "title": titles.get((repo, p["number"]))}
                rid = p["id"]
                linked = [i for i in (p["linked_issues"] or []) if i in issues.get(repo, {})]
                sources = [rid, *linked]
                ids = [_seq_id(k, rid, s) for k in cfg.kinds for s in T.SAMPLE_TYPES[k]]
                plans.append((repo, p, linked, sources, ids))
        # A commit pack uses the PR's own text only; the other kinds use the linked issues' too.
        gone = self._removed([(i, src if not i.startswith("commitpack_v1:") else src[:1])
                              for _, _, _, src, ids in plans for i in ids])
        out: list[_Sample] = []
        for repo, p, linked, sources, ids in plans:
            part.prs += 1
            rid = p["id"]
            alive = []
            for sid in ids:
                if sid in gone:
                    self._reject(part, sid, sid.split(":")[0], sid.rsplit(":", 1)[1], rid, repo, *gone[sid])
                else:
                    alive.append(sid)
            if not alive:
                continue
            red_problem: Counter[str] = Counter()
            pr_files = files.get((repo, p["number"]), [])
            problem = ""  # only the edit kinds use it, and only for a PR with files
            if pr_files and linked:
                own = issues[repo]
                problem = "\n\n".join(T.problem_statement(own[i]["title"], own[i]["body"]) for i in linked)
            elif pr_files:
                problem = (p["title"] or "").strip()  # no linked issue: the PR title stands in
            problem = redact(problem, red_problem) if problem else problem
            for kind in cfg.kinds:
                kind_ids = [s for s in alive if s.startswith(kind + ":")]
                if not kind_ids:
                    continue
                if kind == "commitpack_v1":
                    out += self._commit_pack(part, repo, p, commits.get((repo, p["number"]), []), changes, pr_files,
                                             kind_ids[0])
                else:
                    disc = [c["body"] for c in sorted(comments.get(linked[0], []) if linked else [],
                                                      key=lambda c: (c["created_at"] is None, c["created_at"],
                                                                     c["comment_id"]))]
                    out += self._edit_samples(part, repo, kind, p, sources, kind_ids, problem, red_problem,
                                              pr_files, trees, blobs, disc[:cfg.max_discussion_comments])
        return out

    def _removed(self, cands: list[tuple[str, list[str]]]) -> dict[str, tuple[str, str]]:
        """sequence id -> (reason, record id) for candidates built from a removed record."""
        if not cands:
            return {}
        table = pa.table({"sequence_id": [c[0] for c in cands], "source_ids": [c[1] for c in cands]},
                         schema=pa.schema([("sequence_id", pa.string()), ("source_ids", pa.list_(pa.string()))]))
        gone: dict[str, tuple[str, str]] = {}
        for stage, dropped in self.dropped:
            if not dropped.num_rows:
                continue
            hits = propagate(table, dropped)
            # The reasons of the hit records only: the drop lists are as long as the corpus's drops.
            sub = dropped.filter(pc.is_in(dropped.column("record_id"), value_set=hits.column("record_id")))
            why = dict(zip(sub.column("record_id").to_pylist(), sub.column("reason").to_pylist(), strict=True))
            for r in hits.to_pylist():
                gone.setdefault(r["sequence_id"], (f"{stage}:{why[r['record_id']]}", r["record_id"]))
        return gone

    def _reject_all(self, part: Part, ids: list[str], rid: str, repo: str, reason: str, detail: str | None = None
                    ) -> list[_Sample]:
        for sid in ids:
            self._reject(part, sid, sid.split(":")[0], sid.rsplit(":", 1)[1], rid, repo, reason, detail)
        return []

    def _commit_pack(self, part: Part, repo: str, p: dict, commits: list[dict], changes: dict[tuple[str, str], dict],
                     files: list[dict], sid: str) -> list[_Sample]:
        """Each commit's message with its own change (``commit_diffs``), in commit order; merge
        commits are left out (their diff is not the author's). A one-commit PR without a stored
        commit diff uses the PR's diff, which is that commit's change."""
        rid = p["id"]
        ordered = sorted(commits, key=lambda c: (c["position"] is None, c["position"]))
        if not ordered:
            return self._reject_all(part, [sid], rid, repo, "no_commits")
        missing = [c["sha"] for c in ordered if (repo, c["sha"]) not in changes]
        if missing and len(ordered) > 1:
            return self._reject_all(part, [sid], rid, repo, "no_commit_diffs", f"{len(missing)} of {len(ordered)}")
        exts = self.cfg.extensions

        def kept(fs: list[dict]) -> list[tuple[str, str | None, str]]:
            return sorted((f["path"], f["previous_path"] if f["status"] == "renamed" else None, f["patch"])
                          for f in fs if f["patch"] and f["path"].lower().endswith(exts))

        pairs: list[tuple[str, list[tuple[str, str | None, str]]]] = []
        for c in ordered:
            row = changes.get((repo, c["sha"]))
            if row is not None and row["files"] is None:
                continue  # a merge commit
            patches = kept(files if row is None else row["files"])
            if patches:
                pairs.append((c["message"] or "", patches))
        if not pairs:
            return self._reject_all(part, [sid], rid, repo, "no_patch")
        red: Counter[str] = Counter()
        prompt = T.commit_pack_prompt(redact(p["title"] or "", red, handles=True))
        response = T.commit_pack_response([(redact(m, red, handles=True), [(a, b, redact(h, red)) for a, b, h in ps])
                                           for m, ps in pairs])
        if residue(prompt, handles=True) or residue(response):
            return self._reject_all(part, [sid], rid, repo, "redaction_residue")
        return [_Sample(sid, "commitpack_v1", "commit_pack", rid, repo, [rid], prompt, response, red, True)]

    def _edit_samples(self, part: Part, repo: str, kind: str, p: dict, sources: list[str], ids: list[str],
                      problem: str, red_problem: Counter[str], files: list[dict], trees: dict[tuple[str, str], list[str]],
                      blobs: dict[str, bytes | None], comments: list[str]) -> list[_Sample]:
        cfg, rid = self.cfg, p["id"]

        def reject(reason: str, detail: str | None = None) -> list[_Sample]:
            return self._reject_all(part, ids, rid, repo, reason, detail)

        base_sha = next((f["base_sha"] for f in files if f["base_sha"]), None)
        if not files or base_sha is None:
            return reject("no_base_snapshot")
        exts = sorted({extension(x) for f in files for x in (f["path"], f["previous_path"]) if x})
        other = [e or "(none)" for e in exts if e not in cfg.extensions]
        if other:
            return reject("non_python_change", ",".join(other))
        code, test = split([f["path"] for f in files])
        paths = code if kind == "bugfixer_v1" else test
        if not paths:
            return reject("no_code_change" if kind == "bugfixer_v1" else "no_test_change")
        by_path = {f["path"]: f for f in files}
        # Renames and copies are an addition plus a deletion; SEARCH/REPLACE edits express neither.
        moved = [x for x in paths if by_path[x]["status"] != "modified"]
        if moved:
            return reject("file_added_or_removed", ",".join(f"{by_path[x]['status']}:{x}" for x in moved))
        if len(paths) > cfg.max_files:
            return reject("too_many_files", str(len(paths)))
        tree = trees.get((repo, base_sha))
        if tree is None:
            return reject("no_base_tree", base_sha)
        red_files: Counter[str] = Counter()
        images: list[tuple[str, str]] = []
        edits: list[Edit] = []
        for path in paths:
            f = by_path[path]
            raw_base, raw_post = blobs.get(f["base_blob_sha"] or ""), blobs.get(f["head_blob_sha"] or "")
            if raw_base is None or raw_post is None:
                return reject("missing_blob", path)
            base, post = _decode(raw_base), _decode(raw_post)
            if base is None or post is None:
                return reject("not_utf8", path)
            base, post = redact(base, red_files), redact(post, Counter())
            try:
                file_edits = make_edits(path, base, post, cfg.edit_context)
                validate(base, post, file_edits)
            except EditError as exc:
                return reject(f"edit:{exc.reason}", path)
            images.append((path, base))
            edits += file_edits
        if len(edits) > cfg.max_blocks:
            return reject("too_many_blocks", str(len(edits)))
        if T.parse_edits(T.render_edits(edits)) != edits:
            return reject("edit:unparseable")
        red_disc: Counter[str] = Counter()
        disc = [redact(c, red_disc) for c in comments] if cfg.discussion else []
        shown = [x for x in tree if x.endswith(".py") and (kind == "testwriter_v1" or not is_test(x))]
        red_tree: Counter[str] = Counter()
        structure = redact(T.structure(shown), red_tree)
        out = []
        for sid in ids:
            sample = sid.rsplit(":", 1)[1]
            if sample == "localization":
                prompt = T.localization_prompt(kind, problem, structure)
                response = T.localization_response(paths)
                red = red_problem + red_tree
            else:
                prompt = T.code_edit_prompt(kind, problem, images)
                response = T.code_edit_response(edits, disc)
                red = red_problem + red_files + red_disc
            if residue(prompt) or residue(response):
                self._reject(part, sid, kind, sample, rid, repo, "redaction_residue")
                continue
            out.append(_Sample(sid, kind, sample, rid, repo, sources, prompt, response, red))
        return out

    # -- commit ---------------------------------------------------------------------------------
    def finish(self, parts: list[Part]) -> FormatSummary:
        rows = [r for p in parts for r in p.rows]
        rejects = sorted((r for p in parts for r in p.rejects), key=lambda r: (r["sequence_id"], r["reason"]))
        by_kind: dict[str, list[dict]] = {k: [] for k in T.KINDS}
        for r in rows:
            by_kind[r["kind"]].append(r)
        for kind in self.cfg.kinds:
            table = pa.Table.from_pylist(sorted(by_kind[kind], key=lambda r: r["sequence_id"]), schema=SEQUENCES)
            self.root.write_parquet(sequences_path(kind), table)
        self.root.write_parquet(REJECTS_PATH, pa.Table.from_pylist(rejects, schema=REJECTS))
        redactions: Counter[str] = Counter()
        for p in parts:
            redactions.update(p.redactions)
        drops = Counter(f"{r['kind']}:{r['reason']}" for r in rejects)
        summary = FormatSummary(
            prs=sum(p.prs for p in parts),
            sequences={k: len(by_kind[k]) for k in self.cfg.kinds},
            by_sample=dict(sorted(Counter(f"{r['kind']}:{r['sample_type']}" for r in rows).items())),
            tokens={k: sum(r["n_tokens"] for r in by_kind[k]) for k in self.cfg.kinds},
            prompt_tokens={k: sum(r["n_prompt_tokens"] for r in by_kind[k]) for k in self.cfg.kinds},
            drops=dict(sorted(drops.items())), redactions=dict(sorted(redactions.items())),
            tokenizer=self.counter.name, rules=self.rules, seconds=round(time.perf_counter() - self.t0, 2),
            data_root=self.root.url)
        self.root.write_json(STATE, summary.to_json())
        return summary


def read_blobs(root: DataRoot, shas: list[str], con: Any = None) -> dict[str, bytes | None]:
    """Content of these blobs (content-addressed: any stored row of a SHA will do)."""
    files = root.table_files("blobs")
    if not shas or not files:
        return {}
    from ingest.store import _scan

    own = con is None
    con = con or root.connect()
    try:
        con.register("_want", pa.table({"blob_sha": pa.array(shas, pa.string())}))
        t = con.sql(f"SELECT blob_sha, any_value(content) AS content FROM {_scan(root, files)} "
                    "SEMI JOIN _want USING (blob_sha) GROUP BY blob_sha").to_arrow_table()
        con.unregister("_want")
    finally:
        if own:
            con.close()
    return dict(zip(t.column("blob_sha").to_pylist(), t.column("content").to_pylist(), strict=True))


def format_stage(data_root: str | os.PathLike[str], config: FormatConfig, progress: Progress | None = None
                 ) -> FormatSummary:
    """The whole stage without Prefect."""
    r = FormatRun(data_root, config, progress)
    return r.finish([r.build_partition(i, repos) for i, repos in enumerate(r.plan())])


# -- the check ---------------------------------------------------------------------------------
@dataclass
class CheckSummary:
    sequences: int  # code-edit sequences checked
    files: int
    edits: int
    reapplied: int  # sequences whose edits re-applied to their base files and gave the post-images
    failures: list[tuple[str, str]]  # (sequence id, reason)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def read_sequences(data_root: str | os.PathLike[str], kind: str, columns: list[str] | None = None) -> pa.Table | None:
    root = DataRoot(data_root)
    if not root.exists(sequences_path(kind)):
        return None
    with root.parquet_file(root.path(sequences_path(kind))) as pf:
        return pf.read(columns=columns, use_threads=False)


def check_edits(data_root: str | os.PathLike[str]) -> CheckSummary:
    """Re-apply every emitted edit from the stored tables alone: for each code-edit sequence, the
    edits parsed back from its response must cover exactly the kind's changed files of the PR
    (``pull_files``), the prompt must show each base file as stored (``blobs``, redacted with the
    recorded rules), each SEARCH must occur once in it, and applying them must give the post-image."""
    root = DataRoot(data_root)
    tables = [t for k in ("bugfixer_v1", "testwriter_v1")
              if (t := read_sequences(data_root, k, ["sequence_id", "kind", "sample_type", "record_id", "repo",
                                                     "prompt", "response", "rules"])) is not None]
    if not tables:
        raise ConfigError(f"--data {root.url}: no sequences to check (run swe-curate format first)")
    seqs = [r for t in tables for r in t.to_pylist() if r["sample_type"] == "code_edit"]
    out = CheckSummary(len(seqs), 0, 0, 0, [])
    if not seqs:
        return out
    records = _records((r["repo"], record_number(r["record_id"])) for r in seqs)
    with root.connect() as con:
        files = root.read_latest("pull_files", records=records, con=con, columns=[
            "record_id", "path", "status", "base_blob_sha", "head_blob_sha"]).to_pylist()
        blobs = read_blobs(root, sorted({s for f in files for s in (f["base_blob_sha"], f["head_blob_sha"]) if s}), con)
    by_rec: dict[str, dict[str, dict]] = defaultdict(dict)
    for f in files:
        by_rec[f["record_id"]][f["path"]] = f
    for r in seqs:
        sid = r["sequence_id"]
        if f"redact={REDACT_RULES}" not in r["rules"]:
            out.failures.append((sid, "rules_version"))  # written with other redaction rules than this checker's
            continue
        try:
            edits = T.parse_edits(r["response"])
        except T.ParseError as exc:
            out.failures.append((sid, f"unparseable: {exc}"))
            continue
        pfiles = by_rec.get(r["record_id"], {})
        want_paths = sorted(p for p in pfiles if p.endswith(".py") and is_test(p) == (r["kind"] == "testwriter_v1"))
        paths = sorted({e.path for e in edits})
        if paths != want_paths:
            out.failures.append((sid, f"files: edits touch {paths}, the PR changed {want_paths}"))
            continue
        reason = None
        for path in paths:
            f = pfiles[path]
            base, post = _decode(blobs.get(f["base_blob_sha"] or "")), _decode(blobs.get(f["head_blob_sha"] or ""))
            if base is None or post is None:
                reason = f"missing_blob: {path}"
                break
            base, post = redact(base), redact(post)
            if T.file_section(path, base) not in r["prompt"]:
                reason = f"prompt_file: {path}"
                break
            try:
                if apply(base, [e for e in edits if e.path == path]) != post:
                    reason = f"post_image_mismatch: {path}"
                    break
            except EditError as exc:
                reason = f"{exc.reason}: {path}"
                break
        if reason:
            out.failures.append((sid, reason))
        else:
            out.reapplied += 1
            out.files += len(paths)
            out.edits += len(edits)
    return out
