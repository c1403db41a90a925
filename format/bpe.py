"""Qwen2 byte-level BPE in numba: the same ids as tiktoken, without its backtracking regex.

Reads: the ranks passed in (token bytes, index = rank) and the Unicode classes of the ``regex``
module. Writes: nothing.

The one idea: tiktoken spends half its time in ``fancy_regex`` because the Qwen split pattern's
``\\s+(?!\\S)`` needs a backtracking engine; the pattern is simple enough to scan by hand. One
numba call walks every code point of a batch once, splits it with the regex's exact leftmost-first
semantics (``_piece_end``, alternative by alternative), and encodes each piece as tiktoken does:
a piece whose UTF-8 bytes are a rank is that rank, else the adjacent pair with the lowest rank
merges first, leftmost on ties. Ranks live in an open-addressing hash table over one byte buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numba import njit

from dedup.documents import utf8_put

# Code point classes, one uint8 each: the low bits below; the high nibble is the contraction
# letter a code point matches case-insensitively (``_FOLD``: 'ſ' matches s, like the regex).
LETTER, NUMBER, SPACE, NEWLINE = 1, 2, 4, 8  # \p{L}, \p{N}, \s (White_Space), [\r\n]
_FOLD = "strevmld"
F_S, F_T, F_R, F_E, F_V, F_M, F_L, F_D = range(1, 9)
N_CODE_POINTS = 0x110000
_NO_RANK = np.int64(2**62)
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_SHIFT = np.uint64(32)


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """The class byte of every code point, from the ``regex`` module's Unicode tables."""
    import regex

    everything = "".join(map(chr, range(N_CODE_POINTS)))
    table = np.zeros(N_CODE_POINTS, dtype=np.uint8)
    for bit, pattern in ((LETTER, r"\p{L}+"), (NUMBER, r"\p{N}+"), (SPACE, r"\p{White_Space}+")):
        for m in regex.finditer(pattern, everything):
            table[m.start():m.end()] |= bit
    table[[0x0A, 0x0D]] |= NEWLINE
    for code, letter in enumerate(_FOLD, start=1):
        for m in regex.finditer(f"(?i){letter}", everything):
            table[m.start()] |= code << 4
    return table


class Ranks:
    """Byte-level BPE ranks as numba-ready arrays: the token bytes of rank r are
    ``data[offsets[r]:offsets[r + 1]]``; ``slots`` is a hash table of ranks (-1 = empty)."""

    def __init__(self, tokens: Sequence[bytes]):
        self.tokens = list(tokens)
        lengths = np.fromiter(map(len, self.tokens), dtype=np.int64, count=len(self.tokens))
        self.offsets = np.zeros(len(self.tokens) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.data = np.frombuffer(b"".join(self.tokens), dtype=np.uint8)
        size = 1 << max(4, int(2 * len(self.tokens)).bit_length())  # load factor <= 1/2
        self.slots = _build_slots(self.data, self.offsets, size)
        single = {t[0]: r for r, t in enumerate(self.tokens) if len(t) == 1}
        if len(single) != 256:
            raise ValueError("byte-level BPE ranks must hold every single byte")
        self.byte_rank = np.array([single[b] for b in range(256)], dtype=np.int64)

    def encode(self, cps: np.ndarray, doc_offsets: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int32 ids, int64 per-document offsets into them) of code points ``cps`` (uint32)
        split into documents at ``doc_offsets``."""
        if len(cps) and ((cps & 0xFFFFF800) == 0xD800).any():
            cps, doc_offsets = _replace_surrogates(cps, doc_offsets)
        return _encode(cps, doc_offsets, classes, self.slots, self.data, self.offsets, self.byte_rank)


def code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 code points, int64 document offsets) of strings; lone surrogates pass through."""
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=offsets[1:])
    return np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32), offsets


@njit(cache=True, nogil=True, inline="always")
def _hash(buf: np.ndarray, a: int, b: int) -> np.uint64:
    h = _FNV_OFFSET
    for i in range(a, b):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h ^ (h >> _SHIFT)


