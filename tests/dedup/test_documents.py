"""Dedup documents: template, bot and e-mail stripping, diffs, hashing, the partition table."""

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dedup.documents as D
from dedup.documents import (
    DOC_RULES,
    DOCUMENTS,
    build_documents,
    clean_bodies,
    clean_body,
    content_hash,
    content_hashes,
    issue_document,
    normalize_for_hash,
    pull_document,
)
from ingest.filters import is_bot
from ingest.schema import TABLES

T0 = datetime(2024, 1, 1, tzinfo=UTC)

ISSUE_FORM = """\
<!--
  Please search existing issues first.
-->
Thanks for taking the time to fill out this bug report! 🐛

### Is there an existing issue for this?

- [X] I have searched the existing issues

### Current Behavior

Calling `parse("")` raises IndexError. <!-- be specific -->

### Expected Behavior

_No response_

### Steps To Reproduce

```python
# a comment, not a heading
parse("")
- [ ] not a task inside code
```

## Environment

### OS

_No response_

### Version

_No response_

### Checklist

- [ ] I agree to follow the Code of Conduct
* [x] I read the docs
"""


def test_issue_form_template_is_stripped():
    doc = issue_document({"title": " parse crashes on empty input ", "body": ISSUE_FORM}, [])
    assert doc == (
        "parse crashes on empty input\n\n"
        "### Current Behavior\n\n"
        'Calling `parse("")` raises IndexError.\n\n'
        "### Steps To Reproduce\n\n"
        "```python\n# a comment, not a heading\nparse(\"\")\n- [ ] not a task inside code\n```"
    )


def test_templates_kept_when_disabled():
    doc = issue_document({"title": "t", "body": "### A\n\n_No response_\n<!-- x -->"}, [], strip_templates=False)
    assert doc == "t\n\n### A\n\n_No response_\n<!-- x -->"


def test_heading_with_subsection_content_is_kept():
    body = "## Details\n### Expected behavior\nit works\n### Actual\n\n**Describe the bug**\nA clear and concise description of what the bug is.\n"
    assert clean_body(body) == "## Details\n### Expected behavior\nit works\n### Actual\n\n**Describe the bug**"


def _c(cid, body, author="alice", author_type="User", kind="issue", minutes=0):
    return {"record_id": "a__b-1", "repo": "a/b", "number": 1, "kind": kind, "comment_id": cid, "author": author,
            "author_type": author_type, "body": body, "created_at": T0 + timedelta(minutes=minutes)}


EMAIL_REPLY = (
    "Confirmed on 2.1 too.\r\n"
    "Sent from my iPhone\r\n"
    "\r\n"
    "On Mon, Jan 1, 2024 at 10:00 AM Bob <notifications@github.com>\r\n"
    "wrote:\r\n"
    "\r\n"
    "> It crashes on empty input.\r\n"
    ">\r\n"
    "> —\r\n"
    "> You are receiving this because you commented.\r\n"
    "> Reply to this email directly, view it on GitHub.\r\n"
    "\r\n"
    "—\r\n"
    "Reply to this email directly, view it on GitHub<https://github.com/a/b/issues/1>, or unsubscribe.\r\n"
    "You are receiving this because you authored the thread.\r\n"
)


def test_thread_with_bot_and_email_reply():
    comments = [
        _c(3, "> quoted in markdown\n\nI agree.\n\n-- \nAlice Smith\nACME Corp", minutes=5),
        _c(9, EMAIL_REPLY, author="carol", minutes=2),
        _c(2, "Codecov report: 98%", author="codecov-commenter", minutes=1),
        _c(1, "Stale: closing soon", author="helper", author_type="Bot", minutes=1),
        _c(4, "Same time, larger id", minutes=5),
        _c(5, "<!-- only a comment -->", minutes=6),
        _c(6, "extra bot", author="Our-Release-Helper", minutes=7),
    ]
    doc = issue_document({"title": "Crash", "body": "It crashes on empty input."}, comments,
                         extra_bot_logins=("our-release-helper",))
    assert doc == ("Crash\n\nIt crashes on empty input.\n\n"
                   "Confirmed on 2.1 too.\n\n"
                   "> quoted in markdown\n\nI agree.\n\n"
                   "Same time, larger id")
    kept = issue_document({"title": "Crash", "body": None}, comments[:3], strip_bot_comments=False,
                          strip_quoted_email=False, include_comments=True)
    assert kept.startswith("Crash\n\nCodecov report: 98%\n\nConfirmed on 2.1 too.\nSent from my iPhone\n\nOn Mon,")
    assert kept.endswith("I agree.\n\n--\nAlice Smith\nACME Corp")  # kept; its trailing space is not
    assert issue_document({"title": "Crash", "body": "b"}, comments, include_comments=False) == "Crash\n\nb"


