"""The documents the dedup stage compares, built from the raw ``issues``, ``pulls``, ``comments``
and ``pull_files`` tables.

Read/written: nothing (pure: no I/O, no clock). The one idea: a document is the text a reader
would see minus the boilerplate every record of a repository shares (issue and PR templates,
bot comments, e-mail reply quotes and footers), so two records are near-duplicates because
their authors wrote the same thing, not because they filled in the same form.

Rules ``docs_v2`` (``DOC_RULES``). They decide which records dedup drops and are part of the
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

Exact dedup compares ``content_hash``: the hex MurmurHash3 x64-128 digest (seed 0, ``mmh3.hash_bytes``)
of ``normalize_for_hash`` (NFC, lowercase, whitespace runs to one space, stripped) of the document
text, UTF-8 encoded. (``docs_v1`` used blake2b-128: six times slower, and a duplicate check needs
no cryptographic hash.)

Options (keyword arguments of every builder; the dedup config's ``doc_options()``):
``strip_templates=True, strip_bot_comments=True, strip_quoted_email=True,
include_comments=True, max_chars=200_000, extra_bot_logins=()``.

Speed. ``clean_body``, ``content_hash``, ``issue_document`` and ``pull_document`` are the rules,
one text at a time (~100 us per 2 KB body). ``build_documents`` computes the same values a column
at a time (``clean_bodies``, ``content_hashes``; tests compare them on randomized texts), ~15 us
per plain 2 KB issue: an RE2 scan of each body column finds the values some rule could change
(the others get no work), rules 1 and 4 alone run in numba, the other rules in Python only where
their markers are, and the hash input is lowercased and whitespace-collapsed in numba (Python
computes NFC of non-ASCII texts).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import mmh3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from ingest.filters import is_bot

DOC_RULES = "docs_v2"

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
    """One body or comment cleaned by rules 1-4 of the module docstring ("" for null): the
    reference (``clean_bodies`` is the same, faster, over a column)."""
    if not text:
        return ""
    text = _newlines(text)
    if strip_quoted_email:
        text = _strip_email(text)
    if strip_templates:
        text = _strip_templates(text)
    return _whitespace(text)


# -- the same, over a column --------------------------------------------------------------------
# Most bodies contain nothing any rule acts on: ``clean_body`` returns them unchanged. One RE2 scan
# of the column (``pc.match_substring_regex``) finds the values with a marker some rule needs, the
# others get no work. The markers are a superset, rule by rule (below): on a text without the
# markers of a step, the step is the identity (a text with one may still come back unchanged).
# Of the marked values, those without e-mail and template markers (a second scan) only need rules
# 1 and 4, done by ``_clean_light`` (numba, on the UTF-8); the others go through the steps in
# Python, each step only where its markers are.

# Python's whitespace: ``str.isspace``, ``str.split``/``strip``/``rstrip`` without arguments and
# ``re``'s ``\s`` on str all use this set (a test checks it against every code point).
_RE2_UNICODE_SPACE = r"\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_RE2_SPACE = r"\t-\r\x1c-\x20" + _RE2_UNICODE_SPACE
_RE2_SPACE_BUT_NL = r"\t\x0b-\r\x1c-\x20" + _RE2_UNICODE_SPACE


@njit(cache=True, nogil=True, inline="always")
def _is_space(cp: int) -> bool:
    if cp <= 32:
        return 9 <= cp <= 13 or cp >= 28
    return (cp == 0x85 or cp == 0xA0 or cp == 0x1680 or 0x2000 <= cp <= 0x200A or cp == 0x2028 or cp == 0x2029
            or cp == 0x202F or cp == 0x205F or cp == 0x3000)


def _re2_literal(text: str) -> str:
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def _re2_phrase(phrase: str) -> str:
    """A boilerplate phrase anywhere: its words case-insensitively (RE2 folds every code point
    that ``str.lower`` maps to an ASCII letter, the Kelvin sign included, except ``İ``, which lowers
    to ``i`` + U+0307, a pair no phrase contains), separated by whitespace runs (``_boilerplate``
    collapses them)."""
    return f"[{_RE2_SPACE}]+".join(_re2_literal(w) for w in phrase.split(" "))


# A line starts after "\n", "\r" or at the start, ends before either or at the end: the step
# markers hold before and after rule 1.
# 2. Quoted e-mail (``_strip_email``): an attribution needs "wrote:", a signature the line "-- ",
# the footer and mobile-client rules their phrases (the other ``_EMAIL_TRIGGERS``).
_RE2_EMAIL = "|".join(("wrote:", r"(?:\A|[\r\n])-- (?:[\r\n]|\z)",
                       *(_re2_literal(t) for t in _EMAIL_TRIGGERS if t not in ("wrote:", "-- "))))
# 3. Templates (``_strip_templates``): an HTML comment, a task-list line, ``_No response_``, a
# boilerplate line, a heading (for empty sections).
_RE2_TEMPLATES = "|".join(("<!--", r"\[[ xX]\]", "_No response_",
                           "(?i:" + "|".join(_re2_phrase(p) for p in sorted(_BOILERPLATE_ALL)) + ")",
                           r"(?:\A|[\r\n]) {0,3}#{1,6}(?:[ \t\r\n]|\z)"))
# 1. Line endings: "\r". 4. Whitespace (``_whitespace``), given no "\r": trailing whitespace on a
# line, 3+ newlines, a leading or trailing newline.
_RE2_DIRTY = "|".join((r"\r", _RE2_EMAIL, _RE2_TEMPLATES, rf"[{_RE2_SPACE_BUT_NL}](?:\n|\z)", r"\n\n\n",
                       r"\A\n", r"\n\z"))


def _marked(values: pa.Array | pa.ChunkedArray, pattern: str) -> list[int]:
    """Indices of the values ``pattern`` matches (not of nulls)."""
    if len(values) == 0:
        return []
    return np.flatnonzero(pc.fill_null(pc.match_substring_regex(values, pattern), False)).tolist()


def _utf8(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, int64 offsets into them) of a string array; chunks are concatenated."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            arr = arr.chunk(0)
        else:
            arr = pa.concat_arrays([c.cast(pa.large_string()) for c in arr.chunks] or [pa.array([], pa.large_string())])
    _, offsets_buf, data_buf = arr.buffers()
    dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=dtype)[arr.offset:arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(data_buf if data_buf is not None else b"", dtype=np.uint8)  # read-only either way
    return data, offsets


# Byte classes of ``_clean_light_kernel``: 0 other ASCII, 1 ASCII whitespace but line breaks, 2 "\n"
# and "\r", 3 non-ASCII.
_LIGHT_CLASS = np.zeros(256, dtype=np.int64)
_LIGHT_CLASS[[9, 11, 12, 28, 29, 30, 31, 32]] = 1
_LIGHT_CLASS[[10, 13]] = 2
_LIGHT_CLASS[0x80:] = 3


@njit(cache=True, nogil=True)
def _clean_light_kernel(data: np.ndarray, offsets: np.ndarray, byte_class: np.ndarray, out: np.ndarray,
                        out_offsets: np.ndarray) -> None:
    """Rules 1 and 4 (``_whitespace(_newlines(text))``) of every UTF-8 text, into
    ``out[out_offsets[k]:out_offsets[k + 1]]``."""
    j = 0
    for k in range(len(offsets) - 1):
        start = j
        out_offsets[k] = j
        keep = j  # the end of the output without the current line's trailing whitespace
        newlines = 0  # line breaks since the last kept content
        line_start, at_line_start = offsets[k], True  # a line's leading whitespace waits for its content
        i, end = offsets[k], offsets[k + 1]
        while i < end:
            if not at_line_start:  # inside a line: ASCII up to a line break or a non-ASCII character
                while i < end:
                    b = data[i]
                    c = byte_class[b]
                    if c > 1:
                        break
                    out[j] = b
                    j += 1
                    keep += (j - keep) * (1 - c)
                    i += 1
                if i == end:
                    break
            b = data[i]
            if b == 10 or b == 13:  # "\n", "\r\n" or "\r": the line ends, without its trailing whitespace
                i += 2 if b == 13 and i + 1 < end and data[i + 1] == 10 else 1
                j = keep
                newlines += 1
                line_start, at_line_start = i, True
                continue
            if b < 0x80:
                cp, n = np.int64(b), 1
            elif b < 0xE0:
                cp, n = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F), 2
            elif b < 0xF0:
                cp, n = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F), 3
            else:
                cp, n = np.int64(0x10000), 4  # no whitespace there
            if _is_space(cp):
                if not at_line_start:
                    for q in range(i, i + n):
                        out[j] = data[q]
                        j += 1
                i += n
                continue
            if at_line_start:  # content: the line breaks before it (at most 2, none at the start), its indent
                if newlines and j > start:
                    for _ in range(min(newlines, 2)):
                        out[j] = 10
                        j += 1
                newlines = 0
                for q in range(line_start, i):
                    out[j] = data[q]
                    j += 1
                at_line_start = False
            for q in range(i, i + n):
                out[j] = data[q]
                j += 1
            keep = j
            i += n
        j = keep  # without the last line's trailing whitespace, and no trailing line breaks
        out_offsets[k + 1] = j


def _clean_light(values: pa.Array | pa.ChunkedArray) -> list[str]:
    """``_whitespace(_newlines(v))`` of every value (none null)."""
    data, offsets = _utf8(values)
    out = np.empty(max(int(offsets[-1] - offsets[0]), 1), dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    _clean_light_kernel(data, offsets, _LIGHT_CLASS, out, out_offsets)
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(out_offsets), pa.py_buffer(out)).to_pylist()


def _whitespace_fast(text: str) -> str:
    """``_whitespace``, without the blank-run pass where it has nothing to do."""
    text = "\n".join([line.rstrip() for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")


def _clean_array(values: pa.Array | pa.ChunkedArray, o: _Opts) -> pa.Array:
    """``_clean`` of every value of a string column, as a string array ("" for null): the values
    no cleaning rule touches stay in Arrow, and only the others become Python strings."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    values = values.cast(pa.string())
    base = pc.fill_null(values, "")
    marked = _marked(values, _RE2_DIRTY)
    if not marked:
        return base
    values = values.take(pa.array(marked, pa.int64()))
    texts = values.to_pylist()
    steps = ([_RE2_EMAIL] if o.strip_quoted_email else []) + ([_RE2_TEMPLATES] if o.strip_templates else [])
    heavy = _marked(values, "|".join(steps)) if steps else []
    light = sorted(set(range(len(marked))) - set(heavy))
    for m, text in zip(light, _clean_light(values.take(pa.array(light, pa.int64()))), strict=True):
        texts[m] = text
    if heavy:
        values = values.take(pa.array(heavy, pa.int64()))
        email = set(_marked(values, _RE2_EMAIL)) if o.strip_quoted_email else set()
        templates = set(_marked(values, _RE2_TEMPLATES)) if o.strip_templates else set()
        for h, m in enumerate(heavy):
            text = _newlines(texts[m])
            if h in email:
                text = _strip_email(text)
            if h in templates:
                text = _strip_templates(text)
            texts[m] = _whitespace_fast(text)
    mask = np.zeros(len(base), dtype=bool)
    mask[marked] = True
    return pc.replace_with_mask(base, pa.array(mask), pa.array(texts, pa.string()))


