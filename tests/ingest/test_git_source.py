"""The git source on small real repositories built here with the git CLI."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from ingest.config import GitConfig
from ingest.errors import ConfigError
from ingest.git_history import HistoryCommit, parse_raw_numstat, pr_from_commit, split_patches
from ingest.git_source import clone_url_for
from ingest.run import GitSession, _table, ingest_git
from ingest.schema import TABLES
from ingest.store import DataRoot

CORE = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
CORE_1 = "def add(a, b):\n    return int(a) + int(b)\n\n\ndef sub(a, b):\n    return a - b\n"
CORE_2 = "def add(a, b):\n    return int(a) + int(b)\n\n\ndef sub(a, b):\n    return int(a) - int(b)\n"
TEST = "from calc.core import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
TEST_1 = TEST + "\n\ndef test_add_str():\n    assert add('1', '2') == 3\n"
UTIL = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(6))
HELPERS = UTIL.replace("return x + 5", "return x + 50")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


class Repo:
    """A working repository with deterministic commit times (so SHAs are stable)."""

    def __init__(self, path: Path):
        self.path = path
        self.tick = 0
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        self.tick += 1
        date = f"2024-01-01T00:{self.tick // 60:02d}:{self.tick % 60:02d}+00:00"
        env = dict(os.environ, GIT_AUTHOR_NAME="Alice Dev", GIT_AUTHOR_EMAIL="alice@example.org",
                   GIT_COMMITTER_NAME="Alice Dev", GIT_COMMITTER_EMAIL="alice@example.org",
                   GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date, GIT_CONFIG_GLOBAL="/dev/null",
                   GIT_CONFIG_NOSYSTEM="1")
        return subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def write(self, files: dict[str, str | bytes | None]) -> None:
        for rel, data in files.items():
            p = self.path / rel
            if data is None:
                self.git("rm", "-q", rel)
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data if isinstance(data, bytes) else data.encode())
            self.git("add", rel)

    def commit(self, msg: str, files: dict[str, str | bytes | None]) -> str:
        self.write(files)
        self.git("commit", "-q", "-m", msg)
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", rev)


@pytest.fixture
def calc(tmp_path: Path) -> tuple[Repo, dict[str, str]]:
    return build_calc(tmp_path / "src" / "acme" / "calc")


def build_calc(path: Path) -> tuple[Repo, dict[str, str]]:
    """acme/calc: a merge-commit PR (tests + code, branch deleted), a squash PR (rename, binary,
    lock file, vendored file), a plain commit and an open PR; returns the repo and its commits."""
    r = Repo(path)
    c = {}
    c["c0"] = r.commit("Initial import", {"src/calc/core.py": CORE, "src/calc/util.py": UTIL,
                                          "tests/test_core.py": TEST, "poetry.lock": "a==1\n",
                                          "vendor/lib.py": "X = 1\n", "README.md": "# calc\n"})
    r.git("checkout", "-q", "-b", "fix-add")
    c["a1"] = r.commit("Coerce add arguments\n\nFixes #7", {"src/calc/core.py": CORE_1, "tests/test_core.py": TEST_1})
    c["a2"] = r.commit("Coerce sub arguments too", {"src/calc/core.py": CORE_2})
    r.git("checkout", "-q", "main")
    c["readme"] = r.commit("Update README", {"README.md": "# calc\n\nA calculator.\n"})
    r.git("merge", "-q", "--no-ff", "fix-add", "-m", "Merge pull request #12 from alice/fix-add\n\nCoerce arguments")
    c["m12"] = r.sha("HEAD")
    r.git("branch", "-D", "fix-add")  # the PR's branch is deleted after the merge
    c["s13"] = r.commit("Rename util to helpers (#13)\n\n* rename\n* add a logo",
                        {"src/calc/util.py": None, "src/calc/helpers.py": HELPERS, "docs/logo.png": PNG,
                         "poetry.lock": "a==2\n", "vendor/lib.py": "X = 2\n"})
    r.write({"poetry.lock": "a==3\n"})  # a bot's PR: the API crawl drops it, so history must too
    r.git("commit", "-q", "-m", "Bump a from 2 to 3 (#16)",
          "--author", "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>")
    # #17, rebase-merged: its two commits replayed on main, no merge commit, no "(#17)" subject
    c["r1"] = r.commit("Speed up add", {"src/calc/core.py": CORE_2 + "\n\nFAST = True\n"})
    c["r2"] = r.commit("Speed up sub", {"src/calc/core.py": CORE_2 + "\n\nFAST = True\nSUB = True\n"})
    r.git("checkout", "-q", "-b", "wip")
    c["wip"] = r.commit("Work in progress (#14)", {"README.md": "# calc\n\nWIP\n"})
    r.git("checkout", "-q", "main")
    return r, c


def _cfg(**kw) -> GitConfig:
    return GitConfig.from_dict(kw, "git")


def _rows(root: DataRoot, table: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "crawled_at"} for row in root.read_latest(table).to_pylist()]


def test_history_alone_gives_exact_tables(calc, tmp_path):
    r, c = calc
    root = DataRoot(tmp_path / "data")
    summary = ingest_git(root.url, _cfg(), [str(r.path)])
    (o,) = summary.outcomes
    assert (o.repo, o.status, o.git_prs) == ("acme/calc", "ok", 2)
    assert o.dropped == {"pull:bot": 1, "pull_files:binary": 1, "pull_files:lockfile": 1, "pull_files:vendored": 1}

    base12 = c["c0"]  # merge-base of main and the PR branch; README's commit is not in the diff
    blob = {f"{rev}:{p}": r.sha(f"{rev}:{p}") for rev, p in [
        (c["c0"], "src/calc/core.py"), (c["a2"], "src/calc/core.py"), (c["c0"], "tests/test_core.py"),
        (c["a2"], "tests/test_core.py"), (c["m12"], "src/calc/util.py"), (c["s13"], "src/calc/helpers.py"),
        (c["s13"], "docs/logo.png"), (c["m12"], "poetry.lock"), (c["s13"], "poetry.lock"),
        (c["m12"], "vendor/lib.py"), (c["s13"], "vendor/lib.py")]}
    common = {"source": "git", "base_sha": None, "head_sha": None}
    files = _rows(root, "pull_files")
    assert files == [
        {**common, "record_id": "acme__calc-12", "repo": "acme/calc", "number": 12, "path": "src/calc/core.py",
         "status": "modified", "previous_path": None, "additions": 2, "deletions": 2, "changes": 4,
         "patch": "@@ -1,6 +1,6 @@\n def add(a, b):\n-    return a + b\n+    return int(a) + int(b)\n \n \n"
                  " def sub(a, b):\n-    return a - b\n+    return int(a) - int(b)",
         "is_binary": False, "is_test": False, "base_blob_sha": blob[f"{c['c0']}:src/calc/core.py"],
         "head_blob_sha": blob[f"{c['a2']}:src/calc/core.py"], "head_sha": c["a2"], "base_sha": base12,
         "skip_reason": None},
        {**common, "record_id": "acme__calc-12", "repo": "acme/calc", "number": 12, "path": "tests/test_core.py",
         "status": "modified", "previous_path": None, "additions": 4, "deletions": 0, "changes": 4,
         "patch": "@@ -3,3 +3,7 @@ from calc.core import add\n \n def test_add():\n     assert add(1, 2) == 3\n"
                  "+\n+\n+def test_add_str():\n+    assert add('1', '2') == 3",
         "is_binary": False, "is_test": True, "base_blob_sha": blob[f"{c['c0']}:tests/test_core.py"],
         "head_blob_sha": blob[f"{c['a2']}:tests/test_core.py"], "head_sha": c["a2"], "base_sha": base12,
         "skip_reason": None},
        {**common, "record_id": "acme__calc-13", "repo": "acme/calc", "number": 13, "path": "docs/logo.png",
         "status": "added", "previous_path": None, "additions": None, "deletions": None, "changes": None,
         "patch": None, "is_binary": True, "is_test": False, "base_blob_sha": None,
         "head_blob_sha": blob[f"{c['s13']}:docs/logo.png"], "head_sha": c["s13"], "base_sha": c["m12"],
         "skip_reason": "binary"},
        {**common, "record_id": "acme__calc-13", "repo": "acme/calc", "number": 13, "path": "poetry.lock",
         "status": "modified", "previous_path": None, "additions": 1, "deletions": 1, "changes": 2, "patch": None,
         "is_binary": False, "is_test": False, "base_blob_sha": blob[f"{c['m12']}:poetry.lock"],
         "head_blob_sha": blob[f"{c['s13']}:poetry.lock"], "head_sha": c["s13"], "base_sha": c["m12"],
         "skip_reason": "lockfile"},
        {**common, "record_id": "acme__calc-13", "repo": "acme/calc", "number": 13, "path": "src/calc/helpers.py",
         "status": "renamed", "previous_path": "src/calc/util.py", "additions": 1, "deletions": 1, "changes": 2,
         "patch": "@@ -19,6 +19,6 @@ def f4(x):\n \n \n def f5(x):\n-    return x + 5\n+    return x + 50\n \n ",
         "is_binary": False, "is_test": False, "base_blob_sha": blob[f"{c['m12']}:src/calc/util.py"],
         "head_blob_sha": blob[f"{c['s13']}:src/calc/helpers.py"], "head_sha": c["s13"], "base_sha": c["m12"],
         "skip_reason": None},
        {**common, "record_id": "acme__calc-13", "repo": "acme/calc", "number": 13, "path": "vendor/lib.py",
         "status": "modified", "previous_path": None, "additions": 1, "deletions": 1, "changes": 2, "patch": None,
         "is_binary": False, "is_test": False, "base_blob_sha": blob[f"{c['m12']}:vendor/lib.py"],
         "head_blob_sha": blob[f"{c['s13']}:vendor/lib.py"], "head_sha": c["s13"], "base_sha": c["m12"],
         "skip_reason": "vendored"},
    ]

    commits = _rows(root, "pull_commits")
    assert [(x["number"], x["position"], x["sha"], x["message"]) for x in commits] == [
        (12, 0, c["a1"], "Coerce add arguments\n\nFixes #7"),
        (12, 1, c["a2"], "Coerce sub arguments too"),
        (13, 0, c["s13"], "Rename util to helpers (#13)\n\n* rename\n* add a logo"),
    ]
    assert commits[0]["author_name"] == "Alice Dev" and commits[0]["author_login"] is None
    assert commits[0]["authored_at"] == datetime.fromisoformat(r.git("log", "-1", "--format=%aI", c["a1"]))

    pulls = _rows(root, "pulls")
    assert [(p["number"], p["title"], p["merge_commit_sha"], p["base_sha"], p["head_sha"], p["head_ref"],
             p["base_ref"], p["base_is_default"], p["linked_issues"], p["partial"], p["merged"], p["source"])
            for p in pulls] == [
        (12, "Coerce arguments", c["m12"], base12, c["a2"], "fix-add", "main", True, ["acme__calc-7"], True,
         True, "git"),
        (13, "Rename util to helpers", c["s13"], c["m12"], c["s13"], None, "main", True, [], True, True, "git"),
    ]
    assert pulls[0]["body"] == "Coerce add arguments\n\nFixes #7\n\nCoerce sub arguments too"
    assert pulls[0]["updated_at"] is None  # any API row of the PR wins over this one

    trees = {t["commit"]: t for t in _rows(root, "trees")}
    assert set(trees) == {base12, c["m12"]}
    assert trees[base12]["paths"] == ["README.md", "poetry.lock", "src/calc/core.py", "src/calc/util.py",
                                      "tests/test_core.py", "vendor/lib.py"]
    assert trees[c["m12"]]["tree_sha"] == r.sha(f"{c['m12']}^{{tree}}") and trees[c["m12"]]["n_paths"] == 6

    blobs = {b["blob_sha"]: b for b in _rows(root, "blobs")}
    # pre- and post-images of kept files; skipped ones (binary, lock, vendored) are not stored
    assert set(blobs) == {blob[f"{c['c0']}:src/calc/core.py"], blob[f"{c['a2']}:src/calc/core.py"],
                          blob[f"{c['c0']}:tests/test_core.py"], blob[f"{c['a2']}:tests/test_core.py"],
                          blob[f"{c['m12']}:src/calc/util.py"], blob[f"{c['s13']}:src/calc/helpers.py"]}
    assert blobs[blob[f"{c['c0']}:src/calc/core.py"]]["content"] == CORE.encode()
    assert blobs[blob[f"{c['s13']}:src/calc/helpers.py"]]["size"] == len(HELPERS)
    # the open PR (#14, never merged into a branch's first-parent line) is not there
    assert 14 not in {p["number"] for p in pulls}


def test_each_commit_of_a_kept_pr_has_its_own_change(calc, tmp_path):
    # Commit packs pair each message with its commit's own diff: #12's two commits split the PR's
    # change between them; the squash commit of #13 carries the skip reasons of the PR's files.
    r, c = calc
    root = DataRoot(tmp_path / "data")
    ingest_git(root.url, _cfg(), [str(r.path)])
    rows = {row["sha"]: row for row in root.read_latest("commit_diffs").to_pylist()}
    assert set(rows) == {c["a1"], c["a2"], c["s13"]}
    assert [rows[c[k]]["parents"] for k in ("a1", "a2", "s13")] == [[c["c0"]], [c["a1"]], [c["m12"]]]
    a1 = {f["path"]: f for f in rows[c["a1"]]["files"]}
    a2 = {f["path"]: f for f in rows[c["a2"]]["files"]}
    assert sorted(a1) == ["src/calc/core.py", "tests/test_core.py"] and sorted(a2) == ["src/calc/core.py"]
    assert "+    return int(a) + int(b)" in a1["src/calc/core.py"]["patch"]
    assert "int(a) - int(b)" not in a1["src/calc/core.py"]["patch"]
    assert a2["src/calc/core.py"]["patch"].endswith("-    return a - b\n+    return int(a) - int(b)")
    assert (a2["src/calc/core.py"]["additions"], a2["src/calc/core.py"]["deletions"]) == (1, 1)
    s13 = {f["path"]: (f["status"], f["skip_reason"], f["patch"] is None) for f in rows[c["s13"]]["files"]}
    assert s13 == {"docs/logo.png": ("added", "binary", True), "poetry.lock": ("modified", "lockfile", True),
                   "src/calc/helpers.py": ("renamed", None, False), "vendor/lib.py": ("modified", "vendored", True)}


def test_rerun_is_incremental_and_blobs_are_stored_once(calc, tmp_path):
    r, c = calc
    root = DataRoot(tmp_path / "data")
    ingest_git(root.url, _cfg(), [str(r.path)])
    before = {t: root.read_all(t).num_rows for t in ("pull_files", "blobs", "trees", "pulls")}
    again = ingest_git(root.url, _cfg(), [str(r.path)])
    assert again.outcomes[0].git_prs == 0 and again.outcomes[0].records == {}
    # a new squash PR touching the test file again: only it is read; the file's current blob (the
    # post-image of #12, now the pre-image of #15) is not stored a second time
    c15 = r.commit("Test add more (#15)", {"tests/test_core.py": TEST_1 + "\n\ndef test_more():\n    pass\n"})
    third = ingest_git(root.url, _cfg(), [str(r.path)])
    assert third.outcomes[0].git_prs == 1
    assert third.outcomes[0].records == {"blobs": 1, "commit_diffs": 1, "pull_commits": 1, "pull_files": 1, "pulls": 1,
                                         "trees": 1}
    assert root.read_all("blobs").num_rows == before["blobs"] + 1
    files = [f for f in root.read_latest("pull_files").to_pylist() if f["number"] == 15]
    assert [(f["path"], f["base_sha"], f["head_sha"]) for f in files] == [("tests/test_core.py", r.sha(f"{c15}^"), c15)]


def test_api_rows_decide_base_and_head(calc, tmp_path):
    """With the API's pulls row: the head comes from it (or the merge commit's second parent when
    that head is gone), the diff base is the merge base, API commits are not replaced and no git
    pulls row is written."""
    r, c = calc
    root = DataRoot(tmp_path / "data")
    now = datetime(2024, 2, 1, tzinfo=UTC)
    base_row = {f.name: None for f in TABLES["pulls"].schema}

    def pull(n, **kw):
        return {**base_row, "id": f"acme__calc-{n}", "repo": "acme/calc", "number": n, "merged": True,
                "state": "closed", "base_ref": "main", "updated_at": now, "partial": False, "source": "api",
                "crawled_at": now, **kw}
    # 12: the API head is a SHA the clone never saw (force-pushed away): M^2 stands in for it.
    # 13: squash merge. 17: rebase merge (two commits). 20: unknown to the clone entirely.
    rows = [pull(12, base_sha=c["readme"], head_sha="f" * 40, merge_commit_sha=c["m12"], title="Coerce (API)"),
            pull(13, base_sha=c["m12"], head_sha="e" * 40, merge_commit_sha=c["s13"], title="Rename (API)"),
            pull(17, base_sha=c["m12"], head_sha="9" * 40, merge_commit_sha=c["r2"], title="Speed up"),
            pull(20, base_sha="d" * 40, head_sha="c" * 40, merge_commit_sha="b" * 40)]
    root.write_parquet("raw/pulls/batch=x/part-0.parquet", _table("pulls", rows))
    commit = {f.name: None for f in TABLES["pull_commits"].schema}

    def api_commit(n, sha, pos, msg):
        return {**commit, "record_id": f"acme__calc-{n}", "repo": "acme/calc", "number": n, "sha": sha,
                "position": pos, "message": msg, "author_login": "alice", "source": "api", "crawled_at": now}
    root.write_parquet("raw/pull_commits/batch=x/part-0.parquet", _table("pull_commits", [
        api_commit(12, c["a1"], 0, "Coerce add arguments\n\nFixes #7"),
        api_commit(17, "8" * 40, 0, "Speed up add"), api_commit(17, "7" * 40, 1, "Speed up sub")]))
    s = ingest_git(root.url, _cfg(), [str(r.path)])
    assert s.outcomes[0].dropped["pull:commits_missing"] == 1
    pulls = {p["number"]: p for p in root.read_latest("pulls").to_pylist()}
    assert pulls[12]["title"] == "Coerce (API)" and pulls[12]["source"] == "api"
    files = root.read_latest("pull_files").to_pylist()
    assert {(f["number"], f["head_sha"], f["base_sha"]) for f in files} == {
        (12, c["a2"], c["c0"]), (13, c["s13"], c["m12"]), (17, c["r2"], r.sha(f"{c['r1']}^"))}
    (f17,) = [f for f in files if f["number"] == 17]
    assert (f17["additions"], f17["deletions"]) == (4, 0)  # both replayed commits, not just the last
    commits = root.read_latest("pull_commits").to_pylist()
    assert [(x["number"], x["author_login"], x["source"]) for x in commits] == [
        (12, "alice", "api"), (13, None, "git"), (17, "alice", "api"), (17, "alice", "api")]


def test_limits_skip_whole_prs_and_are_counted(calc, tmp_path):
    r, _ = calc
    root = DataRoot(tmp_path / "data")
    s = ingest_git(root.url, _cfg(max_files=3, max_changed_lines=7), [str(r.path)])
    assert s.outcomes[0].dropped == {"pull:bot": 1, "pull:too_many_files": 1, "pull:too_many_lines": 1}
    assert root.read_latest("pull_files").num_rows == 0


def test_crash_mid_run_then_rerun_gives_the_same_tables(calc, tmp_path):
    r, _ = calc
    clean = DataRoot(tmp_path / "clean")
    ingest_git(clean.url, _cfg(batch_prs=1, flush_rows=100), [str(r.path)])
    crashed = DataRoot(tmp_path / "crashed")
    session = GitSession(crashed.url, _cfg(batch_prs=1, flush_rows=100))
    real = crashed.write_parquet
    calls = []

    def dying(rel: str, table: pa.Table) -> str:
        calls.append(rel)
        if len(calls) > 3:
            raise KeyboardInterrupt  # killed after a few parts
        return real(rel, table)
    crashed.write_parquet = dying  # type: ignore[method-assign]
    session.root = crashed
    with pytest.raises(KeyboardInterrupt):
        session.ingest_target("acme/calc", str(r.path))
    assert crashed.read_json("raw/_state/git/acme__calc.json") is None  # the cursor never moved
    ingest_git(crashed.url, _cfg(batch_prs=1, flush_rows=100), [str(r.path)])
    for t in ("pull_files", "pull_commits", "pulls", "trees", "blobs"):
        assert _rows(crashed, t) == _rows(clean, t), t


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        GitSession.parse_targets([str(tmp_path / "nope")])
    (tmp_path / "plain").mkdir()
    root = DataRoot(tmp_path / "data")
    s = ingest_git(root.url, _cfg(), [f"acme/plain={tmp_path / 'plain'}"])
    assert s.outcomes[0].status == "failed" and s.outcomes[0].reason == "git_failed"
    assert GitSession.parse_targets(["o/n=https://example.org/x/y.git", "https://h/a/b.git"]) == [
        ("o/n", "https://example.org/x/y.git"), ("a/b", "https://h/a/b.git")]


def test_pr_subjects():
    def c(msg, parents=("p",)):
        return HistoryCommit("s" * 40, tuple(parents), msg, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    m = pr_from_commit(c("Merge pull request #5 from bob/topic\n\nAdd topic", ("a", "b")))
    assert (m.number, m.style, m.title, m.base, m.head, m.head_label) == (5, "merge", "Add topic", "a", "b", "bob/topic")
    s = pr_from_commit(c("Fix crash on empty input (#77)\n\n* one"))
    assert (s.number, s.style, s.title, s.head) == (77, "squash", "Fix crash on empty input", "s" * 40)
    assert pr_from_commit(c("Merge branch 'main' into x", ("a", "b"))) is None
    assert pr_from_commit(c("See (#3) for details")) is None  # not at the end of the subject
    assert pr_from_commit(c("Merge pull request #5 from bob/topic")) is None  # one parent: not a merge


def test_diff_tree_parsers():
    h1, h2 = "1" * 40, "2" * 40
    raw = (f"{h1}\0:100644 100644 {'a' * 40} {'b' * 40} R091\0old name.py\0new name.py\0"
           f":000000 100644 {'0' * 40} {'c' * 40} A\0img.png\0"
           f"3\t1\t\0old name.py\0new name.py\0-\t-\timg.png\0"
           f"{h2}\0:100644 000000 {'d' * 40} {'0' * 40} D\0gone.py\0" f"0\t4\tgone.py\0").encode()
    d1, d2 = parse_raw_numstat(raw)
    assert (d1.head, d2.head) == (h1, h2)
    f, g = d1.files
    assert (f.path, f.previous_path, f.status, f.additions, f.deletions) == ("new name.py", "old name.py",
                                                                             "renamed", 3, 1)
    assert (g.status, g.is_binary, g.base_blob, g.head_blob) == ("added", True, None, "c" * 40)
    assert (d2.files[0].status, d2.files[0].head_blob, d2.changed_lines) == ("removed", None, 4)
    patch = (f"{h1}\ndiff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
             f"diff --git a/y.png b/y.png\nBinary files a/y.png and b/y.png differ\n"
             f"{h2}\ndiff --git a/z b/z\n--- a/z\n+++ b/z\n@@ -1,2 +1 @@\n-deadbeef\n keep\n").encode()
    assert split_patches(patch) == [(h1, ["@@ -1 +1 @@\n-a\n+b", None]), (h2, ["@@ -1,2 +1 @@\n-deadbeef\n keep"])]


def test_clone_url_implied_by_the_api_host():
    assert clone_url_for("https://api.github.com", "psf/requests") == "https://github.com/psf/requests.git"
    assert clone_url_for("https://ghe.corp/api/v3/", "a/b") == "https://ghe.corp/a/b.git"
    assert clone_url_for("http://127.0.0.1:8700", "a/b") == "http://127.0.0.1:8700/a/b.git"
