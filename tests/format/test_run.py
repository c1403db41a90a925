"""The format stage end to end on acme/shop (a real git repository built in tmp and ingested by the
git source): golden texts of each kind for PR #12, each filter's drop reason, drops propagated from
dedup and decontam, 100% redaction of planted secrets, the re-apply check, determinism."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from format.config import FormatConfig
from format.run import REJECTS_PATH, check_edits, format_stage, sequences_path
from format.templates import KINDS
from format.tokens import EOT, QwenCounter
from ingest.errors import ConfigError
from tests.format.data import SECRETS, ingest_shop

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shop")
    root, commits = ingest_shop(tmp)
    return root


@pytest.fixture
def data(shop, tmp_path):
    """A private copy of the ingested data root (tests write outputs into it)."""
    dest = tmp_path / "data"
    shutil.copytree(shop.root, dest)
    return dest


def _seqs(data: Path) -> dict[str, dict]:
    out = {}
    for kind in KINDS:
        for r in pq.read_table(data / sequences_path(kind)).to_pylist():
            out[r["sequence_id"]] = r
    return out


def _rejects(data: Path) -> dict[str, str]:
    return {r["sequence_id"]: r["reason"] for r in pq.read_table(data / REJECTS_PATH).to_pylist()}


def test_golden_texts_of_each_kind(data):
    format_stage(data, FormatConfig())
    seqs = _seqs(data)
    names = ["bugfixer_v1:acme__shop-12:localization", "bugfixer_v1:acme__shop-12:code_edit",
             "testwriter_v1:acme__shop-12:localization", "testwriter_v1:acme__shop-12:code_edit",
             "commitpack_v1:acme__shop-12:commit_pack"]
    counter = QwenCounter()
    for sid in names:
        r = seqs[sid]
        path = GOLDEN / (sid.replace(":", "__") + ".golden")
        if UPDATE:
            path.write_text(r["text"])
        assert r["text"] == path.read_text(), sid
        assert r["text"] == r["prompt"] + r["response"] and r["prompt"].endswith("\n")
        # Exact ids: the prompt's, then the response's, then <|endoftext|>; literal control strings are text.
        ids = counter.encode(r["prompt"]) + counter.encode(r["response"]) + [EOT]
        assert counter.encode(r["text"]) + [EOT] == ids
        assert (r["n_tokens"], r["n_prompt_tokens"]) == (len(ids), len(counter.encode(r["prompt"])))
        assert ids.count(EOT) == 1 and not any(i > EOT for i in ids)
        assert (r["repo"], r["license"], r["record_id"]) == ("acme/shop", "MIT", "acme__shop-12")
    assert seqs[names[0]]["source_ids"] == ["acme__shop-12", "acme__shop-7"]
    assert seqs[names[4]]["source_ids"] == ["acme__shop-12"]  # commit packs use no issue text
    # the split: attestation.py is code, tests/ is test; localization targets are the changed files
    assert seqs[names[0]]["response"] == "```\nsrc/shop/attestation.py\nsrc/shop/cart.py\n```"
    assert seqs[names[2]]["response"] == "```\ntests/test_cart.py\n```"
    assert "tests/" not in seqs[names[0]]["prompt"] and "    test_cart.py" in seqs[names[2]]["prompt"]
    assert seqs[names[1]]["response"].startswith("Discussion of the issue:\n\nReproduced.")
    assert "Build passed." not in seqs[names[1]]["text"]  # bot comments are not discussion
    # commit order in the pack, each message followed by its own change (not the PR's whole diff)
    pack = seqs[names[4]]["response"]
    first, second = pack.split("--- commit 2 ---")
    assert "Apply the discount" in first and "src/shop/cart.py" in first and "attestation.py" not in first
    assert "Stricter attestation" in second and "src/shop/attestation.py" in second and "cart.py" not in second


def test_commit_packs_without_commit_diffs(data):
    # An API-only crawl has no per-commit diffs: a one-commit PR's diff is its commit's change,
    # a PR of several commits cannot pair messages with changes and is rejected with the reason.
    shutil.rmtree(data / "raw" / "commit_diffs")
    s = format_stage(data, FormatConfig())
    seqs, rej = _seqs(data), _rejects(data)
    assert rej["commitpack_v1:acme__shop-12:commit_pack"] == "no_commit_diffs"
    assert s.drops["commitpack_v1:no_commit_diffs"] == 1
    pack = seqs["commitpack_v1:acme__shop-13:commit_pack"]["response"]
    assert pack.startswith("--- commit 1 ---\nDocument pricing (#13)") and "+++ b/README.md" in pack
    assert "notes.txt" not in pack  # only the configured extensions


def test_each_filter_drops_with_its_reason(data):
    s = format_stage(data, FormatConfig())
    rej = _rejects(data)
    for sample in ("localization", "code_edit"):
        assert rej[f"bugfixer_v1:acme__shop-13:{sample}"] == "non_python_change"  # docs/notes.txt
        assert rej[f"bugfixer_v1:acme__shop-14:{sample}"] == "file_added_or_removed"  # helpers.py added
        assert rej[f"bugfixer_v1:acme__shop-15:{sample}"] == "too_many_files"  # 4 modules
        assert rej[f"bugfixer_v1:acme__shop-16:{sample}"] == "too_many_blocks"  # 6 separate changes
        assert rej[f"testwriter_v1:acme__shop-16:{sample}"] == "no_test_change"
    seqs = _seqs(data)
    assert sorted(seqs) == sorted([f"{k}:acme__shop-12:{t}" for k in ("bugfixer_v1", "testwriter_v1")
                                   for t in ("localization", "code_edit")]
                                  + [f"commitpack_v1:acme__shop-{n}:commit_pack" for n in range(12, 17)])
    assert s.drops["bugfixer_v1:too_many_blocks"] == 2 and s.sequences == {"bugfixer_v1": 2, "testwriter_v1": 2,
                                                                          "commitpack_v1": 5}
    assert s.tokens["bugfixer_v1"] == sum(r["n_tokens"] for r in seqs.values() if r["kind"] == "bugfixer_v1")
    # The limits are settings: 6 blocks and 4 files pass when allowed; too long is dropped, never cut.
    format_stage(data, FormatConfig(max_blocks=6, max_files=4))
    seqs = _seqs(data)
    assert "bugfixer_v1:acme__shop-16:code_edit" in seqs and "bugfixer_v1:acme__shop-15:code_edit" in seqs
    assert seqs["bugfixer_v1:acme__shop-16:code_edit"]["response"].count("<<<<<<< SEARCH") == 6
    s = format_stage(data, FormatConfig(max_tokens=300))
    rej = _rejects(data)
    assert rej["bugfixer_v1:acme__shop-12:code_edit"] == "too_long"
    assert all(r["n_tokens"] <= 300 for r in _seqs(data).values())
    assert s.drops["bugfixer_v1:too_long"] >= 1


def test_planted_secrets_and_emails_are_all_redacted(data):
    s = format_stage(data, FormatConfig())
    texts = [r["text"] for r in _seqs(data).values()]
    blob = "\n".join(texts)
    for name, secret in SECRETS.items():
        assert secret not in blob, name
    assert "Signed-off-by: <SIGNATURE>" in blob and "<HANDLE>" in blob and "<EMAIL>" in blob
    assert "<TOKEN>" in blob and "<AWS_KEY>" in blob and ":<PASSWORD>@mirror" in blob and "<PRIVATE_KEY>" in blob
    assert 'password = "<SECRET>"' in blob
    for kind in ("email", "token", "aws_key", "url_password", "private_key", "signature", "handle",
                 "secret_assignment"):
        assert s.redactions.get(kind, 0) >= 1, kind
    # In code, @name is a decorator: only commit messages lose handles.
    assert "@" not in "".join(r["prompt"] for r in _seqs(data).values() if r["kind"] == "commitpack_v1")


def test_removed_records_remove_their_sequences(data):
    # decontam removes issue #7: sequences using its text go; the commit pack (PR only) stays.
    os.makedirs(data / "decontam" / "flags")
    pq.write_table(pa.table({"record_id": ["acme__shop-7"], "reason": ["text"]}),
                   data / "decontam" / "flags" / "flags.parquet")
    # dedup removes PR #16 as a near duplicate: every sequence built from it goes.
    os.makedirs(data / "dedup" / "flags")
    pq.write_table(pa.table({"record_id": ["acme__shop-16", "acme__shop-13"], "keep": [False, True],
                             "reason": ["near", None]}), data / "dedup" / "flags" / "flags.parquet")
    s = format_stage(data, FormatConfig())
    rej, seqs = _rejects(data), _seqs(data)
    assert rej["bugfixer_v1:acme__shop-12:code_edit"] == "decontam:text"
    assert rej["testwriter_v1:acme__shop-12:localization"] == "decontam:text"
    assert "commitpack_v1:acme__shop-12:commit_pack" in seqs
    assert rej["commitpack_v1:acme__shop-16:commit_pack"] == "dedup:near"
    assert rej["bugfixer_v1:acme__shop-16:code_edit"] == "dedup:near"
    assert "commitpack_v1:acme__shop-13:commit_pack" in seqs  # kept by dedup
    assert s.drops["bugfixer_v1:decontam:text"] == 2 and s.drops["commitpack_v1:dedup:near"] == 1


def test_check_reapplies_every_edit_and_catches_a_bad_one(data):
    format_stage(data, FormatConfig(max_blocks=6, max_files=4))
    res = check_edits(data)
    assert res.ok and res.sequences == res.reapplied == 4 and res.edits >= 10, res
    # Tamper with one stored response: the check, reading the tables alone, finds it.
    path = data / sequences_path("bugfixer_v1")
    t = pq.read_table(path)
    rows = t.to_pylist()
    for r in rows:
        if r["sequence_id"] == "bugfixer_v1:acme__shop-12:code_edit":
            r["response"] = r["response"].replace("return total - discount", "return total + discount")
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), path)
    res = check_edits(data)
    assert res.failures == [("bugfixer_v1:acme__shop-12:code_edit", "post_image_mismatch: src/shop/cart.py")]


def test_same_inputs_give_byte_identical_files(data, tmp_path):
    format_stage(data, FormatConfig())
    first = {k: (data / sequences_path(k)).read_bytes() for k in KINDS}
    first["rejects"] = (data / REJECTS_PATH).read_bytes()
    format_stage(data, FormatConfig(partition_repos=1))
    again = {k: (data / sequences_path(k)).read_bytes() for k in KINDS}
    again["rejects"] = (data / REJECTS_PATH).read_bytes()
    assert first == again


def test_bad_input_is_one_line(tmp_path, data):
    with pytest.raises(ConfigError, match="no raw pulls to format"):
        format_stage(tmp_path / "empty", FormatConfig())
    with pytest.raises(ConfigError, match=r"format.tokenizer /nope/tokenizer.json: .*no such file"):
        format_stage(data, FormatConfig(tokenizer="/nope/tokenizer.json"))
    with pytest.raises(ConfigError, match="format.max_blocks"):
        FormatConfig.from_dict({"max_blocks": 0}, "format")
    with pytest.raises(ConfigError, match="format.kinds"):
        FormatConfig.from_dict({"kinds": ["bugfixer_v2"]}, "format")
    with pytest.raises(ConfigError, match="no sequences to check"):
        check_edits(tmp_path / "empty")
