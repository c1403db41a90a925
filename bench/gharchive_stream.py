"""GH Archive streaming speed and memory: ``ingest_gharchive`` against a naive stdlib peer.

Generates hour-file-like ``.json.gz`` files of N events (default 250k, 500k, 1M; cached under
``--cache``), mixed as in a 2024 GH Archive hour: mostly PushEvent / CreateEvent / WatchEvent, about
14% of the five issue and pull-request types, with GitHub's payload shapes and sizes (a
PullRequestEvent carries two full repository objects, ~15-25 KB; a PushEvent a few commits), on
repositories drawn from a Zipf distribution. Each (implementation, size) runs in a fresh
subprocess, so peak RSS (``getrusage`` maxrss) is that run's own.

- ``ingest_gharchive``: into a temporary data root, selecting the 2,000 most active repositories
  (the curation case) and, for the largest file, every repository (discovery mode).
- naive peer: ``gzip.open`` + ``json.loads`` of every line, keeping the wanted events of the same
  repositories in a list (what a first script does).

Prints events/s per CPU-second (the run uses one core) and per wall-second, JSON MB/s, peak RSS,
and the ratio to the peer. Target: >= 20k events/s/core and flat RSS as the file grows.

    .venv/bin/python bench/gharchive_stream.py [--sizes 250000,500000,1000000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

# bench/tokenize.py shares the standard library module's name: this folder leaves the import
# path before anything (numpy, inspect, linecache) imports ``tokenize``.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Share of events per type (GH Archive 2024 hours, rounded); the five ingested types sum to 14%.
MIX = [
    ("PushEvent", 0.55), ("CreateEvent", 0.125), ("WatchEvent", 0.085), ("DeleteEvent", 0.04),
    ("ForkEvent", 0.025), ("ReleaseEvent", 0.01), ("GollumEvent", 0.005), ("MemberEvent", 0.003),
    ("PublicEvent", 0.002), ("CommitCommentEvent", 0.005),
    ("PullRequestEvent", 0.055), ("IssueCommentEvent", 0.04), ("PullRequestReviewEvent", 0.02),
    ("IssuesEvent", 0.015), ("PullRequestReviewCommentEvent", 0.01),
]
N_REPOS = 200_000
SELECTED = 2_000
WORDS = ("the fix for a crash when parsing config files under load is to retry the request with "
         "backoff and log the error instead of raising it to the caller so tests pass again").split()


def _repo_name(i: int) -> str:
    return f"org{i % 9973}/project-{i}"


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _user(login: str, uid: int) -> dict:
    api = "https://api.github.com/users/" + login
    return {"login": login, "id": uid, "node_id": f"MDQ6VXNlcj{uid}", "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "", "url": api, "html_url": f"https://github.com/{login}", "followers_url": api + "/followers",
            "following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
            "starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions",
            "organizations_url": api + "/orgs", "repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
            "received_events_url": api + "/received_events", "type": "User", "site_admin": False}


def _repo_obj(name: str, rid: int, owner: dict) -> dict:
    api = "https://api.github.com/repos/" + name
    keys = ("forks", "keys", "collaborators", "teams", "hooks", "issue_events", "events", "assignees", "branches",
            "tags", "blobs", "git_tags", "git_refs", "trees", "statuses", "languages", "stargazers", "contributors",
            "subscribers", "subscription", "commits", "git_commits", "comments", "issue_comment", "contents",
            "compare", "merges", "archive", "downloads", "issues", "pulls", "milestones", "notifications",
            "labels", "releases", "deployments")
    obj = {"id": rid, "node_id": f"MDEwOlJlcG9zaXRvcnk{rid}", "name": name.split("/")[1], "full_name": name,
           "private": False, "owner": owner, "html_url": "https://github.com/" + name, "description": "A project",
           "fork": False, "url": api}
    obj.update({f"{k}_url": f"{api}/{k}" for k in keys})
    obj.update({"created_at": "2019-05-15T15:19:25Z", "updated_at": "2024-05-15T15:21:03Z",
                "pushed_at": "2024-05-15T15:20:32Z", "git_url": f"git://github.com/{name}.git",
                "ssh_url": f"git@github.com:{name}.git", "clone_url": f"https://github.com/{name}.git",
                "svn_url": "https://github.com/" + name, "homepage": None, "size": 1234, "stargazers_count": 42,
                "watchers_count": 42, "language": "Python", "has_issues": True, "has_projects": True,
                "has_downloads": True, "has_wiki": True, "has_pages": False, "forks_count": 3, "mirror_url": None,
                "archived": False, "disabled": False, "open_issues_count": 7, "license": None, "allow_forking": True,
                "is_template": False, "topics": [], "visibility": "public", "forks": 3, "open_issues": 7,
                "watchers": 42, "default_branch": "main"})
    return obj


def _pull(rng: random.Random, name: str, rid: int, number: int, user: dict, at: str) -> dict:
    api = "https://api.github.com/repos/" + name
    repo = _repo_obj(name, rid, user)
    sha = f"{rng.getrandbits(160):040x}"
    return {
        "url": f"{api}/pulls/{number}", "id": rng.getrandbits(40), "node_id": "PR_kwDOAAAA", "html_url": f"https://github.com/{name}/pull/{number}",
        "diff_url": f"https://github.com/{name}/pull/{number}.diff", "patch_url": f"https://github.com/{name}/pull/{number}.patch",
        "issue_url": f"{api}/issues/{number}", "number": number, "state": "open", "locked": False,
        "title": _text(rng, 4, 10), "user": user, "created_at": at, "updated_at": at,
        "body": _text(rng, 20, 300) + (f"\n\nFixes #{rng.randint(1, 5000)}" if rng.random() < 0.35 else ""),
        "closed_at": None, "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
        "requested_reviewers": [], "requested_teams": [], "labels": [], "milestone": None, "draft": False,
        "commits_url": f"{api}/pulls/{number}/commits", "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}", "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{sha}",
        "head": {"label": f"{user['login']}:fix", "ref": "fix", "sha": sha, "user": user, "repo": repo},
        "base": {"label": f"{name.split('/')[0]}:main", "ref": "main", "sha": f"{rng.getrandbits(160):040x}", "user": user,
                 "repo": repo},
        "author_association": "CONTRIBUTOR", "auto_merge": None, "active_lock_reason": None, "merged": False,
        "mergeable": None, "rebaseable": None, "mergeable_state": "unknown", "merged_by": None, "comments": 1,
        "review_comments": 0, "maintainer_can_modify": True, "commits": 1, "additions": 10, "deletions": 2,
        "changed_files": 1,
    }


def _issue(rng: random.Random, name: str, number: int, user: dict, at: str) -> dict:
    api = "https://api.github.com/repos/" + name
    return {"url": f"{api}/issues/{number}", "repository_url": api, "labels_url": f"{api}/issues/{number}/labels{{/name}}",
            "comments_url": f"{api}/issues/{number}/comments", "events_url": f"{api}/issues/{number}/events",
            "html_url": f"https://github.com/{name}/issues/{number}", "id": rng.getrandbits(40), "node_id": "I_kwDOAAAA",
            "number": number, "title": _text(rng, 4, 10), "user": user, "labels": [], "state": "open", "locked": False,
            "assignee": None, "assignees": [], "milestone": None, "comments": 2, "created_at": at, "updated_at": at,
            "closed_at": None, "author_association": "NONE", "active_lock_reason": None, "body": _text(rng, 20, 200),
            "reactions": {"url": f"{api}/issues/{number}/reactions", "total_count": 0}, "timeline_url": f"{api}/issues/{number}/timeline",
            "performed_via_github_app": None, "state_reason": None}


def _event(rng: random.Random, i: int, etype: str, repo_i: int, at: str) -> dict:
    name = _repo_name(repo_i)
    login = f"user{rng.randint(1, 500_000)}"
    actor = {"id": rng.randint(1, 10**8), "login": login, "display_login": login, "gravatar_id": "",
             "url": "https://api.github.com/users/" + login, "avatar_url": "https://avatars.githubusercontent.com/u/1?"}
    ev = {"id": str(30_000_000_000 + i), "type": etype, "actor": actor,
          "repo": {"id": 10_000_000 + repo_i, "name": name, "url": "https://api.github.com/repos/" + name}}
    number = rng.randint(1, 5000)
    user = _user(login, actor["id"])
    if etype == "PushEvent":
        commits = [{"sha": f"{rng.getrandbits(160):040x}", "author": {"email": f"{login}@example.com", "name": login},
                    "message": _text(rng, 3, 40), "distinct": True,
                    "url": f"https://api.github.com/repos/{name}/commits/{rng.getrandbits(160):040x}"}
                   for _ in range(rng.choice((1, 1, 1, 2, 3, 5)))]
        payload = {"repository_id": ev["repo"]["id"], "push_id": rng.getrandbits(34), "size": len(commits),
                   "distinct_size": len(commits), "ref": "refs/heads/main", "head": commits[-1]["sha"],
                   "before": f"{rng.getrandbits(160):040x}", "commits": commits}
    elif etype in ("CreateEvent", "DeleteEvent"):
        payload = {"ref": "feature", "ref_type": "branch", "master_branch": "main", "description": "A project",
                   "pusher_type": "user"}
    elif etype == "WatchEvent":
        payload = {"action": "started"}
    elif etype == "PullRequestEvent":
        payload = {"action": rng.choice(("opened", "closed", "synchronize", "reopened")), "number": number,
                   "pull_request": _pull(rng, name, ev["repo"]["id"], number, user, at)}
    elif etype == "IssuesEvent":
        payload = {"action": rng.choice(("opened", "closed", "labeled")), "issue": _issue(rng, name, number, user, at)}
    elif etype == "IssueCommentEvent":
        payload = {"action": "created", "issue": _issue(rng, name, number, user, at),
                   "comment": {"url": f"https://api.github.com/repos/{name}/issues/comments/{i}",
                               "html_url": f"https://github.com/{name}/issues/{number}#issuecomment-{i}",
                               "issue_url": f"https://api.github.com/repos/{name}/issues/{number}", "id": i,
                               "node_id": "IC_kwDOAAAA", "user": user, "created_at": at, "updated_at": at,
                               "author_association": "NONE", "body": _text(rng, 5, 120), "performed_via_github_app": None}}
    elif etype == "PullRequestReviewEvent":
        payload = {"action": "created",
                   "review": {"id": i, "node_id": "PRR_kwDOAAAA", "user": user, "body": _text(rng, 0, 30),
                              "commit_id": f"{rng.getrandbits(160):040x}", "submitted_at": at, "state": "approved",
                              "html_url": f"https://github.com/{name}/pull/{number}#pullrequestreview-{i}",
                              "pull_request_url": f"https://api.github.com/repos/{name}/pulls/{number}",
                              "author_association": "MEMBER"},
                   "pull_request": _pull(rng, name, ev["repo"]["id"], number, user, at)}
    elif etype == "PullRequestReviewCommentEvent":
        payload = {"action": "created",
                   "comment": {"url": f"https://api.github.com/repos/{name}/pulls/comments/{i}", "pull_request_review_id": i,
                               "id": i, "node_id": "PRRC_kwDOAAAA", "diff_hunk": "@@ -1,3 +1,4 @@\n-old\n+new\n" * 3,
                               "path": "src/app.py", "position": 3, "original_position": 3,
                               "commit_id": f"{rng.getrandbits(160):040x}", "original_commit_id": f"{rng.getrandbits(160):040x}",
                               "user": user, "body": _text(rng, 5, 60), "created_at": at, "updated_at": at,
                               "html_url": f"https://github.com/{name}/pull/{number}#discussion_r{i}",
                               "pull_request_url": f"https://api.github.com/repos/{name}/pulls/{number}",
                               "author_association": "MEMBER", "line": 3, "side": "RIGHT"},
                   "pull_request": _pull(rng, name, ev["repo"]["id"], number, user, at)}
    elif etype == "ForkEvent":
        payload = {"forkee": _repo_obj(f"{login}/project-{repo_i}", rng.getrandbits(30), user)}
    elif etype == "ReleaseEvent":
        payload = {"action": "published", "release": {"id": i, "tag_name": "v1.0", "name": "v1.0", "body": _text(rng, 20, 200),
                                                      "author": user, "draft": False, "prerelease": False}}
    else:
        payload = {"action": "added" if etype == "MemberEvent" else "created", "note": _text(rng, 1, 20)}
    ev.update({"payload": payload, "public": True, "created_at": at})
    if repo_i % 3 == 0:
        ev["org"] = {"id": repo_i, "login": name.split("/")[0], "gravatar_id": "",
                     "url": "https://api.github.com/orgs/" + name.split("/")[0], "avatar_url": "https://avatars.githubusercontent.com/u/2?"}
    return ev


def generate(path: Path, n: int, seed: int = 7) -> None:
    """An hour-file-like gzip of ``n`` events (deterministic), written to a temporary name then renamed."""
    import orjson

    rng = random.Random(seed)
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    # Zipf-like activity: repository i has weight 1/(i+1); the top ones get most events.
    cum = []
    acc = 0.0
    for i in range(N_REPOS):
        acc += 1.0 / (i + 1) ** 0.9
        cum.append(acc)
    tmp = path.with_suffix(".tmp")
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    with open(tmp, "wb") as fh:
        buf = []
        for i in range(n):
            etype = rng.choices(types, weights)[0]
            repo_i = _bisect(cum, rng.random() * acc)
            at = f"2024-05-15T15:{(i * 60 // max(n, 1)) % 60:02d}:{i % 60:02d}Z"
            buf.append(orjson.dumps(_event(rng, i, etype, repo_i, at)))
            if len(buf) >= 2000:
                fh.write(comp.compress(b"\n".join(buf) + b"\n"))
                buf = []
        if buf:
            fh.write(comp.compress(b"\n".join(buf) + b"\n"))
        fh.write(comp.flush())
    os.replace(tmp, path)


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def selected_repos() -> list[str]:
    return [_repo_name(i) for i in range(SELECTED)]


# -- children (one measurement each, in a fresh process) ----------------------------------------------

def child_ours(path: str, mode: str) -> dict:
    from ingest.config import GhArchiveConfig
    from ingest.gharchive_source import ingest_gharchive

    with tempfile.TemporaryDirectory() as tmp:
        cfg = GhArchiveConfig(repo_selection="all" if mode == "all" else "list")
        c0, t0 = time.process_time(), time.perf_counter()
        s = ingest_gharchive(tmp, cfg, [path], repos=None if mode == "all" else selected_repos())
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        assert not s.failed, s.failed
    return {"events": s.events_read, "matched": s.events_matched, "rows": sum(s.rows.values()),
            "json_bytes": s.bytes_json, "cpu": cpu, "wall": wall, "rss_kb": _maxrss_kb()}


def child_peer(path: str) -> dict:
    import gzip

    wanted = {"IssuesEvent", "IssueCommentEvent", "PullRequestEvent", "PullRequestReviewEvent",
              "PullRequestReviewCommentEvent"}
    repos = set(selected_repos())
    c0, t0 = time.process_time(), time.perf_counter()
    kept = []
    n = size = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            n += 1
            size += len(line)
            ev = json.loads(line)
            if ev["type"] in wanted and ev["repo"]["name"] in repos:
                kept.append(ev)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"events": n, "matched": len(kept), "rows": len(kept), "json_bytes": size, "cpu": cpu, "wall": wall,
            "rss_kb": _maxrss_kb()}


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="250000,500000,1000000")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "swe-curate-bench"))
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, path, *rest = args.child
        res = child_ours(path, rest[0]) if kind == "ours" else child_peer(path)
        print(json.dumps(res))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    files = {}
    for n in sizes:
        path = cache / f"gha-bench-{n}.json.gz"
        if not path.exists():
            t0 = time.perf_counter()
            print(f"generating {path.name} ...", flush=True)
            generate(path, n)
            print(f"  {path.stat().st_size / 1e6:.0f} MB gzip in {time.perf_counter() - t0:.0f} s", flush=True)
        files[n] = str(path)

    print(f"\n{'run':<28}{'events':>10}{'matched':>9}{'ev/s/core':>11}{'ev/s wall':>11}{'JSON MB/s':>11}"
          f"{'peak RSS':>10}{'vs peer':>9}")
    rows = []
    for n in sizes:
        ours = _run_child("ours", files[n], "list")
        peer = None if args.no_peer else _run_child("peer", files[n])
        rows.append(("ingest_gharchive (repo list)", n, ours, peer))
        if peer:
            rows.append(("naive json.loads peer", n, peer, None))
    big = max(sizes)
    rows.append(("ingest_gharchive (all repos)", big, _run_child("ours", files[big], "all"), None))
    for label, n, r, peer in rows:
        eps = r["events"] / r["cpu"]
        ratio = f"{eps / (peer['events'] / peer['cpu']):.1f}x" if peer else ""
        print(f"{label:<28}{n:>10,}{r['matched']:>9,}{eps:>11,.0f}{r['events'] / r['wall']:>11,.0f}"
              f"{r['json_bytes'] / 1e6 / r['cpu']:>11.0f}{r['rss_kb'] / 1024:>8.0f}MB{ratio:>9}")
    print("\nev/s/core = events per CPU-second of the (single-threaded) run; peak RSS = getrusage maxrss of a fresh "
          "process per run.")


if __name__ == "__main__":
    main()
