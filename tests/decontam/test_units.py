"""Kernels and pure pieces: keys equal the Python reference, bundled references and their hashes,
reference specs and bad input, hunk containment, propagation to sequences."""

from __future__ import annotations

import hashlib
import random
import re

import pyarrow as pa
import pytest

from decontam import ngrams
from decontam.apply import apply, propagate
from decontam.patches import PatchIndex, parse_hunks
from decontam.references import BUNDLED, BUNDLED_DIR, from_table, parse_spec
from decontam.run import load_reference
from ingest.errors import ConfigError


def test_kernel_keys_equal_the_python_reference():
    rng = random.Random(7)
    words = ["Foo", "bar_baz", "x", "ÜNI", "django", "Error:", "**bold**", "`code`", "a", "12345", "é中"]
    texts = ["".join(rng.choice(words) + rng.choice([" ", "  ", "\n", ", ", "-", ""]) for _ in range(rng.randint(0, 80)))
             for _ in range(300)]
    h = ngrams.all_keys(texts, 5, 20)
    got: dict[int, list] = {}
    for d, v, k, s, e in zip(h.doc, h.val, h.kind, h.start, h.end, strict=True):
        got.setdefault(int(d), []).append((int(k), int(v), int(s), int(e)))
    for i, t in enumerate(texts):
        assert sorted(ngrams.keys_py(t, 5, 20)) == sorted(got.get(i, [])), t


def test_scanner_finds_shared_keys_with_their_spans_whatever_the_markup():
    ref = "The quick brown fox jumps over the lazy dog near the river bank today"
    keys = sorted({k for _, k, _, _ in ngrams.keys_py(ref, 5, 20)})
    sc = ngrams.Scanner(5, 20, keys)
    text = "intro words here.\n\n**The quick** brown  `fox`\njumps over the LAZY dog -- done"
    h = sc.scan([text, "nothing in common with it at all here really"])
    assert set(h.doc.tolist()) == {0}
    b = text.encode()
    spans = {b[s:e].decode() for s, e, k in zip(h.start, h.end, h.kind, strict=True) if k == 0}
    assert "The quick** brown  `fox`\njumps" in spans and "jumps over the LAZY dog" in spans


def test_bundled_references_match_the_shared_readme():
    readme = (BUNDLED_DIR / "README.md").read_text()
    for name, path in BUNDLED.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in readme, name
        ref = load_reference(f"bundled:{name}")
        assert ref.name == name and ref.ids_sha256 in readme
    assert load_reference("bundled:swe-bench-verified").n_instances == 500


def test_reference_specs_and_bad_input(tmp_path):
    assert parse_spec("team=/x/bench.jsonl.gz") == ("team", "/x/bench.jsonl.gz")
    assert parse_spec("princeton-nlp/SWE-bench_Lite") == ("SWE-bench_Lite", "princeton-nlp/SWE-bench_Lite")
    with pytest.raises(ConfigError, match="no such file"):
        load_reference(str(tmp_path / "missing.parquet"))
    with pytest.raises(ConfigError, match="missing column 'patch'"):
        from_table("mine", "x", pa.table({"instance_id": ["a__b-1"], "repo": ["a/b"], "problem_statement": ["p"],
                                          "hints_text": [""], "test_patch": [""]}))
    # JSONL with the same columns loads (a team's own benchmark)
    p = tmp_path / "own.jsonl"
    p.write_text('{"instance_id": "acme__tool-7", "repo": "acme/tool", "problem_statement": "x", '
                 '"hints_text": null, "patch": "", "test_patch": ""}\n')
    ref = load_reference(f"own={p}")
    assert (ref.name, ref.table.column("number").to_pylist()) == ("own", [7])


def _hunks(*patches):
    return [(i, "patch", h.lines) for i, p in enumerate(patches) for h in parse_hunks(p)]


GOLD = ("diff --git a/pkg/mod.py b/pkg/mod.py\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -10,6 +10,7 @@ def f(x):\n"
        "     if x is None:\n         raise ValueError('x')\n     y = compute(x)\n+    y = normalize(y)\n"
        "     return y\n \n \n")


def test_a_one_line_gold_hunk_matches_with_its_context_and_a_bare_line_does_not():
    idx = PatchIndex(_hunks(GOLD), ["o/r"], min_context=2, min_changed_alone=4, common_max_instances=2)
    copied = re.sub(r"(?m)^@@ .*", "@@ -99,6 +99,7 @@", GOLD.split("\n", 3)[3]).replace("    ", "\t")
    (h,) = parse_hunks(copied)
    assert idx.match(h.lines) == [(0, "patch", 7)]
    (bare,) = parse_hunks("@@ -1 +1 @@\n+    y = normalize(y)\n")
    assert idx.match(bare.lines) == []
    # a corpus hunk that contains the gold hunk among other changes still matches
    (big,) = parse_hunks("@@ -1,12 +1,14 @@\n+import os\n" + "".join(
        line + "\n" for line in GOLD.splitlines()[4:]) + "+print('done')\n")
    assert idx.match(big.lines) == [(0, "patch", 7)]


def test_propagate_and_apply():
    seqs = pa.table({"sequence_id": ["s1", "s2", "s3"],
                     "source_ids": [["o__r-1", "o__r-2"], ["o__r-3"], ["o__r-4", "o__r-2"]]})
    dropped = pa.table({"record_id": ["o__r-2"], "reason": ["text"]})
    assert propagate(seqs, dropped).to_pylist() == [{"sequence_id": "s1", "record_id": "o__r-2"},
                                                    {"sequence_id": "s3", "record_id": "o__r-2"}]
    recs = pa.table({"record_id": ["o__r-1", "o__r-2"]})
    assert apply(recs, dropped).column("record_id").to_pylist() == ["o__r-1"]
