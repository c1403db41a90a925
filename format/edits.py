"""SEARCH/REPLACE edits from a file's pre- and post-image, and their validation.

Reads/writes nothing. The one idea: an edit is only as good as its SEARCH. Blocks come from a
line diff (difflib, no junk heuristics) with ``context`` lines around each change; any block whose
SEARCH is empty (a pure insertion) or occurs more than once in the base file grows by one line of
context at a time, alternating above and below, merging with a neighbour it reaches, until it
occurs exactly once. ``apply`` is the strict reader: each SEARCH must occur exactly once in the base
file, blocks must not overlap, and the result must equal the post-image, or the sample is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

EDIT_RULES = "sr_unique_v1"


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


class EditError(Exception):
    """Why a file's edits cannot be built or do not apply; ``reason`` is a short tag."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}" + (f": {detail}" if detail else ""))
        self.reason = reason
        self.detail = detail


def occurrences(text: str, sub: str, limit: int = 2) -> int:
    """How many times ``sub`` occurs in ``text`` (overlapping), counting up to ``limit``."""
    if not sub:
        return limit
    n, start = 0, 0
    while n < limit:
        k = text.find(sub, start)
        if k < 0:
            break
        n += 1
        start = k + 1
    return n


def make_edits(path: str, base: str, post: str, context: int = 0) -> list[Edit]:
    """The fewest-context SEARCH/REPLACE blocks turning ``base`` into ``post``, each SEARCH unique."""
    a = base.splitlines(keepends=True)
    b = post.splitlines(keepends=True)
    sm = SequenceMatcher(None, a, b, autojunk=False)
    blocks: list[list[int]] = []  # [a_lo, a_hi, b_lo, b_hi]
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        up = min(context, i1, j1)
        down = min(context, len(a) - i2, len(b) - j2)
        blk = [i1 - up, i2 + down, j1 - up, j2 + down]
        if blocks and blocks[-1][1] >= blk[0]:
            prev = blocks[-1]
            prev[1], prev[3] = max(prev[1], blk[1]), max(prev[3], blk[3])
        else:
            blocks.append(blk)
    if not blocks:
        raise EditError("no_change", path)

    def search_of(blk: list[int]) -> str:
        return "".join(a[blk[0]:blk[1]])

    i = 0
    while i < len(blocks):
        blk = blocks[i]
        step = 0
        while occurrences(base, search_of(blk)) != 1:
            can_up, can_down = blk[0] > 0, blk[1] < len(a)
            if not (can_up or can_down):
                raise EditError("empty_search" if not base else "ambiguous_search", path)
            up = (step % 2 == 0 and can_up) or not can_down
            step += 1
            if up:
                if i > 0 and blocks[i - 1][1] >= blk[0]:
                    prev = blocks.pop(i - 1)
                    i -= 1
                    blk[0], blk[2] = prev[0], prev[2]
                    continue
                blk[0] -= 1
                blk[2] -= 1
            else:
                if i + 1 < len(blocks) and blocks[i + 1][0] <= blk[1]:
                    nxt = blocks.pop(i + 1)
                    blk[1], blk[3] = nxt[1], nxt[3]
                    continue
                blk[1] += 1
                blk[3] += 1
        i += 1
    edits = []
    for a_lo, a_hi, b_lo, b_hi in blocks:
        # A SEARCH/REPLACE block is whole lines; a last line without a newline cannot be told apart.
        if (a_hi == len(a) and a and not a[-1].endswith("\n")) or (b_hi == len(b) and b and not b[-1].endswith("\n")):
            raise EditError("no_newline_at_eof", path)
        edits.append(Edit(path, "".join(a[a_lo:a_hi]), "".join(b[b_lo:b_hi])))
    return edits


def apply(base: str, edits: list[Edit]) -> str:
    """``base`` with ``edits`` (of one file) applied; each SEARCH must occur exactly once in ``base``
    and no two may overlap."""
    spans = []
    for e in edits:
        if not e.search:
            raise EditError("empty_search", e.path)
        n = occurrences(base, e.search)
        if n != 1:
            raise EditError("search_not_found" if n == 0 else "ambiguous_search", e.path)
        k = base.find(e.search)
        spans.append((k, k + len(e.search), e.replace))
    spans.sort()
    out, pos = [], 0
    for start, end, replace in spans:
        if start < pos:
            raise EditError("overlapping_edits")
        out += [base[pos:start], replace]
        pos = end
    out.append(base[pos:])
    return "".join(out)


def validate(base: str, post: str, edits: list[Edit]) -> None:
    """Raise EditError unless ``edits`` apply to ``base`` and give exactly ``post``."""
    if apply(base, edits) != post:
        raise EditError("post_image_mismatch", edits[0].path if edits else "")
