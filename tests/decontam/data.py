"""Builders shared by the decontam tests: raw rows written with the project's schemas, the bundled
benchmark references, disguises of benchmark text, and the simulator's world as raw tables."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from decontam.references import BUNDLED
from ingest.run import _table
from ingest.schema import TABLES, record_id
from ingest.store import DataRoot

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def verified() -> list[dict]:
    return pq.read_table(BUNDLED["swe-bench-verified"]).to_pylist()


def lite() -> list[dict]:
    return pq.read_table(BUNDLED["swe-bench-lite"]).to_pylist()


def _row(table: str, **values) -> dict:
    row = {f.name: None for f in TABLES[table].schema}
    row.update(source="api", crawled_at=T0)
    row.update(values)
    return row


def issue(repo: str, n: int, title: str, body: str, *, day: int = 0, is_pr: bool = False) -> dict:
    return _row("issues", id=record_id(repo, n), repo=repo, number=n, title=title, body=body, state="open",
                author="alice", author_type="User", labels=[], comments=0, is_pull_request=is_pr,
                created_at=T0 + timedelta(days=day), updated_at=T0 + timedelta(days=day), partial=False)


def pull(repo: str, n: int, title: str, body: str, *, linked: list[str] | None = None, day: int = 0) -> dict:
    return _row("pulls", id=record_id(repo, n), repo=repo, number=n, title=title, body=body, state="closed",
                merged=True, created_at=T0 + timedelta(days=day), updated_at=T0 + timedelta(days=day),
                linked_issues=linked or [], mentioned_issues=[], partial=False)


def comment(repo: str, n: int, cid: int, body: str, kind: str = "issue") -> dict:
    return _row("comments", record_id=record_id(repo, n), repo=repo, number=n, kind=kind, comment_id=cid,
                author="bob", author_type="User", body=body, created_at=T0, updated_at=T0)


def pull_file(repo: str, n: int, path: str, patch: str) -> dict:
    return _row("pull_files", record_id=record_id(repo, n), repo=repo, number=n, path=path, status="modified",
                additions=patch.count("\n+"), deletions=patch.count("\n-"), patch=patch, is_test="test" in path)


def commit(repo: str, n: int, sha: str, message: str) -> dict:
    return _row("pull_commits", record_id=record_id(repo, n), repo=repo, number=n, sha=sha, position=0,
                message=message)


def repo_row(repo: str, *, fork: bool = False, parent: str | None = None, description: str | None = None) -> dict:
    owner, name = repo.split("/")
    return _row("repos", repo=repo, owner=owner, name=name, stars=100, license="MIT", fork=fork, parent=parent,
                description=description, default_branch="main")


def write(root: DataRoot, tables: dict[str, list[dict]], batch: str = "b1") -> None:
    for table, rows in tables.items():
        if rows:
            root.write_parquet(f"raw/{table}/batch={batch}/part-0.parquet", _table(table, rows))


def disguise(text: str, seed: int, drop: float = 0.1) -> str:
    """Whitespace and Markdown changes and ``drop`` of the words removed."""
    rng = random.Random(seed)
    words = [w for w in re.split(r"\s+", text) if w and rng.random() >= drop]
    out = []
    for i, w in enumerate(words):
        if rng.random() < 0.05:
            w = f"**{w}**"
        elif rng.random() < 0.05:
            w = f"`{w}`"
        out.append(w)
        out.append(rng.choice([" ", " ", "  ", "\n", " \n> "]) if i % 17 else "\n\n")
    return "> Reposting from upstream:\n\n" + "".join(out)


def file_patches(patch: str) -> list[tuple[str, str]]:
    """A full ``diff --git`` patch as GitHub's per-file (path, patch) pairs (hunks only)."""
    out = []
    for chunk in re.split(r"(?m)^diff --git ", patch)[1:]:
        path = chunk.split("\n", 1)[0].split(" b/")[-1]
        at = chunk.find("\n@@")
        if at >= 0:
            out.append((path, chunk[at + 1:]))
    return out


def world_tables(world) -> dict[str, list[dict]]:
    """The simulator world's records as raw rows (what a complete crawl stores), without HTTP."""
    out: dict[str, list[dict]] = {"issues": [], "pulls": [], "comments": [], "pull_files": [], "pull_commits": []}
    for it in world.items():
        repo = it.repo
        if it.pull is None:
            out["issues"].append(issue(repo, it.number, it.title, it.body or ""))
        else:
            pr = it.pull
            out["pulls"].append(pull(repo, it.number, it.title, it.body or "", linked=sorted(pr.closes)))
            for f in pr.files:
                if f.patch:
                    out["pull_files"].append(pull_file(repo, it.number, f.filename, f.patch))
            for c in pr.commits:
                out["pull_commits"].append(commit(repo, it.number, c.sha, c.message))
            for r in pr.reviews:
                if r.body:
                    out["comments"].append(comment(repo, it.number, r.id, r.body, kind="review"))
            for c in pr.review_comments:
                out["comments"].append(comment(repo, it.number, c.id, c.body, kind="review_comment"))
        for c in it.comments:
            out["comments"].append(comment(repo, it.number, c.id, c.body))
    return out
