"""The reference index: every benchmark instance's text as keys, minus boilerplate.

Reads/writes nothing. The one idea: a reference n-gram only counts as evidence when it is specific
to one instance; n-grams that ordinary GitHub text also contains (tracebacks, licence headers,
issue-template lines, imports) are measured on clean data and excluded, so they cannot flag clean
records, while a real leak still shares dozens of specific n-grams with its instance.

Boilerplate rule (keys are word ``ngram``-grams and ``window``-character windows, ``decontam.ngrams``):

0. **Stack frames and diff headers** of reference texts (``File "...", line N, in f`` and its
   source line; ``diff --git``, ``index``, ``---``, ``+++``, ``@@`` lines) are replaced by a break no
   key spans: every report against the same code shares them.
1. **Across the references** (before the scan): a key found in instances of two or more different
   repositories, or in ``common_max_instances`` or more distinct instances, is excluded. Instances
   are unified by id, so an instance in both Verified and Lite counts once.
2. **A clean background sample** (before the scan): reference lines equal (normalized) to a line of
   the sample become breaks too, and keys found in the bundled
   ``references/background.txt`` (GitHub's default issue and PR templates, common licence headers,
   traceback and CI boilerplate) and in any ``background_files`` of the config are excluded.
3. **The scanned corpus itself** (after the one scan, from the hits): a key matched in records of
   ``common_min_repos`` or more distinct repositories is boilerplate for an instance *unless* at
   least ``common_copy_fraction`` of that instance's keys are such widely matched keys: then the
   instance itself was copied into many repositories (agent logs, forks) and every key still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from decontam import ngrams
from decontam.references import BUNDLED_DIR, TEXT_FIELDS, Reference

BACKGROUND = BUNDLED_DIR / "background.txt"
# Stack frames (the frame line and its source line) and diff headers of reference texts are
# shared by every report against the same code: they become a break no key can span.
_MASK_RE = re.compile(
    r'(?m)^[^\n]*?\bFile "[^"\n]*", line \d+[^\n]*\r?\n(?:[ \t>][^\n]*\r?\n?)?'
    r"|^(?:diff --git |index [0-9a-f]+\.\.|--- |\+\+\+ |@@ |new file mode|deleted file mode)[^\n]*\n?")
BREAK = "\n\u2063\n"  # a word (non-ASCII) that corpus text never contains


_WORDS_RE = re.compile(r"[A-Za-z0-9_\x80-\U0010ffff]+")


def _line_key(line: str) -> str:
    return " ".join(_WORDS_RE.findall(line)).lower()


def background_lines(background: list[str]) -> frozenset[str]:
    """Normalized lines (three words or more) of the background sample."""
    return frozenset(k for t in background for line in t.splitlines() if len((k := _line_key(line)).split()) >= 3)


def mask(text: str, lines: frozenset[str] = frozenset()) -> str:
    """A reference text with stack frames, diff headers and background lines (template lines,
    whatever was deleted around them) replaced by a key break."""
    if not text:
        return text
    text = _MASK_RE.sub(BREAK, text)
    if lines:
        text = "".join(BREAK if _line_key(x) in lines else x for x in text.splitlines(keepends=True))
    return text


@dataclass
class ReferenceIndex:
    ngram: int
    window: int
    instance_ids: list[str]  # sorted
    repos: list[str]  # per instance
    numbers: np.ndarray  # per instance: the benchmark PR number
    created_at: list[str]
    refs: list[list[int]]  # per instance: indices of the references holding it
    keys: np.ndarray  # kept keys, sorted (uint64)
    post_start: np.ndarray  # CSR over keys -> postings
    post_inst: np.ndarray
    post_fields: np.ndarray  # bit i set: the key is in TEXT_FIELDS[i] of that instance
    post_kind: np.ndarray
    inst_keys: np.ndarray  # (n_instances, 2): kept keys per kind
    scanner: ngrams.Scanner
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_instances(self) -> int:
        return len(self.instance_ids)

    def expand(self, hits: ngrams.Hits) -> dict[str, np.ndarray]:
        """One row per (hit, instance holding its key)."""
        k = hits.val.astype(np.int64)
        counts = self.post_start[k + 1] - self.post_start[k]
        rep = np.repeat(np.arange(len(k)), counts)
        starts = np.repeat(self.post_start[k], counts)
        within = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        p = starts + within
        return {"doc": hits.doc[rep], "key": k[rep], "kind": hits.kind[rep].astype(np.int64),
                "start": hits.start[rep], "end": hits.end[rep], "nstart": hits.nstart[rep],
                "inst": self.post_inst[p], "fields": self.post_fields[p]}

    def widely_copied(self, common_keys: np.ndarray, fraction: float) -> np.ndarray:
        """Per instance: True when at least ``fraction`` of its keys are in ``common_keys`` (key
        indices matched in many repositories): a copied instance, not boilerplate (rule 3)."""
        n = np.zeros(self.n_instances, np.int64)
        for k in np.unique(common_keys):
            insts = np.unique(self.post_inst[self.post_start[k]:self.post_start[k + 1]])
            n[insts] += 1
        total = self.inst_keys.sum(axis=1)
        return (total > 0) & (n >= fraction * np.maximum(total, 1))


def build_index(refs: list[Reference], ngram: int, window: int, common_max_instances: int,
                background: list[str], bloom_bits: int = 24) -> ReferenceIndex:
    """Unify instances across references, key their texts, drop boilerplate keys (rules 1 and 2)."""
    by_id: dict[str, dict] = {}
    for ri, ref in enumerate(refs):
        for row in ref.table.to_pylist():
            cur = by_id.setdefault(row["instance_id"], {**row, "refs": []})
            cur["refs"].append(ri)
    ids = sorted(by_id)
    rows = [by_id[i] for i in ids]
    repos = [r["repo"] for r in rows]
    bg_lines = background_lines(background)
    texts = [mask(r[f], bg_lines) for r in rows for f in TEXT_FIELDS]
    h = ngrams.all_keys(texts, ngram, window)
    nf = len(TEXT_FIELDS)
    key = h.val
    inst = h.doc // nf
    fbit = (np.int64(1) << (h.doc % nf)).astype(np.int64)
    kind = h.kind.astype(np.int64)
    # Unique (key, instance) with the OR of fields.
    order = np.lexsort((inst, key))
    key, inst, fbit, kind = key[order], inst[order], fbit[order], kind[order]
    new = np.r_[True, (key[1:] != key[:-1]) | (inst[1:] != inst[:-1])] if len(key) else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    fields = np.bitwise_or.reduceat(fbit, starts) if len(starts) else np.zeros(0, np.int64)
    key, inst, kind = key[starts], inst[starts], kind[starts]
    # Rule 1: per key, distinct instances and distinct repositories.
    newkey = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    kstart = np.flatnonzero(newkey)
    n_inst = np.diff(np.r_[kstart, len(key)])
    repo_codes = {r: i for i, r in enumerate(sorted(set(repos)))}
    inst_repo = np.array([repo_codes[r] for r in repos], np.int64)
    kr = inst_repo[inst]
    rmin = np.minimum.reduceat(kr, kstart) if len(kstart) else kr
    rmax = np.maximum.reduceat(kr, kstart) if len(kstart) else kr
    ex_repos = rmin != rmax
    ex_inst = n_inst >= common_max_instances
    # Rule 2: the clean background sample.
    bg = ngrams.all_keys(background, ngram, window).val if background else np.zeros(0, np.uint64)
    ex_bg = np.isin(key[kstart], bg)
    excluded = ex_repos | ex_inst | ex_bg
    keep_pair = np.repeat(~excluded, n_inst)
    key, inst, kind, fields = key[keep_pair], inst[keep_pair], kind[keep_pair], fields[keep_pair]
    ukeys, first = np.unique(key, return_index=True)
    post_start = np.r_[first, len(key)].astype(np.int64)
    inst_keys = np.zeros((len(ids), 2), np.int64)
    np.add.at(inst_keys, (inst, kind), 1)
    stats = {"keys_total": int(len(kstart)), "keys_kept": int(len(ukeys)),
             "excluded_multi_repo": int(ex_repos.sum()), "excluded_many_instances": int((ex_inst & ~ex_repos).sum()),
             "excluded_background": int((ex_bg & ~ex_inst & ~ex_repos).sum())}
    return ReferenceIndex(
        ngram=ngram, window=window, instance_ids=ids, repos=repos,
        numbers=np.array([r["number"] for r in rows], np.int64), created_at=[r["created_at"] for r in rows],
        refs=[r["refs"] for r in rows], keys=ukeys, post_start=post_start, post_inst=inst.astype(np.int64),
        post_fields=fields.astype(np.int64), post_kind=kind, inst_keys=inst_keys,
        scanner=ngrams.Scanner(ngram, window, ukeys, bloom_bits=bloom_bits), stats=stats)


def load_background(extra: tuple[str, ...] = ()) -> list[str]:
    """The bundled clean sample plus the config's extra files (one text each)."""
    texts = [BACKGROUND.read_text(encoding="utf-8")]
    for path in extra:
        with open(path, encoding="utf-8", errors="replace") as fh:
            texts.append(fh.read())
    return texts


def instances_table(index: ReferenceIndex) -> pa.Table:
    return pa.table({"instance_id": index.instance_ids, "repo": index.repos,
                     "number": pa.array(index.numbers, pa.int64())})