def _clean_column(values: pa.Array | pa.ChunkedArray, o: _Opts) -> list[str]:
    """``_clean`` of every value of a string column ("" for null)."""
    return _clean_array(values, o).to_pylist()


def clean_bodies(values: pa.Array | pa.ChunkedArray, *, strip_templates: bool = True,
                 strip_quoted_email: bool = True) -> list[str]:
    """``clean_body`` of every value of a string column, equal to it value by value, much faster
    (see above)."""
    return _clean_column(values, _Opts(strip_templates=strip_templates, strip_quoted_email=strip_quoted_email))


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


def _issue_text(title: str | None, body: str, kept: list[tuple[str, str]], o: _Opts) -> str:
    """``body`` already cleaned."""
    bodies = [b for kind, b in kept if kind == "issue"] if o.include_comments else []
    return _join([_title(title), body, *bodies], o)


def _pull_text(title: str | None, body: str, files: Iterable[dict], o: _Opts) -> str:
    """``body`` already cleaned."""
    blocks = []
    for f in sorted(files, key=lambda f: f["path"]):
        patch = f.get("patch")
        if patch is None:
            continue
        header = f"diff --git a/{f.get('previous_path') or f['path']} b/{f['path']}"
        patch = _newlines(patch).rstrip("\n")
        blocks.append(f"{header}\n{patch}" if patch else header)
    return _join([_title(title), body, "\n".join(blocks)], o)