def test_review_comments_are_not_issue_text():
    doc = issue_document({"title": "t", "body": "b"}, [_c(1, "a review", kind="review"), _c(2, "hi")])
    assert doc == "t\n\nb\n\nhi"


def test_email_rules_skip_code_and_plain_quotes():
    body = "```sql\n-- \nSELECT 1;\n```\n> On Mon someone wrote:\n> hi\nOn Linux it works.\nafter"
    assert clean_body(body) == body.replace("-- \n", "--\n")  # only the trailing space goes
    assert clean_body("x\n\nOn Tue, 2 Jan 2024, Bob wrote:\n> q\n> q2\n\ny") == "x\n\ny"


def test_whitespace_normalization():
    body = "a  \r\n\r\n\r\n\r\nb\t\rc\r\n\r\n\r\n"
    assert issue_document({"title": "T\r\n", "body": body}, [_c(1, "\n\n  \n  x  \n\n")]) == "T\n\na\n\nb\nc\n\n  x"


def test_max_chars():
    assert issue_document({"title": "abcdef", "body": "ghij"}, [], max_chars=9) == "abcdef\n\ng"
    assert pull_document({"title": "t", "body": None}, [{"path": "f", "patch": "@@ -1 +1 @@\n-a\n+b"}],
                         max_chars=12) == "t\n\ndiff --gi"
    with pytest.raises(ValueError):
        issue_document({"title": "t"}, [], max_chars=0)
    with pytest.raises(TypeError):
        issue_document({"title": "t"}, [], max_char=10)


PR_BODY = """\
<!-- Thank you for contributing! Describe your change below. -->
## Description

Handle empty input in `parse`.

Fixes #12

## Type of change

Please delete options that are not relevant.

- [x] Bug fix (non-breaking change which fixes an issue)
- [ ] New feature

## Checklist

- [x] I have added tests
"""

PR_FILES = [
    {"path": "src/parse.py", "previous_path": "src/parser.py", "status": "renamed",
     "patch": "@@ -1,2 +1,3 @@\r\n def parse(s):\r\n+    if not s: return None\r\n     return s[0]\r\n"},
    {"path": "docs/logo.png", "previous_path": None, "status": "modified", "patch": None},
    {"path": "README.md", "previous_path": None, "status": "modified", "patch": "@@ -1 +1 @@\n-old\n+new"},
]


def test_pull_document_template_and_diff():
    doc = pull_document({"title": "Fix parse", "body": PR_BODY}, PR_FILES)
    assert doc == (
        "Fix parse\n\n"
        "## Description\n\nHandle empty input in `parse`.\n\nFixes #12\n\n"
        "diff --git a/README.md b/README.md\n@@ -1 +1 @@\n-old\n+new\n"
        "diff --git a/src/parser.py b/src/parse.py\n@@ -1,2 +1,3 @@\n def parse(s):\n"
        "+    if not s: return None\n     return s[0]"
    )
    assert pull_document({"title": "Rename", "body": ""}, [{"path": "b", "previous_path": "a", "patch": ""}]) == \
        "Rename\n\ndiff --git a/a b/b"


def test_content_hash():
    a = "Crash   on\tEMPTY input\n\n"
    assert normalize_for_hash(a) == "crash on empty input"
    assert normalize_for_hash("Cafe\u0301") == "café"
    assert content_hash(a) == content_hash(" crash on empty INPUT") == content_hash("crash\non\nempty\ninput")
    assert content_hash(a) != content_hash("crash on empty inputs")
    assert content_hash("crash on") != content_hash("crashon")
    assert len(content_hash("")) == 32 and int(content_hash(a), 16) >= 0
    # Stable across processes and releases: a golden value (MurmurHash3 x64-128 of "hello world").
    assert content_hash("Hello  World") == "0e617feb46603f53b163eb607d4697ab"


