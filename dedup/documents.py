"""The documents the dedup stage compares, built from the raw ``issues``, ``pulls``, ``comments``
and ``pull_files`` tables.

Read/written: nothing (pure: no I/O, no clock). The one idea: a document is the text a reader
would see minus the boilerplate every record of a repository shares (issue and PR templates,
bot comments, e-mail reply quotes and footers), so two records are near-duplicates because
their authors wrote the same thing, not because they filled in the same form.

Rules ``docs_v1`` (``DOC_RULES``). They decide which records dedup drops and are part of the
dedup fingerprint: any change to them (a new boilerplate line, a different separator) needs a
new ``DOC_RULES`` version, which makes dedup rebuild its index.

Issue document: ``title``, ``body``, then the bodies of the issue's comments of kind
``issue`` in ``(created_at, comment_id)`` order (null ``created_at`` last), each part cleaned,
empty parts left out, parts joined with one blank line (``"\\n\\n"``). Pull document: ``title``,
``body``, then the diff: for each ``pull_files`` row in ``path`` order whose ``patch`` is not
null, the line ``diff --git a/<previous_path or path> b/<path>`` followed by the patch (line
endings normalized, trailing newlines removed), blocks joined by ``"\\n"``. Comments are not
part of a pull document. The title only gets its line endings normalized and is stripped. Finally the
text is cut to its first ``max_chars`` characters (code points).

Cleaning a body or comment, in this order:

1. Line endings: ``\\r\\n`` and lone ``\\r`` become ``\\n``.
2. Quoted e-mail (``strip_quoted_email``), line by line, skipping lines inside fenced code
   blocks (a line opening with ```` ``` ```` or ``~~~``, up to 3 spaces of indent, until a
   closing fence of the same character and at least the same length, or the end):
   - an attribution line ``On <...> wrote:`` (at most 300 characters; also split over two
     lines, the second ending in ``wrote:``) is dropped together with the quote lines
     (starting with ``>``) and blank lines that follow it (English attributions only). Other
     ``>`` quotes are kept;
   - a signature: the line ``-- `` (dash, dash, space, nothing else) and everything after it;
   - GitHub's notification footer: a line starting (after optional ``>`` markers) with
     ``Reply to this email directly``, ``You are receiving this because`` or ``Triage
     notifications on the go with GitHub Mobile`` is dropped with everything after it (when
     quoted: with the quote lines that follow it), and with the last kept non-blank line
     before it when that is a separator (``—``, ``–``, one to three ``-``, two or more ``_``);
   - mobile-client lines: ``Sent from my <...>``, ``Sent from Mail|Outlook|Yahoo Mail|Gmail|
     ProtonMail <...>``, ``Sent with Proton Mail <...>``, ``Get Outlook for iOS|Android``.
3. Templates (``strip_templates``):
   - HTML comments ``<!-- ... -->`` (terminated ones, anywhere, also across lines);
   - then, outside fenced code blocks: task-list lines (``- [ ] ...``, ``* [x] ...``,
     ``1. [X] ...``), ``_No response_`` lines (GitHub issue-form placeholder), and the
     template lines of ``BOILERPLATE_LINES`` (compared lowercased, ``*``/``_`` emphasis and
     trailing ``.!:`` removed, whitespace collapsed) or starting with a
     ``BOILERPLATE_PREFIXES`` entry;
   - then empty sections: an ATX heading (``#`` to ``######``) outside code whose next
     non-blank line is a heading of the same or a higher level (as many or fewer ``#``), or
     which ends the text, is dropped (bottom-up, so nested empty sections go too). Setext and
     bold-line (``**Describe the bug**``) headings are not headings here.
4. Whitespace: trailing whitespace of every line removed, runs of blank lines collapsed to one
   blank line, leading and trailing blank lines removed.

A comment is kept when it is not a bot's (``strip_bot_comments``: ``ingest.filters.is_bot``
on author, author_type and ``extra_bot_logins``) and its cleaned body is not empty.
``build_documents``' ``n_comments`` counts a record's kept comments of every kind (issue
comments, reviews, review comments), whether or not ``include_comments`` puts them in the text.

Exact dedup compares ``content_hash``: the hex blake2b-128 digest of ``normalize_for_hash``
(NFC, lowercase, whitespace runs to one space, stripped) of the document text, UTF-8 encoded.

Options (keyword arguments of every builder; the dedup config's ``doc_options()``):
``strip_templates=True, strip_bot_comments=True, strip_quoted_email=True,
include_comments=True, max_chars=200_000, extra_bot_logins=()``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ingest.filters import is_bot

DOC_RULES = "docs_v1"

DOCUMENTS = pa.schema([
    pa.field("doc_id", pa.string(), nullable=False),  # the record id, owner__repo-N
    pa.field("kind", pa.string(), nullable=False),  # issue | pull
    pa.field("repo", pa.string(), nullable=False),
    pa.field("number", pa.int64(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("content_hash", pa.string(), nullable=False),
    pa.field("merged", pa.bool_()),  # pulls only
    pa.field("n_comments", pa.int64(), nullable=False),  # kept comments, all kinds
    pa.field("created_at", pa.timestamp("us", tz="UTC")),
    pa.field("n_chars", pa.int64(), nullable=False),
], metadata={b"swe_curate.doc_rules": DOC_RULES.encode()})

# Placeholder lines of GitHub's default issue / PR templates and common variants (normalized
# form: lowercase, no emphasis, no trailing punctuation).
BOILERPLATE_LINES = frozenset({
    "a clear and concise description of what the bug is",
    "a clear and concise description of what you expected to happen",
    "a clear and concise description of what actually happened",
    "a clear and concise description of what the problem is",
    "a clear and concise description of what you want to happen",
    "a clear and concise description of any alternative solutions or features you've considered",
    "if applicable, add screenshots to help explain your problem",
    "add any other context about the problem here",
    "add any other context or screenshots about the feature request here",
    "steps to reproduce the behavior",
    "please delete options that are not relevant",
    "please check the boxes that apply",
    "please describe",
})
BOILERPLATE_PREFIXES = (
    "thanks for taking the time to fill out this",
    "thank you for taking the time to fill out this",
)


@dataclass(frozen=True)
class _Opts:
    strip_templates: bool = True
    strip_bot_comments: bool = True
    strip_quoted_email: bool = True
    include_comments: bool = True
    max_chars: int = 200_000
    extra_bot_logins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.max_chars, int) or self.max_chars < 1:
            raise ValueError(f"max_chars must be a positive integer, got {self.max_chars!r}")
        object.__setattr__(self, "extra_bot_logins", tuple(self.extra_bot_logins))


# -- cleaning ------------------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Task-list lines and the issue-form placeholder ``_No response_``.
_DROP_LINE = re.compile(r"^\s*(?:(?:[-*+]|\d+[.)])\s+\[[ xX]\](?:\s.*)?|_No response_\s*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t].*)?$")
_ATTRIB = re.compile(r"^\s*On\s.*\bwrote:\s*$")
_ATTRIB_START = re.compile(r"^\s*On\s")
_ATTRIB_END = re.compile(r"^(?:.*\s)?wrote:\s*$")
_QUOTE = re.compile(r"^\s*>")
_FOOTER = re.compile(r"^[>\s]*(?:Reply to this email directly|You are receiving this because"
                     r"|Triage notifications on the go with GitHub Mobile)")
_SEPARATOR = re.compile(r"^[>\s]*(?:—|–|-{1,3}|_{2,})\s*$")
_MOBILE = re.compile(r"Sent from my \S.{0,50}|Sent from (?:Mail|Outlook|Yahoo Mail|Gmail|Proton ?Mail)\b.{0,50}"
                     r"|Sent with Proton ?Mail\b.{0,40}|Get Outlook for (?:iOS|Android)\b.{0,20}")
_WS = re.compile(r"\s+")
_MAX_ATTRIB = 300
# Every e-mail rule needs one of these substrings; every boilerplate line one of these phrases.
_EMAIL_TRIGGERS = ("wrote:", "-- ", "Reply to this email directly", "You are receiving this because",
                   "Triage notifications on the go", "Sent from ", "Sent with Proton", "Get Outlook for ")
_BOILERPLATE_ALL = (*BOILERPLATE_PREFIXES, *BOILERPLATE_LINES)
_BLANK_RUNS = re.compile(r"\n{3,}")


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _code_mask(lines: Sequence[str], text: str) -> list[bool]:
    """True for lines of fenced code blocks, fences included (an unclosed fence runs to the end)."""
    if "```" not in text and "~~~" not in text:
        return [False] * len(lines)
    mask = []
    fence = None
    for line in lines:
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
            mask.append(fence is not None)
        else:
            mask.append(True)
            if (m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
                    and not line[m.end():].strip()):
                fence = None
    return mask


def _strip_email(text: str) -> str:
    if not any(t in text for t in _EMAIL_TRIGGERS):  # no rule can fire: skip the line pass
        return text
    lines = text.split("\n")
    code = _code_mask(lines, text)
    out: list[str] = []
    out_code: list[bool] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if code[i]:
            out.append(line)
            out_code.append(True)
            i += 1
            continue
        attrib = 0
        if len(line) <= _MAX_ATTRIB and _ATTRIB.match(line):
            attrib = 1
        elif (_ATTRIB_START.match(line) and i + 1 < n and not code[i + 1] and not _QUOTE.match(lines[i + 1])
              and len(line) + len(lines[i + 1]) <= _MAX_ATTRIB and _ATTRIB_END.match(lines[i + 1])):
            attrib = 2
        if attrib:
            i += attrib
            while i < n and not code[i] and (not lines[i].strip() or _QUOTE.match(lines[i])):
                i += 1
            continue
        if line == "-- ":
            break
        if _FOOTER.match(line):
            # Drop a separator line just before the footer (blank lines in between go too).
            j = len(out)
            while j and not out[j - 1].strip():
                j -= 1
            if j and not out_code[j - 1] and _SEPARATOR.match(out[j - 1]):
                del out[j - 1:], out_code[j - 1:]
            if not _QUOTE.match(line):
                break
            i += 1
            while i < n and not code[i] and _QUOTE.match(lines[i]):
                i += 1
            continue
        if not _MOBILE.fullmatch(line.strip()):
            out.append(line)
            out_code.append(False)
        i += 1
    return "\n".join(out)


def _drop_html_comments(text: str) -> str:
    """``<!-- ... -->`` removed, shortest match first (a scan, linear even for unclosed ``<!--``)."""
    out, pos = [], 0
    while (start := text.find("<!--", pos)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        out.append(text[pos:start])
        pos = end + 3
    out.append(text[pos:])
    return "".join(out)


def _boilerplate(line: str) -> bool:
    s = _WS.sub(" ", line.strip().strip("*_ ").lower())
    return s.startswith(BOILERPLATE_PREFIXES) or s.rstrip(".!: ") in BOILERPLATE_LINES


def _strip_templates(text: str) -> str:
    text = _drop_html_comments(text)
    lines = text.split("\n")
    code = _code_mask(lines, text)
    # Substring pre-checks only skip line tests that cannot match (a line that normalizes to a
    # boilerplate phrase leaves it in the lowercased, whitespace-collapsed text).
    drop_re = "[" in text or "_No response_" in text
    collapsed = " ".join(text.lower().split())
    drop_bp = any(p in collapsed for p in _BOILERPLATE_ALL)
    if drop_re or drop_bp:
        kept_lines, kept_code = [], []
        for line, c in zip(lines, code, strict=True):
            if not c and ((drop_re and _DROP_LINE.match(line)) or (drop_bp and _boilerplate(line))):
                continue
            kept_lines.append(line)
            kept_code.append(c)
        lines, code = kept_lines, kept_code
    if "#" not in text:
        return "\n".join(lines)
    # Empty sections, bottom-up: ``nxt`` is the heading level of the next kept non-blank line,
    # 0 for content, 7 at the end of the text (any heading is empty before it).
    out: list[str] = []
    nxt = 7
    for line, c in zip(reversed(lines), reversed(code), strict=True):
        if not line.strip():
            out.append(line)
            continue
        m = None if c else _HEADING.match(line)
        if m:
            level = len(m.group(1))
            if nxt == 7 or 0 < nxt <= level:
                continue
            nxt = level
        else:
            nxt = 0
        out.append(line)
    out.reverse()
    return "\n".join(out)


def _whitespace(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def clean_body(text: str | None, *, strip_templates: bool = True, strip_quoted_email: bool = True) -> str:
    """One body or comment cleaned by rules 1-4 of the module docstring ("" for null)."""
    if not text:
        return ""
    text = _newlines(text)
    if strip_quoted_email:
        text = _strip_email(text)
    if strip_templates:
        text = _strip_templates(text)
    return _whitespace(text)


# -- documents -----------------------------------------------------------------------------------

def _clean(text: str | None, o: _Opts) -> str:
    return clean_body(text, strip_templates=o.strip_templates, strip_quoted_email=o.strip_quoted_email)


def _comment_key(c: dict) -> tuple:
    ca, cid = c.get("created_at"), c.get("comment_id")
    return (ca is None, 0 if ca is None else ca, cid is None, 0 if cid is None else cid)


def _kept_comments(comments: Iterable[dict], o: _Opts) -> list[tuple[str, str]]:
    """(kind, cleaned body) of the kept comments, in (created_at, comment_id) order."""
    out = []
    for c in sorted(comments, key=_comment_key):
        if o.strip_bot_comments and is_bot(c.get("author"), c.get("author_type"), o.extra_bot_logins):
            continue
        body = _clean(c.get("body"), o)
        if body:
            out.append((c.get("kind"), body))
    return out


def _join(parts: Iterable[str], o: _Opts) -> str:
    return "\n\n".join(p for p in parts if p)[:o.max_chars]


def _title(title: str | None) -> str:
    return _newlines(title or "").strip()


def _issue_text(issue: dict, kept: list[tuple[str, str]], o: _Opts) -> str:
    bodies = [b for kind, b in kept if kind == "issue"] if o.include_comments else []
    return _join([_title(issue.get("title")), _clean(issue.get("body"), o), *bodies], o)


def _pull_text(pull: dict, files: Iterable[dict], o: _Opts) -> str:
    blocks = []
    for f in sorted(files, key=lambda f: f["path"]):
        patch = f.get("patch")
        if patch is None:
            continue
        header = f"diff --git a/{f.get('previous_path') or f['path']} b/{f['path']}"
        patch = _newlines(patch).rstrip("\n")
        blocks.append(f"{header}\n{patch}" if patch else header)
    return _join([_title(pull.get("title")), _clean(pull.get("body"), o), "\n".join(blocks)], o)


def issue_document(issue: dict, comments: list[dict], **opts: Any) -> str:
    """The document of one issue: title, body and its kept ``issue`` comments (rules ``docs_v1``).

    ``issue`` is an ``issues`` row, ``comments`` the ``comments`` rows of that record (rows of
    other kinds are ignored); ``opts`` as in the module docstring.
    """
    o = _Opts(**opts)
    return _issue_text(issue, _kept_comments(comments, o), o)


def pull_document(pull: dict, files: list[dict], **opts: Any) -> str:
    """The document of one pull request: title, body and the diff of its ``pull_files`` rows."""
    return _pull_text(pull, files, _Opts(**opts))


def normalize_for_hash(text: str) -> str:
    """Exact-dedup normal form: NFC, lowercase, every whitespace run (``str.split``) one space, stripped."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def content_hash(text: str) -> str:
    """Hex blake2b-128 (32 hex digits) of ``normalize_for_hash(text)`` as UTF-8: stable across
    processes and versions, equal for texts differing only in case, whitespace or Unicode composition."""
    return hashlib.blake2b(normalize_for_hash(text).encode("utf-8"), digest_size=16).hexdigest()