def issue_document(issue: dict, comments: list[dict], **opts: Any) -> str:
    """The document of one issue: title, body and its kept ``issue`` comments (rules ``docs_v2``).

    ``issue`` is an ``issues`` row, ``comments`` the ``comments`` rows of that record (rows of
    other kinds are ignored); ``opts`` as in the module docstring.
    """
    o = _Opts(**opts)
    return _issue_text(issue.get("title"), _clean(issue.get("body"), o), _kept_comments(comments, o), o)


def pull_document(pull: dict, files: list[dict], **opts: Any) -> str:
    """The document of one pull request: title, body and the diff of its ``pull_files`` rows."""
    o = _Opts(**opts)
    return _pull_text(pull.get("title"), _clean(pull.get("body"), o), files, o)


def normalize_for_hash(text: str) -> str:
    """Exact-dedup normal form: NFC, lowercase, every whitespace run (``str.split``) one space, stripped."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def content_hash(text: str) -> str:
    """Hex MurmurHash3 x64-128 (32 hex digits, ``mmh3.hash_bytes``) of ``normalize_for_hash(text)``
    as UTF-8: stable across processes and versions, equal for texts differing only in case,
    whitespace or Unicode composition."""
    return mmh3.hash_bytes(normalize_for_hash(text).encode("utf-8")).hex()


# -- content hashes over a column ----------------------------------------------------------------
# ``content_hashes`` equals ``content_hash`` text by text. Python computes NFC (it returns an NFC
# text itself, and an ASCII text is NFC already); one numba pass over the UTF-8 of a batch of texts
# lowercases and collapses whitespace, and another hashes each text (MurmurHash3, as mmh3). Lowercase is Python's:
# ``str.lower`` maps each code point on its own (to one code point, ASCII ones only A-Z) except
# U+0130 (two code points) and U+03A3 (final sigma, by context), so a table taken from
# ``str.lower`` once per process does the others; texts with those two are lowered by Python.

_HASH_ROWS = 8192  # texts per batch, and at most about this many characters
_HASH_CHARS = 1 << 23

# ASCII byte maps: A-Z lowered, Python's ASCII whitespace (\t \n \v \f \r, \x1c-\x1f, space) to a
# space; which bytes are that whitespace.
_BYTE_MAP = np.arange(256, dtype=np.uint8)
_BYTE_MAP[ord("A"):ord("Z") + 1] += 32
_BYTE_MAP[[9, 10, 11, 12, 13, 28, 29, 30, 31]] = 32
_BYTE_SPACE = (_BYTE_MAP == 32).astype(np.int64)
# How ``_collapse`` reads a text: ASCII; to lowercase by the table; lowercased by Python already.
_ASCII, _TABLE, _LOWERED = 0, 1, 2


@functools.cache
def _lower_table() -> np.ndarray:
    """``str.lower`` of every code point, -1 for U+0130 and U+03A3."""
    text = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    lower = text[:0x130].lower() + "\u0130" + text[0x131:].lower()
    if len(lower) != len(text):
        raise AssertionError("str.lower maps a code point other than U+0130 to several")
    table = np.frombuffer(lower.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int32)
    table[[0x130, 0x3A3]] = -1
    return table


@njit(cache=True, nogil=True, inline="always")
def utf8_put(out: np.ndarray, j: int, cp: int) -> int:
    """Code point ``cp`` as UTF-8 bytes at ``out[j:]``; returns the new end (also ``format.bpe``'s)."""
    if cp < 0x80:
        out[j] = cp
        return j + 1
    if cp < 0x800:
        out[j] = 0xC0 | (cp >> 6)
        out[j + 1] = 0x80 | (cp & 0x3F)
        return j + 2
    if cp < 0x10000:
        out[j] = 0xE0 | (cp >> 12)
        out[j + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[j + 2] = 0x80 | (cp & 0x3F)
        return j + 3
    out[j] = 0xF0 | (cp >> 18)
    out[j + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[j + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[j + 3] = 0x80 | (cp & 0x3F)
    return j + 4


@njit(cache=True, nogil=True, inline="always")
def _collapse_ascii(data: np.ndarray, i: int, end: int, byte_map: np.ndarray, byte_space: np.ndarray,
                    out: np.ndarray, j: int) -> int:
    """``data[i:end]`` (ASCII) lowercased, whitespace runs to one space, stripped, to ``out[j:]``;
    returns the new end of ``out`` (branch-free: a space after whitespace is overwritten)."""
    start = j
    after_space = 1  # at the start of the text, or after whitespace
    for k in range(i, end):
        b = data[k]
        space = byte_space[b]
        out[j] = byte_map[b]
        j += 1 - (space & after_space)
        after_space = space
    if j > start and out[j - 1] == 32:  # a trailing run left one space
        j -= 1
    return j


@njit(cache=True, nogil=True, inline="always")
def _collapse_unicode(data: np.ndarray, i: int, end: int, byte_map: np.ndarray, byte_space: np.ndarray,
                      lower: np.ndarray, out: np.ndarray, j: int) -> int:
    """``_collapse_ascii`` of UTF-8 text, other code points lowercased by ``lower`` (None: as they are).
    Whitespace is that of the code points before lowercasing, the same after (a test checks)."""
    start = j
    after_space = 1
    while i < end:
        while i < end:  # ASCII, as in _collapse_ascii
            b = data[i]
            if b >= 0x80:
                break
            space = byte_space[b]
            out[j] = byte_map[b]
            j += 1 - (space & after_space)
            after_space = space
            i += 1
        if i == end:
            break
        if b < 0xE0:
            cp, n = ((b & 0x1F) << 6) | (data[i + 1] & 0x3F), 2
        elif b < 0xF0:
            cp, n = ((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F), 3
        else:
            cp, n = (((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                     | (data[i + 3] & 0x3F)), 4
        i += n
        if _is_space(cp):
            out[j] = 32
            j += 1 - after_space
            after_space = 1
            continue
        after_space = 0
        if lower is not None:
            cp = lower[cp]
        j = utf8_put(out, j, cp)
    if j > start and out[j - 1] == 32:
        j -= 1
    return j


@njit(cache=True, nogil=True)
def _collapse(data: np.ndarray, offsets: np.ndarray, side_data: np.ndarray, side_offsets: np.ndarray,
              side_row: np.ndarray, mode: np.ndarray, byte_map: np.ndarray, byte_space: np.ndarray,
              lower: np.ndarray, out: np.ndarray, out_offsets: np.ndarray) -> None:
    """``normalize_for_hash`` (but NFC) of every text into ``out[out_offsets[k]:out_offsets[k + 1]]``,
    as UTF-8. Text k is ``data[offsets[k]:offsets[k + 1]]`` or, when ``side_row[k] = m >= 0``,
    ``side_data[side_offsets[m]:side_offsets[m + 1]]``, read as ``mode[k]`` says."""
    j = 0
    for k in range(len(offsets) - 1):
        out_offsets[k] = j
        m = side_row[k]
        if mode[k] == _ASCII:
            j = _collapse_ascii(data, offsets[k], offsets[k + 1], byte_map, byte_space, out, j)
        elif m < 0:
            j = _collapse_unicode(data, offsets[k], offsets[k + 1], byte_map, byte_space, lower, out, j)
        elif mode[k] == _TABLE:
            j = _collapse_unicode(side_data, side_offsets[m], side_offsets[m + 1], byte_map, byte_space, lower, out, j)
        else:
            j = _collapse_unicode(side_data, side_offsets[m], side_offsets[m + 1], byte_map, byte_space, None, out, j)
    out_offsets[len(offsets) - 1] = j


_C1 = np.uint64(0x87C37B91114253D5)
_C2 = np.uint64(0x4CF5AD432745937F)


@njit(cache=True, nogil=True, inline="always")
def _rotl64(x: np.uint64, r: int) -> np.uint64:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@njit(cache=True, nogil=True, inline="always")
def _fmix64(k: np.uint64) -> np.uint64:
    k ^= k >> np.uint64(33)
    k *= np.uint64(0xFF51AFD7ED558CCD)
    k ^= k >> np.uint64(33)
    k *= np.uint64(0xC4CEB9FE1A85EC53)
    k ^= k >> np.uint64(33)
    return k


@njit(cache=True, nogil=True, inline="always")
def _load64(data: np.ndarray, p: int) -> np.uint64:
    v = np.uint64(0)
    for i in range(8):
        v |= np.uint64(data[p + i]) << np.uint64(8 * i)
    return v


@njit(cache=True, nogil=True)
def _murmur3_128(data: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """MurmurHash3 x64-128, seed 0, of each ``data[offsets[k]:offsets[k + 1]]`` into ``out[k]``
    (h1, h2): the digest bytes are h1 then h2, little-endian, as ``mmh3.hash_bytes``."""
    for d in range(len(offsets) - 1):
        start, end = offsets[d], offsets[d + 1]
        length = end - start
        h1 = np.uint64(0)
        h2 = np.uint64(0)
        nblocks = length // 16
        for b in range(nblocks):
            p = start + 16 * b
            k1 = _load64(data, p) * _C1
            k1 = _rotl64(k1, 31) * _C2
            h1 ^= k1
            h1 = _rotl64(h1, 27) + h2
            h1 = h1 * np.uint64(5) + np.uint64(0x52DCE729)
            k2 = _load64(data, p + 8) * _C2
            k2 = _rotl64(k2, 33) * _C1
            h2 ^= k2
            h2 = _rotl64(h2, 31) + h1
            h2 = h2 * np.uint64(5) + np.uint64(0x38495AB5)
        tail = start + 16 * nblocks
        rem = length - 16 * nblocks
        if rem > 8:
            k2 = np.uint64(0)
            for i in range(8, rem):
                k2 |= np.uint64(data[tail + i]) << np.uint64(8 * (i - 8))
            k2 = _rotl64(k2 * _C2, 33) * _C1
            h2 ^= k2
        if rem > 0:
            k1 = np.uint64(0)
            for i in range(min(rem, 8)):
                k1 |= np.uint64(data[tail + i]) << np.uint64(8 * i)
            k1 = _rotl64(k1 * _C1, 31) * _C2
            h1 ^= k1
        h1 ^= np.uint64(length)
        h2 ^= np.uint64(length)
        h1 += h2
        h2 += h1
        h1 = _fmix64(h1)
        h2 = _fmix64(h2)
        h1 += h2
        h2 += h1
        out[d, 0] = h1
        out[d, 1] = h2


def _hash_batch(arr: pa.Array) -> bytes:
    """The 16-byte digests of ``content_hash`` of the texts of a string array. Only non-ASCII
    texts become Python strings (for NFC and the two context-dependent lowercase mappings)."""
    n = len(arr)
    mode = np.zeros(n, dtype=np.int64)
    side_row = np.full(n, -1, dtype=np.int64)
    side: list[str] = []
    non_ascii = np.flatnonzero(~pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False))
    for k, text in zip(non_ascii.tolist(), arr.take(pa.array(non_ascii)).to_pylist(), strict=True):
        nfc = unicodedata.normalize("NFC", text)
        if "\u0130" in nfc or "\u03a3" in nfc:
            mode[k] = _LOWERED
            nfc = nfc.lower()
        else:
            mode[k] = _TABLE
            if nfc == text:  # NFC already: read from arr
                continue
        side_row[k] = len(side)
        side.append(nfc)
    side_data, side_offsets = _utf8(pa.array(side, pa.large_string()))
    data, offsets = _utf8(arr)
    lower = _lower_table() if (mode == _TABLE).any() else np.zeros(0, dtype=np.int32)
    # Lowercase needs at most 3/2 of the UTF-8 bytes (e.g. U+023A, 2 bytes, to U+2C65, 3 bytes).
    out = np.empty(int(offsets[-1] - offsets[0] + side_offsets[-1]) * 2, dtype=np.uint8)
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    _collapse(data, offsets, side_data, side_offsets, side_row, mode, _BYTE_MAP, _BYTE_SPACE, lower, out, out_offsets)
    digests = np.empty((n, 2), dtype=np.uint64)
    _murmur3_128(out, out_offsets, digests)
    return digests.astype("<u8").tobytes()


def _content_hashes(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``content_hash`` of every text of a string array (no nulls), as a string array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], arr.type)
    _, offsets = _utf8(arr)
    out: list[bytes] = []
    start, n = 0, len(arr)
    while start < n:
        # At most _HASH_ROWS texts and about _HASH_CHARS bytes per batch (bounded buffers).
        stop = min(n, start + _HASH_ROWS, max(start + 1, int(np.searchsorted(offsets, offsets[start] + _HASH_CHARS))))
        out.append(_hash_batch(arr.slice(start, stop - start)))
        start = stop
    hexed = b"".join(out).hex().encode()  # 32 hex digits per text
    offsets = np.arange(0, len(hexed) + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(hexed))


def content_hashes(texts: Sequence[str]) -> list[str]:
    """``content_hash`` of every text, equal to it text by text: NFC and lowercase in Python only
    for non-ASCII texts, whitespace collapsed for all texts at once (numba), MurmurHash3 per text (numba)."""
    return _content_hashes(pa.array(texts, pa.large_string())).to_pylist()


def _rows(table: pa.Table, columns: Sequence[str]) -> Iterable[dict]:
    data = table.select(list(columns)).to_pydict()
    for values in zip(*(data[c] for c in columns), strict=True):
        yield dict(zip(columns, values, strict=True))


# The raw columns build_documents reads (a reader can skip the others).
INPUT_COLUMNS = {
    "issues": ("id", "repo", "number", "title", "body", "created_at", "is_pull_request"),
    "pulls": ("id", "repo", "number", "title", "body", "created_at", "merged"),
    "comments": ("record_id", "kind", "comment_id", "author", "author_type", "body", "created_at"),
    "pull_files": ("record_id", "path", "previous_path", "patch"),
}


def build_documents(issues: pa.Table, pulls: pa.Table, comments: pa.Table, pull_files: pa.Table,
                    **opts: Any) -> pa.Table:
    """The ``DOCUMENTS`` table of one partition, sorted by ``doc_id``.

    Inputs are the current rows (one per key) of the raw tables, already limited to the
    partition's repositories. Issue rows with ``is_pull_request`` true, or whose id is a
    ``pulls`` id, are not issue documents (the pull's document comes from ``pulls``). One pass
    groups ``comments`` and ``pull_files`` by ``record_id``; a doc_id seen twice is an error.
    Values are those of ``issue_document``, ``pull_document`` and ``content_hash`` per record,
    computed a column at a time (``_clean_column``, ``_content_hashes``).
    """
    o = _Opts(**opts)
    # Kept comments per record: (sort key, kind, cleaned body), in _kept_comments' order.
    threads: dict[str, list[tuple]] = {}
    if comments.num_rows:
        columns = ("record_id", "kind", "comment_id", "author", "author_type")
        record_id, kind, comment_id, author, author_type = (comments.column(c).to_pylist() for c in columns)
        # created_at as int64 microseconds: the same order as the timestamps, no datetime objects.
        created_at = comments.column("created_at").cast(pa.int64()).to_pylist()
        rows = range(comments.num_rows)
        if o.strip_bot_comments:
            bots: dict[tuple, bool] = {}
            for key in zip(author, author_type, strict=True):
                if key not in bots:
                    bots[key] = is_bot(*key, o.extra_bot_logins)
            rows = [k for k in rows if not bots[author[k], author_type[k]]]
        bodies = comments.column("body")
        if len(rows) < comments.num_rows:
            bodies = bodies.take(pa.array(rows, pa.int64()))
        for k, body in zip(rows, _clean_column(bodies, o), strict=True):
            if body:
                key = _comment_key({"created_at": created_at[k], "comment_id": comment_id[k]})
                threads.setdefault(record_id[k], []).append((key, kind[k], body))
        for thread in threads.values():
            thread.sort(key=itemgetter(0))  # stable: ties stay in table order
    files_by_record: dict[str, list[dict]] = {}
    for f in _rows(pull_files, ("record_id", "path", "previous_path", "patch")):
        files_by_record.setdefault(f["record_id"], []).append(f)

    pull_ids = pulls.column("id").to_pylist()
    is_pr = pc.fill_null(issues.column("is_pull_request"), False)
    if pull_ids:
        is_pr = pc.or_(is_pr, pc.is_in(issues.column("id"), value_set=pa.array(pull_ids, pa.string())))
    if pc.any(is_pr).as_py():
        issues = issues.filter(pc.invert(is_pr))
    issue_ids = issues.column("id").to_pylist()
    if len(set(pull_ids)) + len(set(issue_ids)) < len(pull_ids) + len(issue_ids):
        seen: set[str] = set()
        for doc_id in (*pull_ids, *issue_ids):
            if doc_id in seen:
                raise ValueError(f"duplicate record {doc_id!r}: build_documents expects one current row per record")
            seen.add(doc_id)

    texts: list[str] = []
    n_comments: list[int] = []
    for doc_id, title, body in zip(pull_ids, pulls.column("title").to_pylist(), _clean_column(pulls.column("body"), o),
                                   strict=True):
        n_comments.append(len(threads.get(doc_id, ())))
        texts.append(_pull_text(title, body, files_by_record.get(doc_id, ()), o))
    issue_text, issue_comments = _issue_texts(issue_ids, issues, threads, o)
    n_comments += issue_comments

    # Sorted by doc_id (Arrow's order, as Table.sort_by), before the columns are built.
    doc_ids = pa.array(pull_ids + issue_ids, pa.string())
    order = pc.sort_indices(doc_ids)
    text = pa.concat_arrays([pa.array(texts, pa.string()), issue_text]).take(order)

    def stacked(name: str) -> pa.ChunkedArray:  # the pulls' values, then the issues', sorted
        t = DOCUMENTS.field(name).type
        return pa.chunked_array(pulls.column(name).cast(t).chunks + issues.column(name).cast(t).chunks,
                                type=t).take(order)

    n_pulls = len(pull_ids)
    merged = pa.concat_arrays([pulls.column("merged").combine_chunks().cast(pa.bool_()),
                               pa.nulls(len(issue_ids), pa.bool_())])
    columns = {
        "doc_id": doc_ids.take(order),
        "kind": pa.array(np.where(order.to_numpy() < n_pulls, "pull", "issue").astype(object), pa.string()),
        "repo": stacked("repo"),
        "number": stacked("number"),
        "text": text,
        "content_hash": _content_hashes(text),
        "merged": merged.take(order),
        "n_comments": pa.array(np.asarray(n_comments, dtype=np.int64)).take(order),
        "created_at": stacked("created_at"),
        "n_chars": pc.utf8_length(text).cast(pa.int64()),
    }
    return pa.Table.from_arrays([columns[name] for name in DOCUMENTS.names], schema=DOCUMENTS)


_RE2_TITLE_ODD = rf"\A[{_RE2_SPACE}]|[{_RE2_SPACE}]\z|\r"


def _titles(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``_title`` of every value: in Python only for titles with a line break or edge whitespace."""
    base = pc.fill_null(values.cast(pa.string()), "")
    if isinstance(base, pa.ChunkedArray):
        base = base.combine_chunks() if base.num_chunks else pa.array([], pa.string())
    odd = np.flatnonzero(pc.match_substring_regex(base, _RE2_TITLE_ODD).to_numpy(zero_copy_only=False))
    if not len(odd):
        return base
    at = pa.array(odd, pa.int64())
    mask = np.zeros(len(base), dtype=bool)
    mask[odd] = True
    return pc.replace_with_mask(base, pa.array(mask), pa.array([_title(t) for t in base.take(at).to_pylist()], pa.string()))


@njit(cache=True, nogil=True)
def _join_cut_kernel(td, to, bd, bo, max_chars, out, out_off):  # pragma: no cover - compiled
    pos = 0
    for k in range(to.size - 1):
        t0, t1, b0, b1 = to[k], to[k + 1], bo[k], bo[k + 1]
        sep = 2 if (t1 > t0 and b1 > b0) else 0
        start = pos
        out[pos:pos + t1 - t0] = td[t0:t1]
        pos += t1 - t0
        if sep:
            out[pos] = 10
            out[pos + 1] = 10
            pos += 2
        out[pos:pos + b1 - b0] = bd[b0:b1]
        pos += b1 - b0
        if pos - start > max_chars:  # more bytes than allowed characters: count code points
            chars = 0
            for i in range(start, pos):
                if (out[i] & 0xC0) != 0x80:
                    if chars == max_chars:
                        pos = i
                        break
                    chars += 1
        out_off[k + 1] = pos
    return pos


def _join_cut(titles: pa.Array, bodies: pa.Array, max_chars: int) -> pa.Array:
    """``"\\n\\n".join(p for p in (title, body) if p)[:max_chars]`` of every row (non-null strings),
    in one pass over the bytes into a new string array."""
    td, to = _utf8(titles)
    bd, bo = _utf8(bodies)
    out = np.empty(len(td) + len(bd) + 2 * len(to), dtype=np.uint8)
    out_off = np.zeros(len(to), dtype=np.int64)
    end = _join_cut_kernel(td, to, bd, bo, max_chars, out, out_off)
    if end < 1 << 31:
        return pa.StringArray.from_buffers(len(to) - 1, pa.py_buffer(out_off.astype(np.int32)), pa.py_buffer(out[:end]))
    return pa.LargeStringArray.from_buffers(len(to) - 1, pa.py_buffer(out_off), pa.py_buffer(out[:end])).cast(pa.string())


def _issue_texts(issue_ids: list[str], issues: pa.Table, threads: dict[str, list[tuple]],
                 o: _Opts) -> tuple[pa.Array, list[int]]:
    """The issue documents (``_issue_text``) as a string array, and their kept-comment counts.
    Issues without kept comments, most of them, are joined and cut in Arrow; the others in Python."""
    titles = _titles(issues.column("title"))
    body = _clean_array(issues.column("body"), o)
    text = _join_cut(titles, body, o.max_chars)
    n_comments = [0] * len(issue_ids)
    rows = [k for k, doc_id in enumerate(issue_ids) if doc_id in threads]
    if rows:
        at = pa.array(rows, pa.int64())
        replaced = []
        for k, title, b in zip(rows, titles.take(at).to_pylist(), body.take(at).to_pylist(), strict=True):
            thread = threads[issue_ids[k]]
            n_comments[k] = len(thread)
            replaced.append(_issue_text(title, b, [(kind, c) for _, kind, c in thread], o))
        mask = np.zeros(len(issue_ids), dtype=bool)
        mask[rows] = True
        text = pc.replace_with_mask(text, pa.array(mask), pa.array(replaced, pa.string()))
    return text, n_comments