def _table(name, rows):
    schema = TABLES[name].schema
    base = {f: None for f in schema.names}
    base.update(source="api", crawled_at=T0)
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=schema)


def test_build_documents():
    issues = _table("issues", [
        {"id": "a__b-10", "repo": "a/b", "number": 10, "title": "Crash", "body": "It crashes.", "created_at": T0,
         "is_pull_request": False},
        {"id": "a__b-2", "repo": "a/b", "number": 2, "title": "Same PR", "body": "x", "is_pull_request": True},
        {"id": "a__b-9", "repo": "a/b", "number": 9, "title": "Crash", "body": "IT  crashes.\n",
         "created_at": T0 + timedelta(days=1), "is_pull_request": None},
        {"id": "a__b-3", "repo": "a/b", "number": 3, "title": "Flagless PR row", "is_pull_request": None},
    ])
    pulls = _table("pulls", [
        {"id": "a__b-2", "repo": "a/b", "number": 2, "title": "Fix", "body": PR_BODY, "merged": True, "created_at": T0},
        {"id": "a__b-3", "repo": "a/b", "number": 3, "title": "Other", "body": None, "merged": False},
    ])
    comments = _table("comments", [
        {**_c(1, "thanks", minutes=3), "record_id": "a__b-10", "number": 10},
        {**_c(2, "bot", author="dependabot[bot]", author_type="Bot"), "record_id": "a__b-10", "number": 10},
        {**_c(3, "<!-- empty -->"), "record_id": "a__b-10", "number": 10},
        {**_c(4, "first"), "record_id": "a__b-10", "number": 10},
        {**_c(1, "LGTM", kind="review"), "record_id": "a__b-2", "number": 2},
        {**_c(7, "nit: rename", kind="review_comment"), "record_id": "a__b-2", "number": 2},
        {**_c(8, "merged, thanks"), "record_id": "a__b-2", "number": 2},
        {**_c(9, "unrelated repo"), "record_id": "x__y-1", "repo": "x/y"},
    ])
    files = _table("pull_files", [
        {"record_id": "a__b-2", "repo": "a/b", "number": 2, **f} for f in PR_FILES
    ])
    docs = build_documents(issues, pulls, comments, files)
    assert docs.schema.equals(DOCUMENTS, check_metadata=True)
    assert docs.schema.metadata[b"swe_curate.doc_rules"] == DOC_RULES.encode() == b"docs_v2"
    rows = docs.to_pylist()
    assert [(r["doc_id"], r["kind"], r["number"], r["merged"], r["n_comments"]) for r in rows] == [
        ("a__b-10", "issue", 10, None, 2),
        ("a__b-2", "pull", 2, True, 3),
        ("a__b-3", "pull", 3, False, 0),
        ("a__b-9", "issue", 9, None, 0),
    ]
    by_id = {r["doc_id"]: r for r in rows}
    assert by_id["a__b-10"]["text"] == "Crash\n\nIt crashes.\n\nfirst\n\nthanks"
    assert by_id["a__b-2"]["text"] == pull_document({"title": "Fix", "body": PR_BODY}, PR_FILES)
    assert by_id["a__b-3"]["text"] == "Other"
    assert all(r["n_chars"] == len(r["text"]) and r["repo"] == "a/b" for r in rows)
    assert all(r["content_hash"] == content_hash(r["text"]) for r in rows)
    assert by_id["a__b-9"]["created_at"] == T0 + timedelta(days=1)
    # Exact duplicates up to case and whitespace share a hash.
    assert by_id["a__b-9"]["content_hash"] != by_id["a__b-10"]["content_hash"]
    only = build_documents(issues, pulls, comments.slice(0, 0), files, include_comments=False)
    assert only.column("content_hash")[0] == only.column("content_hash")[3]
    assert only.column("n_comments").to_pylist() == [0, 0, 0, 0]


def test_build_documents_empty_and_duplicates():
    empty = {n: _table(n, []) for n in ("issues", "pulls", "comments", "pull_files")}
    docs = build_documents(**empty)
    assert docs.num_rows == 0 and docs.schema.equals(DOCUMENTS)
    dup = _table("issues", [{"id": "a__b-1", "repo": "a/b", "number": 1}] * 2)
    with pytest.raises(ValueError, match="a__b-1"):
        build_documents(dup, empty["pulls"], empty["comments"], empty["pull_files"])