def _rows(table: pa.Table, columns: Sequence[str]) -> Iterable[dict]:
    data = table.select(list(columns)).to_pydict()
    for values in zip(*(data[c] for c in columns), strict=True):
        yield dict(zip(columns, values, strict=True))


def build_documents(issues: pa.Table, pulls: pa.Table, comments: pa.Table, pull_files: pa.Table,
                    **opts: Any) -> pa.Table:
    """The ``DOCUMENTS`` table of one partition, sorted by ``doc_id``.

    Inputs are the current rows (one per key) of the raw tables, already limited to the
    partition's repositories. Issue rows with ``is_pull_request`` true, or whose id is a
    ``pulls`` id, are not issue documents (the pull's document comes from ``pulls``). One pass
    groups ``comments`` and ``pull_files`` by ``record_id``; a doc_id seen twice is an error.
    """
    o = _Opts(**opts)
    by_record: dict[str, list[dict]] = {}
    for c in _rows(comments, ("record_id", "kind", "comment_id", "author", "author_type", "body", "created_at")):
        by_record.setdefault(c["record_id"], []).append(c)
    files_by_record: dict[str, list[dict]] = {}
    for f in _rows(pull_files, ("record_id", "path", "previous_path", "patch")):
        files_by_record.setdefault(f["record_id"], []).append(f)

    out: dict[str, list] = {name: [] for name in DOCUMENTS.names}
    seen: set[str] = set()

    def add(doc_id: str, kind: str, row: dict, text: str, merged: bool | None, n_comments: int) -> None:
        if doc_id in seen:
            raise ValueError(f"duplicate record {doc_id!r}: build_documents expects one current row per record")
        seen.add(doc_id)
        for name, value in (("doc_id", doc_id), ("kind", kind), ("repo", row["repo"]), ("number", row["number"]),
                            ("text", text), ("content_hash", content_hash(text)), ("merged", merged),
                            ("n_comments", n_comments), ("created_at", row["created_at"]),
                            ("n_chars", len(text))):
            out[name].append(value)

    pull_rows = list(_rows(pulls, ("id", "repo", "number", "title", "body", "merged", "created_at")))
    pull_ids = {p["id"] for p in pull_rows}
    for p in pull_rows:
        kept = _kept_comments(by_record.get(p["id"], ()), o)
        add(p["id"], "pull", p, _pull_text(p, files_by_record.get(p["id"], ()), o), p["merged"], len(kept))
    for i in _rows(issues, ("id", "repo", "number", "title", "body", "created_at", "is_pull_request")):
        if i["is_pull_request"] or i["id"] in pull_ids:
            continue
        kept = _kept_comments(by_record.get(i["id"], ()), o)
        add(i["id"], "issue", i, _issue_text(i, kept, o), None, len(kept))

    table = pa.table(out, schema=DOCUMENTS)
    return table.sort_by([("doc_id", "ascending")])
