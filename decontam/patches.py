"""Diff hunks of benchmark gold and test patches, and which corpus hunks equal or contain them.

Reads/writes nothing. The one idea: a gold patch that adds one line is still a hunk with its
context, so a corpus hunk is evidence when, after normalization, it is equal to, contained in, or
contains a reference hunk, and the contained side carries real content: at least one changed line
plus ``min_context`` non-blank context lines, or ``min_changed_alone`` non-blank changed lines (a
new file). A bare ``+    return None`` matches nothing on its own.

Normalization of a hunk line: the ``+``/``-``/`` `` prefix is kept, the rest has its whitespace
collapsed and trimmed (indentation, tabs and trailing spaces never matter); ``\\ No newline at end
of file`` lines are dropped; the ``@@`` header (line numbers, function context) is not compared.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Hunk:
    lines: tuple[str, ...]
    start: int  # character offsets of the hunk (its @@ line included) in the patch text
    end: int


def normalize_line(line: str) -> str | None:
    if line.startswith("\\"):
        return None
    prefix = line[:1] if line[:1] in ("+", "-", " ") else " "
    rest = line[1:] if line[:1] in ("+", "-", " ") else line
    return prefix + " ".join(rest.split())


def parse_hunks(patch: str | None) -> list[Hunk]:
    """The hunks of a unified diff: a full ``diff --git`` patch or GitHub's per-file ``patch``."""
    if not patch:
        return []
    out: list[Hunk] = []
    cur: list[str] | None = None
    start = pos = 0
    end = 0
    for raw in patch.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        if line.startswith("@@"):
            if cur:
                out.append(Hunk(tuple(cur), start, end))
            cur, start = [], pos
        elif line.startswith("diff --git ") or (cur is None):
            if cur:
                out.append(Hunk(tuple(cur), start, end))
            cur = None
        else:
            norm = normalize_line(line)
            if norm is not None:
                cur.append(norm)
        pos += len(raw)
        if cur is not None:
            end = pos
    if cur:
        out.append(Hunk(tuple(cur), start, end))
    return out


def qualifies(lines: tuple[str, ...], min_context: int, min_changed_alone: int) -> bool:
    changed = sum(1 for x in lines if x[0] in "+-" and len(x) > 1)
    context = sum(1 for x in lines if x[0] == " " and len(x) > 1)
    return changed >= 1 and (context >= min_context or changed >= min_changed_alone)


class PatchIndex:
    """Hunks of every instance's ``patch`` and ``test_patch``, indexed by line for containment."""

    def __init__(self, hunks: list[tuple[int, str, tuple[str, ...]]], repos: list[str], min_context: int,
                 min_changed_alone: int, common_max_instances: int):
        """``hunks``: (instance index, reference field, normalized lines); ``repos`` per instance."""
        self.hunks = hunks
        self.repos = repos
        self.min_context, self.min_changed_alone = min_context, min_changed_alone
        self.common_max_instances = common_max_instances
        self.lines: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for h, (_, _, lines) in enumerate(hunks):
            for p, line in enumerate(lines):
                self.lines[line].append((h, p))
        # A qualifying reference hunk is found inside a corpus hunk through its rarest line.
        self.anchors: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for h, (_, _, lines) in enumerate(hunks):
            if not qualifies(lines, min_context, min_changed_alone):
                continue
            p = min((p for p, x in enumerate(lines) if len(x) > 1), key=lambda p: (len(self.lines[lines[p]]), p))
            self.anchors[lines[p]].append((h, p))

    def match(self, lines: tuple[str, ...]) -> list[tuple[int, str, int]]:
        """(instance, reference field, matched lines) for every reference hunk equal to, containing
        or contained in ``lines``; empty when the match is boilerplate (hunks of several
        repositories, or of ``common_max_instances`` instances, share it)."""
        found: dict[int, int] = {}
        n = len(lines)
        if n and qualifies(lines, self.min_context, self.min_changed_alone):
            cands = [self.lines.get(x) for x in lines if len(x) > 1]
            if cands and all(cands):
                j = min((j for j, x in enumerate(lines) if len(x) > 1), key=lambda j: len(self.lines[lines[j]]))
                for h, p in self.lines[lines[j]]:
                    s = p - j
                    ref = self.hunks[h][2]
                    if s >= 0 and ref[s:s + n] == lines:
                        found[h] = n
        for i, x in enumerate(lines):
            for h, p in self.anchors.get(x, ()):
                ref = self.hunks[h][2]
                s = i - p
                if s >= 0 and lines[s:s + len(ref)] == ref:
                    found[h] = max(found.get(h, 0), len(ref))
        if not found:
            return []
        insts = {self.hunks[h][0] for h in found}
        if len({self.repos[i] for i in insts}) > 1 or len(insts) >= self.common_max_instances:
            return []
        best: dict[tuple[int, str], int] = {}
        for h, m in found.items():
            inst, fld, _ = self.hunks[h]
            best[(inst, fld)] = max(best.get((inst, fld), 0), m)
        return sorted((i, f, m) for (i, f), m in best.items())