# -- the column-wise fast path equals the one-text-at-a-time rules --------------------------------

SPACES = [c for c in map(chr, range(0x110000)) if c.isspace()]
WORDS = ["the", "Bug", "crash", "value", "None", "#12", "C#", "x", "é", "e\u0301", "İstanbul", "STRASSE", "Straße",
         "ΟΔΟΣ", "ΣΑΣ", "Σ", "ﬁle", "K", "Kelvin", "ǅ", "ᾼ", "错误", "🐛", "ß", "ǰ", "[x]", "[ ]", "<!--", "-->",
         "wrote:", "-- ", "--", "_", "*", "`code`", "tab\there", "a\u00a0b", "a\u3000b", "a\x1cb"]
MARKER_LINES = [
    "<!-- a comment -->", "<!--", "-->", "<!-- multi", "line -->", "text <!-- inline --> more",
    "- [ ] task", "* [x] done", "1. [X] numbered", "+ [ ]", "-[ ] not a task", "_No response_", "  _No response_  ",
    "# H1", "## H2", "###### H6", "####### seven", "   ### indented", "    #### code indent", "#no space", "#", "##\t",
    "```", "```python", "~~~", "````", "  ```",
    "On Mon, Jan 1, 2024 at 10:00 AM Bob <b@x.org> wrote:", "On Mon, Jan 1, 2024 Bob <b@x.org>", "wrote:",
    "On Linux it works.", "> quoted", ">", "> > nested", "-- ", "--", "— ", "—", "–", "---", "___", "-",
    "Reply to this email directly, view it on GitHub.", "> You are receiving this because you commented.",
    "Triage notifications on the go with GitHub Mobile for iOS", "Sent from my iPhone", "Sent from Mail for Windows",
    "Sent with Proton Mail secure email.", "Get Outlook for Android", "Sent from", "sent from my phone",
    "**Describe the bug**", "A clear and concise description of what the bug is.",
    "**A  clear and CONCISE description of what the bug is!**", "_Steps to reproduce the behavior:_",
    "Please describe.", "please\u00a0describe", "Please delete options that are not relevant.",
    "Thanks for taking the time to fill out this bug report!", "THANK YOU FOR TA\u212aING THE TIME TO FILL OUT THIS form",
    "Add any other context about the problem here.", "If applicable, add screenshots to help explain your problem.",
    "a clear and concise description of what you want to happen", "steps to reproduce the behavior, then more",
]
SEPARATORS = ["\n"] * 8 + ["\n\n", "\n\n\n", "\r\n", "\r", "\r\n\r\n", " \n", "\t\n", "\u2028", "\x85\n", "\n \n"]


def _random_body(rng):
    if rng.random() < 0.05:
        return rng.choice([None, "", "\n", " ", "\r\n", "x", "\u3000"])
    lines = []
    for _ in range(rng.randint(1, 25)):
        r = rng.random()
        if r < 0.35:
            line = rng.choice(MARKER_LINES)
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(0, 12))]
            line = "".join(w + rng.choice([" "] * 6 + SPACES) for w in words)
        if rng.random() < 0.2:  # a leading or trailing space, emphasis, a random case
            line = rng.choice(["", " ", "  ", "\t", "*", "> "]) + line + rng.choice(["", " ", "\u00a0", ".", ":"])
        if rng.random() < 0.1:
            line = rng.choice([line.upper(), line.lower(), line.title()])
        lines.append(line)
    body = ""
    for line in lines:
        body += line + rng.choice(SEPARATORS)
    if rng.random() < 0.5:
        body = body.rstrip("\r\n")
    if rng.random() < 0.1:
        body = rng.choice(["\n", "\n\n", " ", "\r\n"]) + body
    return body


def _isolated_bodies():
    """Every marker line and whitespace case alone in otherwise plain text (the markers of one rule)."""
    plain = "The parser fails on empty input.\nIt returns None instead of raising.\n\nSee #12 and C# docs."
    out = [plain, ISSUE_FORM, PR_BODY, EMAIL_REPLY]
    for line in MARKER_LINES + [f"x{c}" for c in SPACES] + [f"{c}x" for c in SPACES]:
        out += [line, f"{plain}\n{line}", f"{line}\n{plain}", f"{plain}\n{line}\n{plain}", f"{plain}\n\n{line}\n\n{plain}",
                f"{plain}\r\n{line}\r\n{plain}", f"{plain}\r{line}\r{plain}", f"{plain}\r\n{line}", f"{plain}\r{line}"]
    for sep in SEPARATORS:
        out += [f"a{sep}b", f"{sep}a", f"a{sep}"]
    return out


