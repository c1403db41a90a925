"""Tests of the built-in GitHub simulator: world content and truth, and the HTTP API through real clients.

Everything runs offline against servers on 127.0.0.1 started by fixtures (and always stopped). The clients
are unmodified PyGithub and ``requests``, so a passing test means a real GitHub client accepts the answers.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean

import github
import pytest
import requests

from ingest.simulator import FaultConfig, MutationReport, SimulatorServer, World, WorldSpec
from ingest.simulator.world import MAX_BODY_CHARS, TABLES, git_blob_sha, record_id

TOKEN = "ghp_simulatorTestToken0001"
TOKEN2 = "ghp_simulatorTestToken0002"
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def small_world() -> World:
    return World.generate(WorldSpec.small())


@pytest.fixture(scope="module")
def demo_world() -> World:
    return World.generate(WorldSpec.demo())


@pytest.fixture(scope="module")
def server(small_world: World):
    """A read-only server shared by the tests that do not mutate, fault or exhaust."""
    with SimulatorServer(small_world, tokens=[TOKEN, TOKEN2]) as srv:
        yield srv


@pytest.fixture
def fresh_server():
    """A server over its own small world, for tests that change state."""
    srv = SimulatorServer(World.generate(WorldSpec.small()), tokens=[TOKEN, TOKEN2]).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_server():
    """Start servers on demand; every one is stopped at teardown."""
    started: list[SimulatorServer] = []

    def make(world: World | None = None, **kwargs) -> SimulatorServer:
        srv = SimulatorServer(world or World.generate(WorldSpec.small()), **kwargs).start()
        started.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in started:
            srv.stop()


def gh_client(srv: SimulatorServer, token: str = TOKEN, per_page: int = 100) -> github.Github:
    return github.Github(
        auth=github.Auth.Token(token),
        base_url=srv.url,
        per_page=per_page,
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def fetch_all(session: requests.Session, url: str, params: dict | None = None) -> list:
    """Follow Link rel=next to the end, as GitHub clients do."""
    out: list = []
    params = {**(params or {}), "per_page": 100}
    while url:
        resp = session.get(url, params=params)
        resp.raise_for_status()
        out += resp.json()
        url = resp.links.get("next", {}).get("url")
        params = None
    return out


def snapshot(srv: SimulatorServer, repos: list[str]) -> dict[str, dict[tuple, dict]]:
    """Every row of every table, as JSON from the API, keyed like ``World.keys()``.

    Embedded repository objects (PR head/base repo, a fork's parent) are left out: they mirror other rows.
    """
    rows: dict[str, dict[tuple, dict]] = {t: {} for t in TABLES}
    base = srv.url
    with requests.Session() as s:
        s.headers.update(auth())
        for name in repos:
            repo = s.get(f"{base}/repos/{name}").json()
            repo.pop("parent", None)
            repo.pop("source", None)
            rows["repos"][(name,)] = repo
            for it in fetch_all(s, f"{base}/repos/{name}/issues", {"state": "all"}):
                n = it["number"]
                rows["issues"][(name, n)] = it
                for c in fetch_all(s, f"{base}/repos/{name}/issues/{n}/comments"):
                    rows["comments"][(name, n, "issue", c["id"])] = c
                if not (it.get("pull_request") or {}).get("url"):
                    continue
                pr = s.get(f"{base}/repos/{name}/pulls/{n}").json()
                pr["head"].pop("repo")
                pr["base"].pop("repo")
                rows["pulls"][(name, n)] = pr
                for f in fetch_all(s, f"{base}/repos/{name}/pulls/{n}/files"):
                    rows["pull_files"][(name, n, f["filename"])] = f
                for c in fetch_all(s, f"{base}/repos/{name}/pulls/{n}/commits"):
                    rows["pull_commits"][(name, n, c["sha"])] = c
                for r in fetch_all(s, f"{base}/repos/{name}/pulls/{n}/reviews"):
                    rows["comments"][(name, n, "review", r["id"])] = r
                for c in fetch_all(s, f"{base}/repos/{name}/pulls/{n}/comments"):
                    rows["comments"][(name, n, "review_comment", c["id"])] = c
    return rows


def apply_patch(old: str, patch: str) -> str:
    """Apply GitHub's hunk-only ``patch`` to ``old`` (the test's own implementation, not the simulator's)."""
    src = old.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    lines = patch.split("\n")
    k = 0
    while k < len(lines):
        m = re.match(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", lines[k])
        assert m, lines[k]
        start, length = int(m.group(1)), int(m.group(2) or 1)
        upto = start - 1 if length > 0 else start
        out.extend(src[i:upto])
        i = upto
        k += 1
        while k < len(lines) and not lines[k].startswith("@@"):
            line = lines[k]
            if line.startswith("\\"):
                out[-1] = out[-1].rstrip("\n")
            elif line.startswith("-"):
                i += 1
            elif line.startswith("+"):
                out.append(line[1:] + "\n")
            else:
                assert src[i].rstrip("\n") == line[1:], (src[i], line)
                out.append(src[i])
                i += 1
            k += 1
    out.extend(src[i:])
    return "".join(out)


# A reference implementation of GitHub's closing-keyword rules, independent of how the world placed them.
_KW = r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
_CLOSING = re.compile(
    rf"(?<![\w/-]){_KW}:?\s+(?:(?P<full>[\w.-]+/[\w.-]+)#(?P<n1>\d+)|#(?P<n2>\d+)|"
    rf"https://github\.com/(?P<url>[\w.-]+/[\w.-]+)/issues/(?P<n3>\d+))(?!\w)",
    re.IGNORECASE,
)


def github_closing_refs(repo: str, text: str | None) -> set[str]:
    if not text:
        return set()
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    out = set()
    for m in _CLOSING.finditer(text):
        target = m.group("full") or m.group("url") or repo
        number = int(m.group("n1") or m.group("n2") or m.group("n3"))
        out.add(record_id(target, number))
    return out


# --------------------------------------------------------------------------------------------- world


def test_world_roster_and_users(demo_world: World) -> None:
    w = demo_world
    widgets, gizmo = w.repos["acme/widgets"], w.repos["acme/gizmo"]
    assert (widgets.license, widgets.stargazers_count, widgets.default_branch) == ("MIT", 1200, "main")
    assert (gizmo.license, gizmo.stargazers_count, gizmo.default_branch) == ("Apache-2.0", 85, "master")
    assert w.repos["nova/tiny"].stargazers_count == 2
    assert w.repos["nova/widgets"].fork and w.repos["nova/widgets"].parent == "acme/widgets"
    assert w.repos["relic/oldlib"].archived
    assert w.repos["corp/secret-sauce"].license is None
    assert any(r.license == "NOASSERTION" for r in w.listed_repos())
    assert 50 <= len(widgets.issues) <= 70 and 30 <= len(gizmo.issues) <= 50
    u = w.users
    assert (u["dependabot[bot]"].type, u["github-actions[bot]"].type) == ("Bot", "Bot")
    assert {u[x].type for x in ("codecov-io", "k8s-ci-robot", "CLAassistant")} == {"User"}
    assert (u["ghost"].id, u["ghost"].type) == (10137, "User")
    assert any(x.name and not x.name.isascii() for x in u.values())
    # numbers are one sequence per repo and grow with creation time
    for repo in w.listed_repos():
        items = sorted(repo.issues.values(), key=lambda it: it.number)
        assert [it.number for it in items] == list(range(1, len(items) + 1))
        assert all(a.created_at < b.created_at for a, b in itertools_pairs(items))


def itertools_pairs(seq: list) -> list[tuple]:
    return list(zip(seq, seq[1:], strict=False))


@pytest.mark.parametrize("preset", ["small", "demo"])
def test_world_contains_the_hard_cases(preset: str) -> None:
    w = World.generate(getattr(WorldSpec, preset)())
    items = list(w.items())
    plain = [it for it in items if it.pull is None]
    prs = [it for it in items if it.pull is not None]
    bodies = [it.body or "" for it in items]
    assert any(len(b) == MAX_BODY_CHARS for b in bodies)
    assert any(it.body is None for it in items)
    assert any(it.user == "ghost" for it in plain)
    assert any("\u200d" in b for b in bodies)  # emoji ZWJ sequence
    assert any(re.search(r"[\u0590-\u06ff]", b) for b in bodies)  # RTL
    assert any(re.search(r"[\u4e00-\u9fff]", b) for b in bodies)  # CJK
    assert any("\u0301" in b for b in bodies)  # combining mark
    assert any("Traceback (most recent call last)" in b for b in bodies)
    assert any(it.null_pull_request for it in plain)
    assert {it.state_reason for it in plain} >= {"completed", "not_planned", None}
    comments = [c for it in items for c in it.comments]
    assert all(c.body for c in comments)  # GitHub has no empty comments
    commenters = {c.user for c in comments}
    assert "ghost" in commenters and commenters & {
        "codecov-io",
        "CLAassistant",
        "k8s-ci-robot",
        "github-actions[bot]",
    }
    assert any(len(c.body) > 50_000 for c in comments)
    # PR fates, bases and heads
    assert any(p.pull.merged_at for p in prs) and any(p.state == "open" and p.pull.draft for p in prs)
    assert any(p.state == "closed" and not p.pull.merged_at for p in prs)
    assert any(p.pull.base_ref == "release-1.x" for p in prs)
    assert any(p.pull.head_repo and p.pull.head_repo != p.repo for p in prs)
    assert any(p.pull.head_repo is None for p in prs)  # deleted fork
    assert any(
        p.user == "dependabot[bot]" and [f.filename for f in p.pull.files] == ["requirements.txt"]
        for p in prs
    )
    files = [f for p in prs for f in p.pull.files]
    kinds = {(f.status, f.patch is None, f.binary) for f in files}
    assert {
        ("modified", False, False),
        ("added", False, False),
        ("removed", False, False),
        ("renamed", True, False),
        ("renamed", False, False),
    } <= kinds
    assert any(f.binary and f.patch is None and f.status in ("added", "modified") for f in files)
    assert all(f.sha is None for f in files if f.status == "removed")
    messages = [c.message for p in prs for c in p.pull.commits]
    assert any("Signed-off-by:" in m for m in messages) and any("\n" in m for m in messages)
    assert any(c.author_login is None for p in prs for c in p.pull.commits)
    assert {r.state for p in prs for r in p.pull.reviews} >= {"APPROVED", "CHANGES_REQUESTED", "COMMENTED"}
    assert any(r.body == "" for p in prs for r in p.pull.reviews)
    assert {"ghost", "github-actions[bot]"} <= {r.user for p in prs for r in p.pull.reviews}
    assert any(c.in_reply_to_id for p in prs for c in p.pull.review_comments)

    # touching code and tests, tests only, docs only
    def areas(p):
        return {f.filename.split("/")[0] for f in p.pull.files}

    assert any({"src", "tests"} <= areas(p) for p in prs)
    assert any(areas(p) == {"tests"} for p in prs)
    assert any(areas(p) <= {"docs", "README.md"} and "docs" in areas(p) for p in prs)
    # ids: one sequence per kind, unique within the kind
    for ids in (
        [it.id for it in items],
        [c.id for c in comments],
        [r.id for p in prs for r in p.pull.reviews],
        [c.id for p in prs for c in p.pull.review_comments],
    ):
        assert len(ids) == len(set(ids)) and min(ids) > 2**30
    assert all(
        t.tzinfo is not None and t.microsecond == 0 for it in items for t in (it.created_at, it.updated_at)
    )
    assert all(w.now > it.updated_at for it in items)


def test_world_patches_and_blob_shas_are_real(demo_world: World) -> None:
    checked = 0
    for it in demo_world.items():
        if it.pull is None:
            continue
        pr = it.pull
        for f in pr.files:
            if f.status != "removed":
                assert f.sha == git_blob_sha(pr.head_files[f.filename])
            if f.patch is None:
                continue
            old = "" if f.status == "added" else pr.base_files[f.previous_filename or f.filename].decode()
            new = "" if f.status == "removed" else pr.head_files[f.filename].decode()
            assert apply_patch(old, f.patch) == new
            adds = sum(1 for x in f.patch.split("\n") if x.startswith("+"))
            dels = sum(1 for x in f.patch.split("\n") if x.startswith("-"))
            assert (f.additions, f.deletions, f.changes) == (adds, dels, adds + dels)
            checked += 1
        for c in pr.review_comments:
            f = next(x for x in pr.files if x.filename == c.path)
            assert f.patch is not None and f.patch.startswith(c.diff_hunk.split("\n")[0])
            assert c.diff_hunk in f.patch and c.diff_hunk.startswith("@@")
            assert c.diff_hunk.count("\n") <= c.position
    assert checked > 50


def test_closing_truth_matches_githubs_rules(demo_world: World) -> None:
    w = demo_world
    texts = []
    seen_cross = seen_ignored = False
    for it in w.items():
        if it.pull is None:
            continue
        repo = w.repos[it.repo]
        parts = [it.title, it.body, *[c.message for c in it.pull.commits]]
        texts += [p for p in parts if p]
        refs = set().union(*(github_closing_refs(it.repo, p) for p in parts))
        expected = refs if it.pull.base_ref == repo.default_branch else set()
        assert it.pull.closes == expected, (it.repo, it.number)
        seen_ignored |= bool(refs) and not expected
        for rid in it.pull.closes:
            target = w.find_record(rid)
            assert target is not None and target.pull is None and target.created_at < it.created_at
            seen_cross |= target.repo != it.repo
        for m in re.finditer(r"(?:(?P<full>[\w.-]+/[\w.-]+))?#(?P<n>\d+)", " ".join(p for p in parts if p)):
            target_repo = m.group("full") or it.repo
            if target_repo in w.repos:
                assert int(m.group("n")) in w.repos[target_repo].issues  # every reference exists
    assert seen_cross and seen_ignored
    joined = "\n".join(texts)
    for needle in (
        "Fixes #",
        "Closes: #",
        "FIXED #",
        "Resolves https://github.com/",
        "prefixes #",
        "unfixes #",
        "Fixes bug #",
        "see #",
        "related to #",
        "```\ngit commit",
        "`closes #",
        "closes acme/widgets#",
    ):
        assert needle in joined, needle
    for kw in ("close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"):
        assert re.search(rf"(?<!\w){kw}:? (?:#|\w+/\w+#|https://)", joined, re.I), kw
    links = w.expected_links()
    assert sum(1 for v in links.values() if v) >= 10
    assert set(links) == w.keys()["pulls"]


def test_keys_and_drop_author(small_world: World) -> None:
    w = small_world
    keys = w.keys()
    assert keys["repos"] == {(r.full_name,) for r in w.listed_repos()}
    assert keys["pulls"] <= keys["issues"]
    assert {k[2] for k in keys["comments"]} == {"issue", "review", "review_comment"}

    def is_bot(login: str, user_type: str) -> bool:
        return user_type == "Bot" or login in ("codecov-io", "k8s-ci-robot", "CLAassistant", "ghost")

    kept = w.keys(drop_author=is_bot)
    dropped_items = {(it.repo, it.number) for it in w.items() if is_bot(it.user, w.users[it.user].type)}
    assert dropped_items and not (dropped_items & kept["issues"])
    assert not {k for k in kept["pull_files"] if k[:2] in dropped_items}
    assert not {k for k in kept["comments"] if k[:2] in dropped_items}
    authors = {}
    for it in w.items():
        authors.update({("issue", c.id): c.user for c in it.comments})
        if it.pull:
            authors.update({("review", r.id): r.user for r in it.pull.reviews})
            authors.update({("review_comment", c.id): c.user for c in it.pull.review_comments})
    assert all(
        not is_bot(authors[(k[2], k[3])], w.users[authors[(k[2], k[3])]].type) for k in kept["comments"]
    )
    only = w.keys(repos={"acme/gizmo"})
    assert {k[0] for t in TABLES for k in only[t]} == {"acme/gizmo"}


def test_bench_distributions() -> None:
    t0 = time.perf_counter()
    w = World.generate(WorldSpec.bench(n_repos=4, items_per_repo=300))
    assert time.perf_counter() - t0 < 5
    items = list(w.items(repos={r.full_name for r in w.listed_repos() if r.crawlable}))
    prs = [it for it in items if it.pull]
    assert len(items) == 1200
    assert 0.38 < len(prs) / len(items) < 0.52
    merged = sum(1 for p in prs if p.pull.merged_at) / len(prs)
    open_ = sum(1 for p in prs if p.state == "open") / len(prs)
    assert 0.58 < merged < 0.72 and 0.10 < open_ < 0.20

    assert 2.4 < mean([len(it.comments) for it in items]) < 3.6
    assert max(len(it.comments) for it in items) <= 30
    assert 3.3 < mean([len(p.pull.files) for p in prs]) < 4.7
    assert 2.0 < mean([len(p.pull.commits) for p in prs]) < 3.0
    assert 1.1 < mean([len(p.pull.reviews) for p in prs]) < 2.0
    assert 1.5 < mean([len(p.pull.review_comments) for p in prs]) < 2.5
    bots = sum(1 for it in items if w.users[it.user].type == "Bot") / len(items)
    assert 0.01 < bots < 0.06


# ---------------------------------------------------------------------------------------- REST / PyGithub


def test_get_repo_fields(server: SimulatorServer) -> None:
    gh = gh_client(server)
    widgets = gh.get_repo("acme/widgets")
    assert (widgets.license.spdx_id, widgets.default_branch, widgets.fork) == ("MIT", "main", False)
    assert widgets.stargazers_count == 1200 and "widgets" in widgets.topics
    assert gh.get_repo("acme/gizmo").default_branch == "master"
    fork = gh.get_repo("nova/widgets")
    assert fork.fork and fork.parent.full_name == "acme/widgets"
    assert gh.get_repo("corp/secret-sauce").license is None
    assert gh.get_repo("orbit/telemetry").license.spdx_id == "NOASSERTION"
    assert gh.get_repo("relic/oldlib").archived
    assert widgets.url == f"{server.url}/repos/acme/widgets"
    assert widgets.html_url == "https://github.com/acme/widgets"


def test_issues_since_paginated_every_issue_once(server: SimulatorServer, small_world: World) -> None:
    gh = gh_client(server, per_page=5)
    repo = small_world.repos["acme/widgets"]
    big_at = next(it.updated_at for it in repo.issues.values() if it.body and len(it.body) == MAX_BODY_CHARS)
    since = min(sorted(it.updated_at for it in repo.issues.values())[3], big_at)
    before = server.stats()["by_endpoint"].get("GET /repos/{owner}/{repo}/issues", 0)
    got = list(
        gh.get_repo("acme/widgets").get_issues(state="all", since=since, sort="updated", direction="asc")
    )
    numbers = [i.number for i in got]
    expected = {it.number for it in repo.issues.values() if it.updated_at >= since}
    assert len(numbers) == len(set(numbers)) and set(numbers) == expected
    assert [i.updated_at for i in got] == sorted(i.updated_at for i in got)
    pages = server.stats()["by_endpoint"]["GET /repos/{owner}/{repo}/issues"] - before
    assert pages == -(-len(expected) // 5)
    for issue in got:
        it = repo.issues[issue.number]
        if it.pull is not None:
            assert issue.pull_request.html_url == f"https://github.com/acme/widgets/pull/{it.number}"
        elif it.null_pull_request:
            assert issue.pull_request is not None and issue.pull_request.html_url is None
        else:
            assert issue.pull_request is None
    big = next(
        i for i in got if repo.issues[i.number].body and len(repo.issues[i.number].body) == MAX_BODY_CHARS
    )
    assert big.body == repo.issues[big.number].body


def test_link_next_uses_after_cursor_and_page_limits(server: SimulatorServer, small_world: World) -> None:
    url = f"{server.url}/repos/acme/widgets/issues"
    s = requests.Session()
    r = s.get(url, params={"state": "all", "per_page": 4}, headers=auth())
    assert r.status_code == 200 and len(r.json()) == 4
    nxt = r.links["next"]["url"]
    assert (
        "after=" in nxt
        and "per_page=4" in nxt
        and "state=all" in nxt
        and "page=" not in nxt.replace("per_page", "")
    )
    seen = [i["number"] for i in r.json()]
    while "next" in r.links:
        r = s.get(r.links["next"]["url"], headers=auth())
        seen += [i["number"] for i in r.json()]
    assert sorted(seen) == sorted(small_world.repos["acme/widgets"].issues)
    assert seen == sorted(seen, reverse=True)  # default: created, descending
    # page= works up to max_page, then GitHub's 422
    r2 = s.get(url, params={"state": "all", "per_page": 4, "page": 2}, headers=auth())
    assert [i["number"] for i in r2.json()] == seen[4:8]
    deep = s.get(url, params={"per_page": 1, "page": 101}, headers=auth())
    assert deep.status_code == 422 and "cursor based pagination" in deep.json()["message"]
    bad = s.get(url, params={"state": "bogus"}, headers=auth())
    assert bad.status_code == 422


def test_pulls_files_commits_reviews(server: SimulatorServer, small_world: World) -> None:
    gh = gh_client(server)
    repo = gh.get_repo("acme/widgets")
    wrepo = small_world.repos["acme/widgets"]
    pulls = list(repo.get_pulls(state="all"))
    assert {p.number for p in pulls} == {n for n, it in wrepo.issues.items() if it.pull}
    assert len(list(repo.get_pulls())) == sum(
        1 for it in wrepo.issues.values() if it.pull and it.state == "open"
    )
    patched = 0
    for p in pulls:
        it = wrepo.issues[p.number]
        pr = it.pull
        assert (p.head.sha, p.base.ref, p.draft) == (pr.head_sha, pr.base_ref, pr.draft)
        if pr.head_repo is None:
            assert p.head.repo is None
        files = list(p.get_files())
        assert [f.filename for f in files] == [f.filename for f in pr.files]
        for f in files:
            wf = next(x for x in pr.files if x.filename == f.filename)
            assert f.sha == wf.sha and f.status == wf.status
            if wf.binary:
                assert f.patch is None and "patch" not in f.raw_data
            if f.status == "modified" and f.patch:
                base = pr.base_files[f.filename].decode()
                assert apply_patch(base, f.patch) == pr.head_files[f.filename].decode()
                patched += 1
            if f.status == "renamed":
                assert f.previous_filename == wf.previous_filename
        assert [c.sha for c in p.get_commits()] == [c.sha for c in pr.commits]
        assert [(r.id, r.state, r.body) for r in p.get_reviews()] == [
            (r.id, r.state, r.body) for r in pr.reviews
        ]
        rcs = list(p.get_review_comments())
        assert {c.id for c in rcs} == {c.id for c in pr.review_comments}
        for c in rcs:
            wc = next(x for x in pr.review_comments if x.id == c.id)
            assert (c.path, c.diff_hunk, c.position, c.pull_request_review_id) == (
                wc.path,
                wc.diff_hunk,
                wc.position,
                wc.review_id,
            )
            assert c.in_reply_to_id == wc.in_reply_to_id
    assert patched >= 3
    all_comments = list(repo.get_issues_comments())
    assert {c.id for c in all_comments} == {c.id for it in wrepo.issues.values() for c in it.comments}
    repo_rcs = list(repo.get_pulls_review_comments())
    assert len(repo_rcs) == sum(len(it.pull.review_comments) for it in wrepo.issues.values() if it.pull)


def test_pull_list_vs_detail_and_404s(server: SimulatorServer, small_world: World) -> None:
    wrepo = small_world.repos["acme/widgets"]
    pr_number = next(n for n, it in wrepo.issues.items() if it.pull and it.pull.merged_at)
    issue_number = next(n for n, it in wrepo.issues.items() if it.pull is None)
    listed = requests.get(
        f"{server.url}/repos/acme/widgets/pulls", params={"state": "all"}, headers=auth()
    ).json()
    for absent in (
        "merged",
        "mergeable",
        "comments",
        "review_comments",
        "commits",
        "additions",
        "deletions",
        "changed_files",
        "merged_by",
    ):
        assert absent not in listed[0]
    detail = requests.get(f"{server.url}/repos/acme/widgets/pulls/{pr_number}", headers=auth()).json()
    assert detail["merged"] is True and detail["merged_by"]["login"]
    assert detail["changed_files"] == len(wrepo.issues[pr_number].pull.files)
    gh = gh_client(server)
    repo = gh.get_repo("acme/widgets")
    with pytest.raises(github.UnknownObjectException):
        repo.get_pull(issue_number)
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo("acme/nope")
    r = requests.get(f"{server.url}/no/such/endpoint", headers=auth())
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


def test_search_repositories(server: SimulatorServer) -> None:
    gh = gh_client(server)
    assert {r.full_name for r in gh.search_repositories("stars:>=5 license:mit")} == {"acme/widgets"}
    res = gh.search_repositories("stars:>=50", sort="stars", order="desc")
    names = [r.full_name for r in res]
    assert names[0] == "acme/widgets" and "nova/widgets" not in names and "relic/oldlib" in names
    assert res.totalCount == len(names)
    assert {r.full_name for r in gh.search_repositories("fork:only")} == {"nova/widgets"}
    assert "relic/oldlib" not in {r.full_name for r in gh.search_repositories("stars:>=50 archived:false")}
    assert {r.full_name for r in gh.search_repositories("language:go")} == {"orbit/telemetry"}
    assert {r.full_name for r in gh.search_repositories("user:acme stars:10..100")} == {"acme/gizmo"}
    assert {r.full_name for r in gh.search_repositories("license:apache-2.0")} == {"acme/gizmo"}
    assert {r.full_name for r in gh.search_repositories("tokenizers")} == {"lumen/parsekit"}
    paged = requests.get(
        f"{server.url}/search/repositories", params={"q": "stars:>=1", "per_page": 2}, headers=auth()
    )
    assert paged.json()["total_count"] >= 5 and "page=2" in paged.links["next"]["url"]
    assert paged.headers["x-ratelimit-resource"] == "search"


def test_rate_limit_endpoint_and_headers(fresh_server: SimulatorServer) -> None:
    gh = gh_client(fresh_server)
    rl = gh.get_rate_limit()
    assert (rl.resources.core.limit, rl.resources.search.limit) == (5000, 30)
    assert rl.resources.core.remaining == 5000  # /rate_limit itself is free
    gh.get_repo("acme/widgets")
    r = requests.get(f"{fresh_server.url}/repos/acme/gizmo", headers=auth())
    assert r.headers["x-ratelimit-remaining"] == "4998" and r.headers["x-ratelimit-used"] == "2"
    assert r.headers["x-ratelimit-resource"] == "core" and int(r.headers["x-ratelimit-reset"]) > time.time()
    assert gh.get_rate_limit().resources.core.remaining == 4998
    anon = requests.get(f"{fresh_server.url}/repos/acme/gizmo")
    assert anon.status_code == 200 and anon.headers["x-ratelimit-limit"] == "60"
    assert requests.get(f"{fresh_server.url}/user").json()["message"] == "Requires authentication"
    assert requests.get(f"{fresh_server.url}/user", headers=auth()).json()["id"] == 1


def test_etag_304_is_not_charged(fresh_server: SimulatorServer) -> None:
    url = f"{fresh_server.url}/repos/acme/widgets/issues"
    first = requests.get(url, headers=auth())
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = requests.get(url, headers={**auth(), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
    other = requests.get(url, headers={**auth(TOKEN2), "If-None-Match": etag})
    assert other.status_code == 200  # ETags are per token, as on GitHub
    fresh_server.mutate(
        seed=1,
        new_issues=0,
        new_pulls=0,
        edited_issues=3,
        new_comments=0,
        edited_comments=0,
        new_review_comments=0,
        pushed_pulls=0,
        merged_pulls=0,
    )
    assert requests.get(url, headers={**auth(), "If-None-Match": etag}).status_code in (200, 304)
    stats = fresh_server.stats()
    assert stats["not_modified"] >= 1


def test_auth_errors(server: SimulatorServer) -> None:
    with pytest.raises(github.BadCredentialsException):
        gh_client(server, token="ghp_wrong").get_repo("acme/widgets")
    r = requests.post(f"{server.url}/graphql", json={"query": "{ rateLimit { cost } }"})
    assert r.status_code == 401 and "requires you to be authenticated" in r.json()["message"]
    r2 = requests.get(f"{server.url}/repos/acme/widgets", headers={"Authorization": f"Bearer {TOKEN2}"})
    assert r2.status_code == 200


def test_primary_rate_limit_exhaustion(fresh_server: SimulatorServer) -> None:
    gh = gh_client(fresh_server)
    gh.get_repo("acme/widgets")
    fresh_server.exhaust(TOKEN, for_s=30)
    with pytest.raises(github.RateLimitExceededException) as exc:
        gh.get_repo("acme/gizmo")
    assert exc.value.status == 403
    assert exc.value.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(exc.value.headers["x-ratelimit-reset"]) - (time.time() + 30)) <= 2
    assert "API rate limit exceeded for user ID 1." == exc.value.data["message"]
    assert gh_client(fresh_server, TOKEN2).get_repo("acme/gizmo").name == "gizmo"  # other tokens unaffected
    assert fresh_server.stats()["primary_limited"] == 1


def test_rate_window_and_anonymous_limit(make_server) -> None:
    srv = make_server(rate_limit=3, anon_rate_limit=2, rate_window_s=1.0)
    url = f"{srv.url}/repos/acme/widgets"
    statuses = [requests.get(url, headers=auth("any-token")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 403]
    anon = [requests.get(url) for _ in range(3)]
    assert [r.status_code for r in anon] == [200, 200, 403]
    assert anon[-1].json()["message"] == "API rate limit exceeded for 127.0.0.1."
    time.sleep(1.05)
    assert requests.get(url, headers=auth("any-token")).status_code == 200  # a new window


def test_secondary_rate_limit(fresh_server: SimulatorServer) -> None:
    fresh_server.set_faults(FaultConfig(secondary_every=2, retry_after_s=7))
    url = f"{fresh_server.url}/repos/acme/widgets"
    rs = [requests.get(url, headers=auth()) for _ in range(4)]
    assert [r.status_code for r in rs] == [200, 403, 200, 429]
    assert rs[1].headers["Retry-After"] == "7" and "secondary rate limit" in rs[1].json()["message"]
    assert rs[3].json()["message"] == rs[1].json()["message"]
    with pytest.raises(github.RateLimitExceededException):
        gh = gh_client(fresh_server)
        gh.get_repo("acme/widgets")  # the 5th request: 200
        gh.get_repo("acme/gizmo")  # the 6th: secondary 403
    assert rs[2].headers["x-ratelimit-used"] == "2"  # faulted answers are not charged
    assert fresh_server.stats()["faults"]["secondary"] == 3


def test_server_errors_truncation_and_slowness(fresh_server: SimulatorServer) -> None:
    url = f"{fresh_server.url}/repos/acme/widgets/issues"
    fresh_server.set_faults(FaultConfig(seed=3, error_rate=1.0))
    r = requests.get(url, headers=auth())
    assert r.status_code in (502, 503) and r.json() == {"message": "Server Error"}
    fresh_server.set_faults(FaultConfig(seed=3, truncate_rate=1.0))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        requests.get(url, params={"state": "all"}, headers=auth())
    fresh_server.set_faults(FaultConfig(slow_rate=1.0, slow_s=0.3))
    t0 = time.perf_counter()
    assert requests.get(url, headers=auth()).status_code == 200
    assert time.perf_counter() - t0 >= 0.3
    fresh_server.set_faults(FaultConfig())
    assert requests.get(f"{fresh_server.url}/rate_limit", headers=auth()).status_code == 200
    faults = fresh_server.stats()["faults"]
    assert (faults["error"], faults["truncated"], faults["slow"]) == (1, 1, 1)


def test_faults_are_reproducible(make_server) -> None:
    def run() -> list[int]:
        srv = make_server(faults=FaultConfig(seed=11, error_rate=0.4))
        with requests.Session() as s:
            return [s.get(f"{srv.url}/repos/acme/widgets", headers=auth()).status_code for _ in range(30)]

    a, b = run(), run()
    assert a == b and 200 in a and {502, 503} & set(a)


def test_keep_alive(server: SimulatorServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        sock = None
        for path in ("/repos/acme/widgets", "/nope", "/repos/acme/gizmo/issues?state=all", "/rate_limit"):
            conn.request("GET", path, headers=auth())
            resp = conn.getresponse()
            body = resp.read()
            assert int(resp.getheader("Content-Length")) == len(body) and not resp.will_close
            sock = sock or conn.sock
            assert conn.sock is sock  # one connection for all requests
        conn.request(
            "GET", "/repos/acme/widgets", headers={**auth(), "If-None-Match": resp.getheader("ETag") or ""}
        )
        conn.getresponse().read()
        assert conn.sock is sock
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------- mutation


def test_concurrent_requests_during_mutation(fresh_server: SimulatorServer) -> None:
    results: list[int] = []

    def crawl() -> None:
        with requests.Session() as s:
            for _ in range(15):
                for path in ("/repos/acme/widgets/issues", "/repos/acme/widgets/pulls", "/repos/acme/gizmo"):
                    r = s.get(f"{fresh_server.url}{path}", params={"state": "all"}, headers=auth())
                    r.json()
                    results.append(r.status_code)

    threads = [threading.Thread(target=crawl) for _ in range(4)]
    for t in threads:
        t.start()
    for seed in range(1, 6):
        fresh_server.mutate(seed=seed)
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * 180
    assert fresh_server.stats()["requests"] == 180


def test_mutation_relist_since_returns_exactly_the_changed(fresh_server: SimulatorServer) -> None:
    world = fresh_server.world
    since = world.now
    report = fresh_server.mutate(seed=5)
    assert isinstance(report, MutationReport) and world.now > since
    gh = gh_client(fresh_server, per_page=7)
    relisted = set()
    for repo in world.listed_repos():
        for issue in gh.get_repo(repo.full_name).get_issues(
            state="all", since=since, sort="updated", direction="asc"
        ):
            relisted.add((repo.full_name, issue.number))
    assert relisted == report.changed["issues"]
    assert len(report.changed["issues"]) >= 4
    assert json.loads(report.to_json())["changed"]["issues"]


def test_mutation_report_matches_the_json_that_changed(make_server) -> None:
    srv = make_server(tokens=[TOKEN])
    world = srv.world
    repos = [r.full_name for r in world.listed_repos()]
    before = snapshot(srv, repos)
    report = srv.mutate(
        seed=9,
        new_issues=2,
        new_pulls=2,
        edited_issues=2,
        new_comments=4,
        edited_comments=3,
        new_review_comments=2,
        pushed_pulls=2,
        merged_pulls=2,
    )
    after = snapshot(srv, repos)
    pushed = {k for k, v in after["pulls"].items() if before["pulls"].get(k, {}).get("head") != v["head"]}
    assert pushed
    for table in TABLES:
        changed = {k for k, v in after[table].items() if before[table].get(k) != v}
        if (
            table == "pull_commits"
        ):  # a new head SHA lists the PR's whole commit set, as the crawler replaces it
            changed |= {k for k in after[table] if k[:2] in pushed}
        assert changed == report.changed[table], table
    assert set(after["issues"]) == world.keys()["issues"]


def test_mutation_semantics(fresh_server: SimulatorServer) -> None:
    world = fresh_server.world
    zero = dict(
        new_issues=0,
        new_pulls=0,
        edited_issues=0,
        new_comments=0,
        edited_comments=0,
        new_review_comments=0,
        pushed_pulls=0,
        merged_pulls=0,
    )
    # an edited comment changes only the comment
    rep = fresh_server.mutate(seed=1, **{**zero, "edited_comments": 1})
    assert len(rep.changed["comments"]) == 1 and not rep.changed["issues"] and not rep.changed["pulls"]
    ((repo, number, kind, cid),) = rep.changed["comments"]
    item = world.issue(repo, number)
    comment = next(c for c in item.comments if c.id == cid)
    assert kind == "issue" and comment.updated_at > item.updated_at
    # a new comment bumps its parent and the parent's count
    rep = fresh_server.mutate(seed=2, **{**zero, "new_comments": 1})
    ((repo, number, _, cid),) = rep.changed["comments"]
    item = world.issue(repo, number)
    assert (repo, number) in rep.changed["issues"] and item.updated_at == item.comments[-1].updated_at
    # a push replaces a PR's file and commit sets as a whole
    rep = fresh_server.mutate(seed=3, **{**zero, "pushed_pulls": 1})
    ((repo, number),) = rep.changed["pulls"]
    pr = world.issue(repo, number).pull
    assert rep.changed["pull_files"] == {(repo, number, f.filename) for f in pr.files}
    assert rep.changed["pull_commits"] == {(repo, number, c.sha) for c in pr.commits}
    assert pr.head_sha == pr.commits[-1].sha
    # a merge closes the PR and the issues it links
    target = next(it for it in world.items() if it.pull and it.state == "open" and not it.pull.draft)
    rep = fresh_server.mutate(seed=4, **{**zero, "merged_pulls": 1})
    merged = [world.issue(*k) for k in rep.changed["pulls"]]
    assert len(merged) == 1 and merged[0].pull.merged_at and merged[0].state == "closed"
    assert merged[0].closed_at == merged[0].pull.merged_at == merged[0].updated_at
    for rid in merged[0].pull.closes:
        assert world.find_record(rid).state == "closed"
    assert target is not None
    # new review comment bumps the PR
    rep = fresh_server.mutate(seed=6, **{**zero, "new_review_comments": 1})
    assert {k[2] for k in rep.changed["comments"]} == {"review", "review_comment"}
    assert len(rep.changed["pulls"]) == 1 and rep.changed["pulls"] <= rep.changed["issues"]


# -------------------------------------------------------------------------------------------- GraphQL


def test_graphql_commits_reviews_aliases_and_errors(server: SimulatorServer, small_world: World) -> None:
    gh = gh_client(server)
    wrepo = small_world.repos["acme/widgets"]
    prs = [it for it in wrepo.issues.values() if it.pull and it.pull.reviews]
    a = next(it for it in prs if any(r.user == "ghost" for r in it.pull.reviews))
    b = next(it for it in prs if any(small_world.users[r.user].type == "Bot" for r in it.pull.reviews))
    query = """
    query($owner: String!, $name: String!, $a: Int!, $b: Int!) {
      repository(owner: $owner, name: $name) {
        nameWithOwner
        a: pullRequest(number: $a) { ...pr }
        b: pullRequest(number: $b) { ...pr }
      }
      rateLimit { cost remaining }
    }
    fragment pr on PullRequest {
      number
      commits(first: 100) { totalCount pageInfo { hasNextPage endCursor }
        nodes { commit { oid message authoredDate author { name email user { login } } } } }
      reviews(first: 100) { totalCount nodes { databaseId state body author { __typename login } } }
    }"""
    _, data = gh.requester.graphql_query(
        query, {"owner": "acme", "name": "widgets", "a": a.number, "b": b.number}
    )
    repo = data["data"]["repository"]
    assert repo["nameWithOwner"] == "acme/widgets" and data["data"]["rateLimit"]["cost"] == 1
    for alias, it in (("a", a), ("b", b)):
        node = repo[alias]
        assert [n["commit"]["oid"] for n in node["commits"]["nodes"]] == [c.sha for c in it.pull.commits]
        assert [n["databaseId"] for n in node["reviews"]["nodes"]] == [r.id for r in it.pull.reviews]
        for n, r in zip(node["reviews"]["nodes"], it.pull.reviews, strict=True):
            if r.user == "ghost":
                assert n["author"] is None
            elif small_world.users[r.user].type == "Bot":
                assert n["author"]["__typename"] == "Bot"
            else:
                assert n["author"] == {"__typename": "User", "login": r.user}
    with pytest.raises(github.GithubException) as too_many:
        gh.requester.graphql_query(
            'query($n: Int!) { repository(owner: "acme", name: "widgets") { pullRequest(number: $n) '
            "{ commits(first: 101) { totalCount } } } }",
            {"n": a.number},
        )
    assert "exceeds the `first` limit of 100 records" in json.dumps(too_many.value.data)
    with pytest.raises(github.UnknownObjectException):
        gh.requester.graphql_query(
            '{ repository(owner: "acme", name: "widgets") { pullRequest(number: 99999) { number } } }', {}
        )
    bad = requests.post(f"{server.url}/graphql", headers=auth(), json={"query": "{ repository { nope } }"})
    assert bad.status_code == 200 and bad.json()["errors"]


def test_graphql_pagination_and_closing_references(server: SimulatorServer, small_world: World) -> None:
    gh = gh_client(server)
    it = max((x for x in small_world.items() if x.pull), key=lambda x: len(x.pull.commits))
    owner, name = it.repo.split("/")
    q = """query($o: String!, $n: String!, $num: Int!, $after: String) { repository(owner: $o, name: $n) {
      pullRequest(number: $num) { commits(first: 1, after: $after) { pageInfo { hasNextPage endCursor }
      nodes { commit { oid } } } } } }"""
    oids, after = [], None
    while True:
        _, data = gh.requester.graphql_query(q, {"o": owner, "n": name, "num": it.number, "after": after})
        conn = data["data"]["repository"]["pullRequest"]["commits"]
        oids += [n["commit"]["oid"] for n in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert oids == [c.sha for c in it.pull.commits]
    linked = next(x for x in small_world.items() if x.pull and x.pull.closes)
    o, n = linked.repo.split("/")
    _, data = gh.requester.graphql_query(
        "query($o:String!,$n:String!,$num:Int!){repository(owner:$o,name:$n){pullRequest(number:$num){"
        "closingIssuesReferences(first: 10){ nodes { number repository { nameWithOwner } } } } } }",
        {"o": o, "n": n, "num": linked.number},
    )
    nodes = data["data"]["repository"]["pullRequest"]["closingIssuesReferences"]["nodes"]
    assert {record_id(x["repository"]["nameWithOwner"], x["number"]) for x in nodes} == set(
        linked.pull.closes
    )
    no_first = requests.post(
        f"{server.url}/graphql",
        headers=auth(),
        json={
            "query": "query($o:String!,$n:String!,$num:Int!){repository(owner:$o,name:$n){"
            "pullRequest(number:$num){ reviews { totalCount } } } }",
            "variables": {"o": o, "n": n, "num": linked.number},
        },
    ).json()
    assert "data" not in no_first and "must provide a `first`" in no_first["errors"][0]["message"]


# ------------------------------------------------------------------------------- determinism, stats, admin


def test_world_json_is_deterministic(make_server) -> None:
    worlds = [World.generate(WorldSpec.demo()) for _ in range(2)]
    dumps = []
    for w in worlds:
        srv = make_server(w, tokens=[TOKEN])
        rows = snapshot(srv, [r.full_name for r in w.listed_repos()])
        text = json.dumps(
            {t: sorted((json.dumps(k), v) for k, v in rows[t].items()) for t in TABLES},
            sort_keys=True,
            ensure_ascii=False,
        )
        dumps.append(text.replace(srv.url, "BASE"))
    assert dumps[0] == dumps[1]
    assert len(dumps[0]) > 500_000
    other = World.generate(WorldSpec.demo(seed=1))
    assert other.keys()["pull_commits"] != worlds[0].keys()["pull_commits"]


def test_stats_count_what_was_served(fresh_server: SimulatorServer) -> None:
    fresh_server.reset_stats()
    s = requests.Session()
    s.get(f"{fresh_server.url}/repos/acme/widgets", headers=auth())
    s.get(f"{fresh_server.url}/repos/acme/widgets/issues/1", headers=auth(TOKEN2))
    s.get(f"{fresh_server.url}/repos/acme/widgets/pulls", headers=auth())
    s.get(f"{fresh_server.url}/nope", headers=auth())
    s.get(f"{fresh_server.url}/_simulator/stats")  # admin: not counted
    stats = fresh_server.stats()
    assert stats["requests"] == 4
    assert stats["by_endpoint"] == {
        "GET /repos/{owner}/{repo}": 1,
        "GET /repos/{owner}/{repo}/issues/{issue_number}": 1,
        "GET /repos/{owner}/{repo}/pulls": 1,
        "GET (unknown)": 1,
    }
    assert stats["by_status"] == {"200": 3, "404": 1}
    fp1 = hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    fp2 = hashlib.sha256(TOKEN2.encode()).hexdigest()[:12]
    assert stats["by_token"] == {fp1: 3, fp2: 1}
    assert [e["status"] for e in stats["log"]] == [200, 200, 200, 404]
    assert {e["token_fp"] for e in stats["log"]} == {fp1, fp2}
    assert TOKEN not in json.dumps(stats) and TOKEN not in json.dumps(
        s.get(f"{fresh_server.url}/_simulator/stats").json()
    )


def test_admin_endpoints(fresh_server: SimulatorServer) -> None:
    base = f"{fresh_server.url}/_simulator"
    truth = requests.get(f"{base}/truth").json()
    keys = fresh_server.world.keys()
    assert {tuple(k) for k in truth["keys"]["pull_files"]} == keys["pull_files"]
    assert len(truth["expected_links"]) == len(keys["pulls"])
    rep = requests.post(f"{base}/mutate", json={"seed": 3, "new_issues": 1, "new_pulls": 0}).json()
    assert len(rep["changed"]["issues"]) >= 1
    assert requests.post(f"{base}/faults", json={"error_rate": 1.0}).json()["error_rate"] == 1.0
    assert requests.get(f"{fresh_server.url}/repos/acme/widgets", headers=auth()).status_code in (502, 503)
    requests.post(f"{base}/faults", json={})
    fp = hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert requests.post(f"{base}/exhaust", json={"token_fingerprint": fp, "for_s": 20}).status_code == 200
    assert requests.get(f"{fresh_server.url}/repos/acme/widgets", headers=auth()).status_code == 403
    assert requests.post(f"{base}/faults", json={"bogus": 1}).status_code == 400
    requests.post(f"{base}/stats/reset")
    assert requests.get(f"{base}/stats").json()["requests"] == 0


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = {**os.environ, "SWE_CURATE_SIM_TOKENS": f"{TOKEN},{TOKEN2}", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingest.simulator",
            "--preset",
            "small",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--rate-limit",
            "50",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("GitHub simulator listening on http://127.0.0.1:")
        port = int(port_file.read_text())
        assert line.strip().endswith(f":{port}")
        r = requests.get(f"http://127.0.0.1:{port}/repos/acme/widgets", headers=auth(TOKEN2))
        assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "50"
        assert (
            requests.get(f"http://127.0.0.1:{port}/repos/acme/widgets", headers=auth("x")).status_code == 401
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_world_clock(small_world: World) -> None:
    stamps = [c.updated_at for it in small_world.items() for c in it.comments]
    assert small_world.now > max(stamps) and small_world.now.tzinfo == UTC
    assert min(r.created_at for r in small_world.repos.values()) == datetime(2024, 1, 1, tzinfo=UTC)
    assert small_world.now - max(stamps) <= timedelta(days=30)
    assert Counter(type(k[0]) for k in small_world.keys()["issues"]) == Counter(
        {str: len(small_world.keys()["issues"])}
    )
