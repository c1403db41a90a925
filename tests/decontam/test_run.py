"""The decontam stage end to end on raw tables: Verified content planted in disguise is flagged with
the right instance id by the right rule; clean text (the simulator's world, Lite-only instances of
the same repositories, boilerplate) is not; outputs are deterministic; repository policy, forks,
closing links and the apply step."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import decontam.run as decontam_run
from decontam.apply import propagate
from decontam.config import DecontamConfig
from decontam.run import decontam, dropped_ids, load_references
from ingest.simulator import World, WorldSpec
from ingest.store import DataRoot
from tests.decontam.data import (
    comment,
    disguise,
    file_patches,
    issue,
    lite,
    pull,
    pull_file,
    repo_row,
    verified,
    world_tables,
    write,
)

VERIFIED = ("bundled:swe-bench-verified",)
KEEP = DecontamConfig(references=VERIFIED, repo_policy="keep")


@pytest.fixture(scope="module")
def refs():
    return load_references(VERIFIED)


def _flags(root: DataRoot) -> dict[str, dict]:
    return {r["record_id"]: r for r in pq.read_table(root.path("decontam/flags/flags.parquet")).to_pylist()}


def _quote(test_patch: str, rng: random.Random) -> str:
    """A few consecutive lines of a test patch's hunks (context and added, diff prefix removed)
    with some content (at least 40 words): what someone pastes into a discussion."""
    lines = [x[1:] for x in test_patch.splitlines()
             if x[:1] in (" ", "+") and not x.startswith("+++") and x[1:].strip()]
    for _ in range(50):
        s = rng.randrange(max(1, len(lines) - 8))
        quote = lines[s:s + rng.randint(4, 8)]
        if sum(len(x.split()) for x in quote) >= 40:
            return "\n".join(quote)
    return "\n".join(lines[:10])


def test_planted_verified_content_is_flagged_with_its_instance(tmp_path, refs):
    rows = verified()[::25]  # 20 instances across the repositories
    rng = random.Random(5)
    tables: dict[str, list[dict]] = {"issues": [], "pulls": [], "comments": [], "pull_files": []}
    truth: dict[str, tuple[str, str]] = {}
    for k, r in enumerate(rows, start=1):
        iid = r["instance_id"]
        title, _, body = r["problem_statement"].partition("\n")
        tables["issues"].append(issue("notes/agent-logs", k, "log", disguise(r["problem_statement"], k)))
        truth[f"notes__agent-logs-{k}"] = (iid, "text")
        tables["pulls"].append(pull("someone/other", k, "Apply upstream fix", "Backport"))
        tables["pull_files"] += [pull_file("someone/other", k, p, h) for p, h in file_patches(r["patch"])]
        truth[f"someone__other-{k}"] = (iid, "patch")
        tables["issues"].append(issue("chat/room", k, "Question", "See thread"))
        tables["comments"].append(comment("chat/room", k, k, f"This test covers it:\n```python\n"
                                          f"{_quote(r['test_patch'], rng)}\n```\nthoughts?"))
        truth[f"chat__room-{k}"] = (iid, "text")
        repo, number = r["repo"], int(iid.rsplit("-", 1)[1])
        tables["pulls"].append(pull(repo, number, title, "A fix", linked=[f"{repo.replace('/', '__')}-{number - 1}"]))
        tables["issues"].append(issue(repo, number - 1, title, "the original report, in other words"))
        truth[iid] = (iid, "reference_pr")
        truth[f"{repo.replace('/', '__')}-{number - 1}"] = (iid, "reference_closes")
    write(DataRoot(tmp_path), tables)
    s = decontam(str(tmp_path), KEEP, refs=refs)
    flags = _flags(DataRoot(tmp_path))
    missed = [rid for rid, (iid, _) in truth.items() if rid not in flags or iid not in flags[rid]["instance_ids"]]
    assert missed == [], missed  # recall 100% with the right instance id
    for rid, (_, rule) in truth.items():
        assert any(x.startswith(rule) for x in flags[rid]["rules"]), (rid, flags[rid]["rules"])
    # nothing else, and the one-liner gold patches (several of the 20 add one line) came through the patch rule
    assert set(flags) == set(truth) and s.flagged == len(truth)
    audit = pq.read_table(tmp_path / "decontam" / "audit" / "audit.parquet").to_pylist()
    ev = [a for a in audit if a["record_id"] == "notes__agent-logs-1" and a["flagged"]][0]
    text = issue("x/y", 1, "log", disguise(rows[0]["problem_statement"], 1))
    assert ev["evidence"] == ("log\n\n" + text["body"])[ev["start"]:ev["end"]][:500]
    assert ev["reference"] == "swe-bench-verified" and ev["reference_sha256"] == refs[0].content_sha256


def _lite_only_tables() -> tuple[dict[str, list[dict]], int]:
    ver = {r["instance_id"] for r in verified()}
    tables: dict[str, list[dict]] = {"issues": [], "pulls": [], "comments": [], "pull_files": []}
    for k, r in enumerate(x for x in lite() if x["instance_id"] not in ver):
        repo, number = r["repo"], int(r["instance_id"].rsplit("-", 1)[1])
        title, _, body = r["problem_statement"].partition("\n")
        tables["issues"].append(issue(repo, 10**6 + k, title, body))
        if r["hints_text"]:
            tables["comments"].append(comment(repo, 10**6 + k, k, r["hints_text"]))
        tables["pulls"].append(pull(repo, number, f"Fix: {title}"[:200], "See the issue."))
        tables["pull_files"] += [pull_file(repo, number, p, h) for p, h in
                                 file_patches(r["patch"]) + file_patches(r["test_patch"])]
    return tables, len(tables["issues"]) + len(tables["pulls"])


def test_lite_only_instances_are_not_flagged_against_verified(tmp_path, refs):
    """Real issues and fixes of the same 12 repositories, not in Verified (repository policy keep,
    so only the reference, text and patch layers judge them)."""
    tables, n = _lite_only_tables()
    write(DataRoot(tmp_path), tables)
    decontam(str(tmp_path), KEEP, refs=refs)
    flags = _flags(DataRoot(tmp_path))
    by_overlap = {k: v for k, v in flags.items() if v["reason"] in ("text", "patch")}
    # One Lite-only issue's discussion links a Verified PR (github.com/sympy/sympy/pull/14248): the
    # reference rule is right to flag it; it is not a false positive of the matchers.
    assert {k: v["rules"] for k, v in flags.items() if v["reason"] == "reference"} == {
        "sympy__sympy-1000172": ["reference_mention"]}
    assert n == 414 and len(by_overlap) / n <= 0.005, sorted(by_overlap)


def test_simulator_world_is_not_flagged(tmp_path, refs):
    tables = world_tables(World.generate(WorldSpec.demo(seed=1)))
    write(DataRoot(tmp_path), tables)
    s = decontam(str(tmp_path), DecontamConfig(references=("bundled:swe-bench-verified", "bundled:swe-bench-lite")))
    assert s.records > 100 and s.flagged == 0


def test_boilerplate_is_not_evidence_but_the_leak_is(tmp_path):
    """A team's own benchmark whose problem statement carries a traceback header, the Apache
    licence header and issue-template lines: clean text with the same boilerplate is kept."""
    apache = ('Licensed under the Apache License, Version 2.0 (the "License");\nyou may not use this file except in '
              "compliance with the License.\nYou may obtain a copy of the License at\n\n"
              "    http://www.apache.org/licenses/LICENSE-2.0\n")
    template = ("**Describe the bug**\nA clear and concise description of what the bug is.\n\n**To Reproduce**\n"
                "Steps to reproduce the behavior:\n\n**Expected behavior**\n"
                "A clear and concise description of what you expected to happen.\n")
    tb = 'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\n'
    leak = ("the frobnicator drops every third widget when the quantum flux capacitor runs in reverse mode "
            "on a leap day and nobody noticed until the audit of march")
    ps = f"{template}\n{tb}  File \"/srv/acme/core.py\", line 9, in run\nKeyError: 'flux'\n\n{apache}\n{leak}\n"
    own = tmp_path / "own.jsonl"
    import json

    own.write_text(json.dumps({"instance_id": "acme__frob-12", "repo": "acme/frob", "problem_statement": ps,
                               "hints_text": "", "patch": "", "test_patch": ""}) + "\n")
    clean = f"{template}\nSomething else entirely breaks in our parser.\n\n{tb}\nValueError: nope\n\n{apache}"
    write(DataRoot(tmp_path / "d"), {"issues": [issue("x/clean", 1, "Parser bug", clean),
                                                issue("x/leak", 2, "Frob", f"Seen elsewhere: {leak}")]})
    decontam(str(tmp_path / "d"), DecontamConfig(references=(f"own={own}",)))
    assert set(_flags(DataRoot(tmp_path / "d"))) == {"x__leak-2"}


def test_outputs_are_byte_identical_across_runs_and_input_order(tmp_path, refs, monkeypatch):
    tables, _ = _lite_only_tables()
    tables["issues"].append(issue("notes/a", 1, "t", disguise(verified()[3]["problem_statement"], 3)))
    write(DataRoot(tmp_path / "a"), tables)
    shuffled = {k: sorted(v, key=lambda r: random.Random(str(r)).random()) for k, v in tables.items()}
    write(DataRoot(tmp_path / "b"), shuffled)
    decontam(str(tmp_path / "a"), KEEP, refs=refs)
    monkeypatch.setattr(decontam_run, "SCAN_BATCH", 50)  # other partitions and scan batches too
    decontam(str(tmp_path / "b"), KEEP.model_copy(update={"partition_records": 37}), refs=refs)
    for rel in ("decontam/flags/flags.parquet", "decontam/audit/audit.parquet", "decontam/references.parquet"):
        assert Path(tmp_path / "a" / rel).read_bytes() == Path(tmp_path / "b" / rel).read_bytes(), rel


def test_repository_policy_forks_mirrors_and_apply(tmp_path, refs):
    root = DataRoot(tmp_path)
    write(root, {
        "repos": [repo_row("someone/flask", fork=True, parent="pallets/flask"),
                  repo_row("mirrors/pytest", description="Read-only mirror of pytest-dev/pytest"),
                  repo_row("acme/app")],
        "issues": [issue("pallets/flask", 1, "old", "x", day=-400), issue("pallets/flask", 2, "new", "y", day=10),
                   issue("someone/flask", 3, "fork issue", "z"), issue("mirrors/pytest", 4, "m", "w"),
                   issue("acme/app", 5, "clean", "nothing to see")],
    })
    decontam(str(tmp_path), DecontamConfig(references=VERIFIED), refs=refs)
    f = _flags(root)
    assert set(f) == {"pallets__flask-1", "pallets__flask-2", "someone__flask-3", "mirrors__pytest-4"}
    assert {v["reason"] for v in f.values()} == {"repository"}
    decontam(str(tmp_path), DecontamConfig(references=VERIFIED, repo_policy="after_date", repo_after="2024-01-01"),
             refs=refs)
    assert set(_flags(root)) == {"pallets__flask-2", "someone__flask-3", "mirrors__pytest-4"}
    seqs = pa.table({"sequence_id": ["bugfixer_v1:a", "bugfixer_v1:b"],
                     "source_ids": [["acme__app-5"], ["pallets__flask-2", "acme__app-5"]]})
    assert propagate(seqs, dropped_ids(str(tmp_path))).column("sequence_id").to_pylist() == ["bugfixer_v1:b"]


def test_keys_common_in_the_corpus_are_boilerplate_unless_the_instance_was_copied(tmp_path):
    """Rule 3 of decontam/index.py: a reference sentence that records of many unrelated
    repositories carry (a CI notice) is no evidence, while the instance's specific text still is;
    and an instance copied whole into many repositories is found in every copy."""
    import json

    notice = ("please run the nightly integration suite against the staging cluster before merging "
              "any change that touches the scheduler or the billing exporter")
    own_text = ("the reconciler double counts refunds issued in a foreign currency when the ledger snapshot "
                "was taken between the settlement cutoff and the exchange rate refresh at midnight utc. "
                "it happens only for merchants on the weekly payout schedule whose first refund of the week "
                "arrives before their first sale, because the running balance starts from an empty bucket "
                "and the conversion step reads the stale rate table twice. the audit export then shows the "
                "same refund under two journal entries with different amounts, and the monthly close refuses "
                "to balance until someone deletes one of them by hand in the admin console")
    copied = ("quarterly forecasts render negative inventory for warehouses that were merged into another "
              "region after the fiscal year started because the transfer table keeps both identifiers")
    refs = tmp_path / "own.jsonl"
    refs.write_text(
        json.dumps({"instance_id": "acme__ledger-7", "repo": "acme/ledger", "problem_statement": f"{notice}\n\n{own_text}",
                    "hints_text": "", "patch": "", "test_patch": ""}) + "\n"
        + json.dumps({"instance_id": "acme__stock-9", "repo": "acme/stock", "problem_statement": copied,
                      "hints_text": "", "patch": "", "test_patch": ""}) + "\n")
    issues = [issue(f"team{k}/svc", 1, "CI", f"Reminder for contributors: {notice}.") for k in range(4)]
    issues += [issue(f"mirror{k}/logs", 2, "run log", f"task: {copied}") for k in range(4)]
    issues.append(issue("x/notes", 3, "Refunds", f"Found it: {own_text}"))
    write(DataRoot(tmp_path / "d"), {"issues": issues})
    cfg = DecontamConfig(references=(f"own={refs}",), common_min_repos=3)
    decontam(str(tmp_path / "d"), cfg)
    flags = _flags(DataRoot(tmp_path / "d"))
    assert set(flags) == {"x__notes-3"} | {f"mirror{k}__logs-2" for k in range(4)}
    # With the corpus rule off (a threshold no key reaches), the notice alone flags every CI issue.
    decontam(str(tmp_path / "d"), cfg.model_copy(update={"common_min_repos": 100}))
    assert {f"team{k}__svc-1" for k in range(4)} <= set(_flags(DataRoot(tmp_path / "d")))