def _random_bodies(n, seed):
    rng = random.Random(seed)
    return [_random_body(rng) for _ in range(n)] + _isolated_bodies()


def test_python_whitespace_and_case_facts():
    # The RE2 classes and the numba kernel hard-code Python's whitespace; lowercasing to ASCII.
    expected = "".join(SPACES)
    assert expected == "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b))) \
        + "\u2028\u2029\u202f\u205f\u3000"
    cps = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF]
    arr = pa.array(cps)
    for cls, chars in ((D._RE2_SPACE, expected), (D._RE2_SPACE_BUT_NL, expected.replace("\n", ""))):
        hits = pc.match_substring_regex(arr, f"^[{cls}]$").to_numpy(zero_copy_only=False)
        assert {cps[i] for i in np.flatnonzero(hits)} == set(chars)
    lowered = [c.lower() for c in cps]
    to_ascii = {c for c, low in zip(cps, lowered, strict=True) if not c.isascii() and any(x.isascii() for x in low)}
    assert to_ascii == {"\u0130", "\u212a"} and "\u0130".lower() == "i\u0307"
    assert not any(any("A" <= x <= "Z" for x in low) for low in lowered)  # no code point lowers to A-Z
    # Lowercasing keeps whitespace whitespace and the rest not; one code point each but for U+0130.
    assert all(low == c if c.isspace() else not any(x.isspace() for x in low) for c, low in zip(cps, lowered, strict=True))
    assert [c for c, low in zip(cps, lowered, strict=True) if len(low) != 1] == ["\u0130"]
    assert D._lower_table()[[ord("A"), 0x212A, 0x3A3, 0x130, 0x1E9E]].tolist() == [ord("a"), ord("k"), -1, -1, 0xDF]


def test_clean_bodies_equal_clean_body():
    bodies = _random_bodies(3000, seed=1)
    arr = pa.array(bodies, pa.string())
    for strip_templates in (True, False):
        for strip_quoted_email in (True, False):
            opts = {"strip_templates": strip_templates, "strip_quoted_email": strip_quoted_email}
            expected = [clean_body(b, **opts) for b in bodies]
            assert clean_bodies(arr, **opts) == expected
    # Chunked columns too, and most random bodies do change (the markers are not trivially everywhere).
    chunked = pa.chunked_array([arr.slice(0, 1000), arr.slice(1000)])
    assert clean_bodies(chunked) == [clean_body(b) for b in bodies]
    assert sum(clean_body(b) != (b or "") for b in bodies) > len(bodies) // 2


def test_content_hashes_equal_content_hash():
    rng = random.Random(2)
    texts = [b or "" for b in _random_bodies(2000, seed=3)]
    texts += ["", " ", "\u3000", "a", "A", "İ", "ΟΔΟΣ ΣΑΣ", "Cafe\u0301", "K", "x\u2028y", "\x1c\x1dz\x1e\x1f"]
    texts += ["".join(rng.choice(WORDS + SPACES) for _ in range(rng.randint(0, 50))) for _ in range(2000)]
    texts += [f"a{c}b{c}{c}c{c}" for c in SPACES] + [c * 3 for c in SPACES]
    cased = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF and chr(i).lower() != chr(i)]
    texts += [f"x{c}Y" for c in cased] + [" ".join(cased[i:i + 40]) for i in range(0, len(cased), 40)]
    texts += ["I\u0307stanbul", "ΣΑΣ ΟΔΟΣ.", "Ⱥ" * 100, "\U00010400\U0001e900 🐛", "e\u0301\u0130"]
    assert content_hashes(texts) == [content_hash(t) for t in texts]
    assert content_hashes([]) == []