@njit(cache=True, nogil=True)
def _build_slots(data: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    slots = np.full(size, -1, dtype=np.int32)
    mask = size - 1
    for r in range(len(offsets) - 1):
        s = np.int64(_hash(data, offsets[r], offsets[r + 1]) & np.uint64(mask))
        while slots[s] >= 0:
            s = (s + 1) & mask
        slots[s] = r
    return slots


@njit(cache=True, nogil=True, inline="always")
def _lookup(buf: np.ndarray, a: int, b: int, slots: np.ndarray, data: np.ndarray, offsets: np.ndarray) -> int:
    """The rank of ``buf[a:b]``, or ``_NO_RANK``."""
    mask = len(slots) - 1
    s = np.int64(_hash(buf, a, b) & np.uint64(mask))
    n = b - a
    while True:
        r = slots[s]
        if r < 0:
            return _NO_RANK
        o = offsets[r]
        if offsets[r + 1] - o == n:
            k = 0
            while k < n and data[o + k] == buf[a + k]:
                k += 1
            if k == n:
                return r
        s = (s + 1) & mask


@njit(cache=True, nogil=True)
def _replace_surrogates(cps: np.ndarray, doc_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tiktoken's fallback for text that is not valid UTF-8 (``text.encode("utf-16",
    "surrogatepass").decode("utf-16", "replace")``), per document: a high + low surrogate pair
    becomes its code point, any other surrogate U+FFFD."""
    out = np.empty_like(cps)
    out_offsets = np.empty_like(doc_offsets)
    j = 0
    for d in range(len(doc_offsets) - 1):
        out_offsets[d] = j
        i, end = doc_offsets[d], doc_offsets[d + 1]
        while i < end:
            c = cps[i]
            if 0xD800 <= c < 0xE000:
                if c < 0xDC00 and i + 1 < end and 0xDC00 <= cps[i + 1] < 0xE000:
                    out[j] = 0x10000 + ((c - 0xD800) << 10) + (cps[i + 1] - 0xDC00)
                    i += 1
                else:
                    out[j] = 0xFFFD
            else:
                out[j] = c
            j += 1
            i += 1
    out_offsets[len(doc_offsets) - 1] = j
    return out[:j], out_offsets


@njit(cache=True, nogil=True, inline="always")
def _piece_end(cps: np.ndarray, cls: np.ndarray, i: int, end: int) -> int:
    """The end of the regex match at ``i``:
    ``(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*``
    ``|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+``, alternatives tried in order. Every position matches one."""
    c = cps[i]
    k = cls[c] & 15
    if c == 39 and i + 1 < end:  # (?i:'s|'t|'re|'ve|'m|'ll|'d)
        f = cls[cps[i + 1]] >> 4
        if f == F_S or f == F_T or f == F_M or f == F_D:
            return i + 2
        if i + 2 < end:
            g = cls[cps[i + 2]] >> 4
            if ((f == F_R or f == F_V) and g == F_E) or (f == F_L and g == F_L):
                return i + 3
    if k & LETTER:  # \p{L}+ (the optional first class excludes letters)
        j = i + 1
        while j < end and cls[cps[j]] & LETTER:
            j += 1
        return j
    if k & (NEWLINE | NUMBER) == 0 and i + 1 < end and cls[cps[i + 1]] & LETTER:  # [^\r\n\p{L}\p{N}]\p{L}+
        j = i + 2
        while j < end and cls[cps[j]] & LETTER:
            j += 1
        return j
    if k & NUMBER:  # \p{N}
        return i + 1
    other = LETTER | NUMBER | SPACE
    if k & other == 0 or (c == 32 and i + 1 < end and cls[cps[i + 1]] & other == 0):  # ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        j = i + 1
        while j < end and cls[cps[j]] & other == 0:
            j += 1
        while j < end and cls[cps[j]] & NEWLINE:
            j += 1
        return j
    # c is whitespace: the run of it decides the last three alternatives.
    last_nl = i if k & NEWLINE else -1
    e = i + 1
    while e < end:
        kc = cls[cps[e]]
        if kc & SPACE == 0:
            break
        if kc & NEWLINE:
            last_nl = e
        e += 1
    if last_nl >= 0:  # \s*[\r\n]+: greedy \s* backs off to the run's last line break
        return last_nl + 1
    if e == end or e - i == 1:  # \s+(?!\S) takes it all at the end; a single space falls to \s+
        return e
    return e - 1  # \s+(?!\S): all but the space before the non-space


@njit(cache=True, nogil=True)
def _encode(cps: np.ndarray, doc_offsets: np.ndarray, cls: np.ndarray, slots: np.ndarray, data: np.ndarray,
            offsets: np.ndarray, byte_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_docs = len(doc_offsets) - 1
    out = np.empty(max(16, len(cps) // 2), dtype=np.int32)
    out_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    buf = np.empty(64, dtype=np.uint8)  # the UTF-8 bytes of one piece
    pos = np.empty(65, dtype=np.int64)  # BPE parts: start, rank of merging with the next, own rank
    pair = np.empty(65, dtype=np.int64)
    own = np.empty(65, dtype=np.int64)
    n = 0
    for d in range(n_docs):
        i, end = doc_offsets[d], doc_offsets[d + 1]
        while i < end:
            j = _piece_end(cps, cls, i, end)
            if 4 * (j - i) > len(buf):
                size = 8 * (j - i)
                buf = np.empty(size, dtype=np.uint8)
                pos = np.empty(size + 1, dtype=np.int64)
                pair = np.empty(size + 1, dtype=np.int64)
                own = np.empty(size + 1, dtype=np.int64)
            nb = 0
            for q in range(i, j):
                nb = utf8_put(buf, nb, cps[q])
            i = j
            if n + nb > len(out):
                grown = np.empty(2 * len(out) + nb, dtype=np.int32)
                grown[:n] = out[:n]
                out = grown
            r = _lookup(buf, 0, nb, slots, data, offsets) if nb > 1 else byte_rank[buf[0]]
            if r != _NO_RANK:
                out[n] = r
                n += 1
                continue
            n = _merge(buf, nb, pos, pair, own, slots, data, offsets, byte_rank, out, n)
        out_offsets[d + 1] = n
    return out[:n].copy(), out_offsets


@njit(cache=True, nogil=True, inline="always")
def _merge(buf: np.ndarray, nb: int, pos: np.ndarray, pair: np.ndarray, own: np.ndarray, slots: np.ndarray,
           data: np.ndarray, offsets: np.ndarray, byte_rank: np.ndarray, out: np.ndarray, n: int) -> int:
    """tiktoken's ``_byte_pair_merge`` of ``buf[:nb]``: merge the adjacent parts whose joined bytes
    have the lowest rank (the leftmost of equals) until no joined pair is a rank; ids to ``out[n:]``."""
    for q in range(nb):
        pos[q] = q
        own[q] = byte_rank[buf[q]]
        pair[q] = _lookup(buf, q, q + 2, slots, data, offsets) if q + 1 < nb else _NO_RANK
    pos[nb] = nb
    m = nb  # parts
    while True:
        best, at = _NO_RANK, -1
        for q in range(m - 1):
            if pair[q] < best:
                best, at = pair[q], q
        if at < 0:
            break
        own[at] = best
        for q in range(at + 1, m):  # drop part at + 1
            pos[q] = pos[q + 1]
            pair[q] = pair[q + 1]
            own[q] = own[q + 1]
        m -= 1
        if at > 0:
            pair[at - 1] = _lookup(buf, pos[at - 1], pos[at + 1], slots, data, offsets)
        pair[at] = _lookup(buf, pos[at], pos[at + 2], slots, data, offsets) if at + 1 < m else _NO_RANK
    for q in range(m):
        out[n] = own[q]
        n += 1
    return n
