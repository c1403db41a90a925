"""Dedup documents: template, bot and e-mail stripping, diffs, hashing, the partition table."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from dedup.documents import (
    DOC_RULES,
    DOCUMENTS,
    build_documents,
    clean_body,
    content_hash,
    issue_document,
    normalize_for_hash,
    pull_document,
)
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
    # Stable across processes and releases: a golden value (blake2b-128 of "hello world").
    assert content_hash("Hello  World") == "e9a804b2e527fd3601d2ffc0bb023cd6"


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
    assert docs.schema.metadata[b"swe_curate.doc_rules"] == DOC_RULES.encode() == b"docs_v1"
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