def _reference_documents(issues, pulls, comments, pull_files, **opts):
    """build_documents through the one-record-at-a-time functions: one row per document, by doc_id."""
    by_record, files = {}, {}
    for c in comments.to_pylist():
        by_record.setdefault(c["record_id"], []).append(c)
    for f in pull_files.to_pylist():
        files.setdefault(f["record_id"], []).append(f)
    doc_opts = {k: v for k, v in opts.items() if k in ("strip_templates", "strip_quoted_email")}
    bot_logins = opts.get("extra_bot_logins", ())

    def n_kept(record_id):
        return sum(1 for c in by_record.get(record_id, ())
                   if not (opts.get("strip_bot_comments", True) and is_bot(c["author"], c["author_type"], bot_logins))
                   and clean_body(c["body"], **doc_opts))

    rows = []
    for p in pulls.to_pylist():
        text = pull_document(p, files.get(p["id"], []), **opts)
        rows.append({"doc_id": p["id"], "kind": "pull", "repo": p["repo"], "number": p["number"], "text": text,
                     "merged": p["merged"], "n_comments": n_kept(p["id"]), "created_at": p["created_at"]})
    pull_ids = {r["doc_id"] for r in rows}
    for i in issues.to_pylist():
        if i["is_pull_request"] or i["id"] in pull_ids:
            continue
        text = issue_document(i, by_record.get(i["id"], []), **opts)
        rows.append({"doc_id": i["id"], "kind": "issue", "repo": i["repo"], "number": i["number"], "text": text,
                     "merged": None, "n_comments": n_kept(i["id"]), "created_at": i["created_at"]})
    for r in rows:
        r.update(content_hash=content_hash(r["text"]), n_chars=len(r["text"]))
    return sorted(rows, key=lambda r: r["doc_id"].encode())


@pytest.mark.parametrize("opts", [{}, {"include_comments": False, "max_chars": 300},
                                  {"strip_templates": False, "strip_bot_comments": False, "extra_bot_logins": ("eve",)},
                                  {"strip_quoted_email": False, "max_chars": 40}])
def test_build_documents_equals_reference(opts):
    rng = random.Random(4)
    bodies = _random_bodies(1500, seed=5)
    titles = [None, "", " Crash on\r\nempty input ", "ΣΑΣ title", "t"]
    issues = _table("issues", [
        {"id": f"o__r-{k}", "repo": "o/r", "number": k, "title": rng.choice(titles) or f"Issue {k}", "body": body,
         "created_at": T0 + timedelta(minutes=k) if k % 7 else None,
         "is_pull_request": rng.choice([False, None, False, True]) if k % 5 == 0 else False}
        for k, body in enumerate(bodies)
    ])
    pulls = _table("pulls", [
        {"id": f"o__r-{k}", "repo": "o/r", "number": k, "title": rng.choice(titles), "body": rng.choice(bodies),
         "merged": rng.choice([True, False, None]), "created_at": T0}
        for k in range(0, 1500, 10)
    ])
    files = _table("pull_files", [
        {"record_id": f"o__r-{k}", "repo": "o/r", "number": k, "path": rng.choice(["b.py", "a/c.py", "README.md"]) + str(j),
         "previous_path": rng.choice([None, "old.py"]), "patch": rng.choice([None, "", "@@ -1 +1 @@\r\n-a\n+b\n", "+x"])}
        for k in range(0, 1500, 20) for j in range(rng.randint(0, 3))
    ])
    comments = _table("comments", [
        {**_c(rng.randint(1, 50), rng.choice(bodies), author=rng.choice(["alice", "bob", "eve", "dependabot[bot]"]),
              author_type=rng.choice(["User", "User", "Bot"]), kind=rng.choice(["issue", "issue", "review"]),
              minutes=rng.choice([0, 1, 1, 2])),
         "record_id": f"o__r-{rng.randrange(0, 1500, rng.choice([1, 3, 10]))}",
         "created_at": rng.choice([T0, T0 + timedelta(minutes=1), None])}
        for _ in range(2000)
    ])
    docs = build_documents(issues, pulls, comments, files, **opts)
    assert docs.schema.equals(DOCUMENTS, check_metadata=True)
    assert docs.to_pylist() == _reference_documents(issues, pulls, comments, files, **opts)


def test_titles_column_equals_title():
    rng = random.Random(5)
    chars = ["a", "B", " ", "\t", "\r", "\n", "\u00a0", "\u2003", "\x0b", "\x1c", "\x85", "é"]
    values = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 6))) for _ in range(5000)] + [None]
    got = D._titles(pa.array(values)).to_pylist()
    assert got == [D._title(v) for v in values]
    assert sum(g != (v or "") for g, v in zip(got, values, strict=True)) > 1000  # most need the slow path
