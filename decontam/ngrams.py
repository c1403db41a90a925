"""Text normalization, n-gram keys, the compact reference key set, and the one-pass scan kernel.

Pure functions over numpy / Arrow buffers (no I/O). The one idea: every reference text becomes a
set of 64-bit keys (word ``n``-grams and ``L``-character windows of its normalized form), held in
one open-addressing table behind a small Bloom bit array; a corpus text is scanned once, byte by
byte, and every key it shares with the set is reported with its span in the original text.

Keys (scheme ``KEY_SCHEME``; never change what it means, add a new name instead)
-------------------------------------------------------------------------------
1. Text is taken as UTF-8 bytes. A *word* is a maximal run of ASCII letters, digits, ``_`` or
   bytes ``>= 0x80`` (as dedup's ``words-fnv1a32-v1``); ASCII letters are lowercased; every other
   byte separates words. So whitespace, line breaks and Markdown markup (``**``, backticks, ``#``,
   ``>``, list bullets) never change a key.
2. The *normalized text* is the words joined by one space.
3. A word's hash ``wh`` is FNV-1a 64 of its bytes. A word n-gram starting at word ``i`` has the
   polynomial hash ``G = sum_j wh[i+j] * B^(n-1-j) mod 2^64`` (``B = WORD_BASE``), computed rolling;
   its key is ``splitmix64(G ^ WORD_SEED)``. Texts with fewer than ``n`` words have none.
4. A character window starts at every word start ``s`` of the normalized text with ``s + L`` within
   it; its hash is ``P[s+L] - P[s] * C^L mod 2^64`` with ``P[k+1] = P[k] * C + byte + 1``
   (``C = CHAR_BASE``); key ``splitmix64(hash ^ CHAR_SEED)``. Any common substring of two
   normalized texts at least ``L + (longest word cut at its start)`` long contains one common window.
5. A key of 0 becomes 1 (0 marks an empty table slot).

:func:`keys_py` is the pure-Python reference of both; tests check the kernels against it.

Speed: the scan does one table lookup per word per key kind; a Bloom array of 2-8 MB (one bit per
key) answers most misses from cache, so the 16-byte-slot table is touched only by hits and the
Bloom's few false positives (``bench/decontam_scan.py``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from dedup.minhash import WORD_TABLE  # one word definition for dedup and decontam

KEY_SCHEME = "words-fnv1a64-poly-v1"
KIND_WORD = 0
KIND_CHAR = 1

_M64 = (1 << 64) - 1
_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3
WORD_BASE = 0x9E3779B97F4A7C15
CHAR_BASE = 0x100000001B3 * 31 + 2  # odd
WORD_SEED = 0x5851F42D4C957F2D
CHAR_SEED = 0x14057B7EF767814F

_U_FNV_OFFSET = np.uint64(_FNV64_OFFSET)
_U_FNV_PRIME = np.uint64(_FNV64_PRIME)
_U_WORD_BASE = np.uint64(WORD_BASE)
_U_CHAR_BASE = np.uint64(CHAR_BASE)
_U_WORD_SEED = np.uint64(WORD_SEED)
_U_CHAR_SEED = np.uint64(CHAR_SEED)
_U_ONE = np.uint64(1)
_U_ZERO = np.uint64(0)
_U30 = np.uint64(30)
_U27 = np.uint64(27)
_U31 = np.uint64(31)
_U_SM1 = np.uint64(0xBF58476D1CE4E5B9)
_U_SM2 = np.uint64(0x94D049BB133111EB)



# ----------------------------------------------------------------------------- Python reference
def _splitmix64(x: int) -> int:
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    x ^= x >> 31
    return x or 1


def words_py(text: str | bytes) -> list[tuple[bytes, int, int]]:
    """(lowercased word, start byte, end byte) of every word of ``text``'s UTF-8 bytes."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    out = []
    i, n = 0, len(data)
    while i < n:
        if WORD_TABLE[data[i]]:
            j = i
            while j < n and WORD_TABLE[data[j]]:
                j += 1
            out.append((bytes(WORD_TABLE[data[k]] for k in range(i, j)), i, j))
            i = j
        else:
            i += 1
    return out


def normalize(text: str | bytes) -> str:
    """The normalized text (words, lowercased, joined by one space)."""
    return b" ".join(w for w, _, _ in words_py(text)).decode("utf-8", "replace")


def keys_py(text: str | bytes, ngram: int, window: int) -> list[tuple[int, int, int, int]]:
    """Reference implementation: ``(kind, key, start byte, end byte)`` of every word n-gram and
    character window of ``text``, in order (word n-grams first)."""
    words = words_py(text)
    out = []
    wh = []
    for w, _, _ in words:
        h = _FNV64_OFFSET
        for b in w:
            h = ((h ^ b) * _FNV64_PRIME) & _M64
        wh.append(h)
    for i in range(len(words) - ngram + 1):
        g = 0
        for j in range(ngram):
            g = (g * WORD_BASE + wh[i + j]) & _M64
        out.append((KIND_WORD, _splitmix64(g ^ WORD_SEED), words[i][1], words[i + ngram - 1][2]))
    norm = b" ".join(w for w, _, _ in words)
    starts, s = [], 0
    for w, _, _ in words:
        starts.append(s)
        s += len(w) + 1
    for k, s in enumerate(starts):
        if s + window > len(norm):
            break
        h = 0
        for b in norm[s:s + window]:
            h = (h * CHAR_BASE + b + 1) & _M64
        # The window's last byte lies in the word that covers normalized position s + window - 1.
        last = s + window - 1
        j = k
        while j + 1 < len(starts) and starts[j + 1] <= last:
            j += 1
        end = words[j][1] + min(last - starts[j], len(words[j][0]) - 1) + 1
        out.append((KIND_CHAR, _splitmix64(h ^ CHAR_SEED), words[k][1], end))
    return out


# ----------------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True, inline="always")
def _mix(x):  # pragma: no cover - compiled
    x = (x ^ (x >> _U30)) * _U_SM1
    x = (x ^ (x >> _U27)) * _U_SM2
    x = x ^ (x >> _U31)
    if x == _U_ZERO:
        x = _U_ONE
    return x


@njit(cache=True, nogil=True)
def _tokenize(buf, lo, hi, table, norm, wn, wo, wh):  # pragma: no cover - compiled
    """Normalize buf[lo:hi] into ``norm``; per word: normalized start ``wn``, original start byte
    (relative to lo) ``wo`` and FNV-1a 64 hash ``wh``. Returns (normalized length, words)."""
    m = 0
    nw = 0
    inword = False
    h = _U_FNV_OFFSET
    for i in range(lo, hi):
        c = table[buf[i]]
        if c != 0:
            if not inword:
                if nw > 0:
                    norm[m] = 32
                    m += 1
                wn[nw] = m
                wo[nw] = i - lo
                h = _U_FNV_OFFSET
                inword = True
            norm[m] = c
            m += 1
            h = (h ^ np.uint64(c)) * _U_FNV_PRIME
        elif inword:
            wh[nw] = h
            nw += 1
            inword = False
    if inword:
        wh[nw] = h
        nw += 1
    return m, nw


@njit(cache=True, nogil=True, inline="always")
def _probe(key, tkeys, tvals, mask, bloom, bshift):  # pragma: no cover - compiled
    b = key >> bshift
    if (bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & _U_ONE == _U_ZERO:
        return -1
    slot = key & mask
    while True:
        k = tkeys[slot]
        if k == key:
            return tvals[slot]
        if k == _U_ZERO:
            return -1
        slot = (slot + _U_ONE) & mask


@njit(cache=True, nogil=True)
def _scan_kernel(buf, offsets, d0, ngram, window, tkeys, tvals, mask, bloom, bshift, emit_all, table,
                 norm, wn, wo, wh, pref, h_doc, h_val, h_kind, h_start, h_end, h_nstart, n_words, pos0):  # pragma: no cover
    """Scan documents from ``d0``: every key found in the table (or every key, ``emit_all``) is
    written to the hit arrays from ``pos0`` on. Stops before a document whose hits might not fit;
    returns (next document, end of the hits written)."""
    n_docs = offsets.size - 1
    cap = h_doc.size
    pos = pos0
    pw = _U_ONE  # WORD_BASE ** (ngram - 1)
    for _ in range(ngram - 1):
        pw = pw * _U_WORD_BASE
    pc_ = _U_ONE  # CHAR_BASE ** window
    for _ in range(window):
        pc_ = pc_ * _U_CHAR_BASE
    d = d0
    while d < n_docs:
        lo = offsets[d]
        hi = offsets[d + 1]
        if pos + 2 * (hi - lo) + 4 > cap:
            break
        m, nw = _tokenize(buf, lo, hi, table, norm, wn, wo, wh)
        n_words[d] = nw
        # word n-grams, rolling polynomial over word hashes
        if nw >= ngram:
            g = _U_ZERO
            for j in range(ngram):
                g = g * _U_WORD_BASE + wh[j]
            i = 0
            while True:
                key = _mix(g ^ _U_WORD_SEED)
                v = np.int64(0) if emit_all else _probe(key, tkeys, tvals, mask, bloom, bshift)
                if v >= 0:
                    last = i + ngram - 1
                    h_doc[pos] = d
                    h_val[pos] = key if emit_all else np.uint64(v)
                    h_kind[pos] = 0
                    h_start[pos] = wo[i]
                    h_end[pos] = wo[last] + (wn[last + 1] - 1 - wn[last] if last + 1 < nw else m - wn[last])
                    h_nstart[pos] = wn[i]
                    pos += 1
                if i + ngram >= nw:
                    break
                g = (g - wh[i] * pw) * _U_WORD_BASE + wh[i + ngram]
                i += 1
        # character windows at word starts, from prefix hashes of the normalized text
        if m >= window and nw > 0:
            p = _U_ZERO
            pref[0] = p
            for k in range(m):
                p = p * _U_CHAR_BASE + np.uint64(norm[k]) + _U_ONE
                pref[k + 1] = p
            j = 0
            for k in range(nw):
                s = wn[k]
                if s + window > m:
                    break
                key = _mix((pref[s + window] - pref[s] * pc_) ^ _U_CHAR_SEED)
                v = np.int64(0) if emit_all else _probe(key, tkeys, tvals, mask, bloom, bshift)
                if v >= 0:
                    last = s + window - 1
                    if j < k:
                        j = k
                    while j + 1 < nw and wn[j + 1] <= last:
                        j += 1
                    h_doc[pos] = d
                    h_val[pos] = key if emit_all else np.uint64(v)
                    h_kind[pos] = 1
                    h_start[pos] = wo[k]
                    lenj = wn[j + 1] - 1 - wn[j] if j + 1 < nw else m - wn[j]
                    off = last - wn[j]
                    if off > lenj - 1:  # the window ends on the space after word j
                        off = lenj - 1
                    h_end[pos] = wo[j] + off + 1
                    h_nstart[pos] = s
                    pos += 1
        d += 1
    return d, pos


@njit(cache=True, nogil=True)
def _build_table(keys, vals, tkeys, tvals, mask, bloom, bshift):  # pragma: no cover - compiled
    for i in range(keys.size):
        key = keys[i]
        b = key >> bshift
        bloom[b >> np.uint64(6)] |= _U_ONE << (b & np.uint64(63))
        slot = key & mask
        while tkeys[slot] != _U_ZERO and tkeys[slot] != key:
            slot = (slot + _U_ONE) & mask
        tkeys[slot] = key
        tvals[slot] = vals[i]


# ----------------------------------------------------------------------------- buffers
def text_buffer(texts: pa.Array | pa.ChunkedArray | list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 bytes, int64 offsets from 0) of texts, zero-copy from an Arrow large_string array."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.large_string())
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    n = len(texts)
    _, off_buf, data_buf = texts.buffers()
    if n == 0 or off_buf is None:
        return np.zeros(0, np.uint8), np.zeros(n + 1, np.int64)
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=texts.offset + n + 1)[texts.offset:]
    start, end = int(offsets[0]), int(offsets[-1])
    data = (np.frombuffer(data_buf, dtype=np.uint8, count=end)[start:] if data_buf is not None and end
            else np.zeros(0, np.uint8))
    return data, offsets - start


class Hits:
    """Hits of one scan: per hit the document, the key's value (its index in the key set, or the
    key itself when emitting all keys), kind, original byte span and normalized start; and the
    word count of every document."""

    __slots__ = ("doc", "val", "kind", "start", "end", "nstart", "n_words")

    def __init__(self, doc, val, kind, start, end, nstart, n_words):
        self.doc, self.val, self.kind, self.start, self.end, self.nstart, self.n_words = (
            doc, val, kind, start, end, nstart, n_words)

    def __len__(self) -> int:
        return len(self.doc)


class Scanner:
    """Scans text batches against a key set, reusing its work and output buffers between batches
    (freshly allocated memory is slow to touch on some machines; a long scan allocates once)."""

    def __init__(self, ngram: int, window: int, keys: np.ndarray | None = None, bloom_bits: int = 24):
        self.ngram, self.window = int(ngram), int(window)
        keys = np.zeros(0, np.uint64) if keys is None else np.ascontiguousarray(keys, dtype=np.uint64)
        self.n_keys = len(keys)
        cap = 1 << max(4, int(np.ceil(np.log2(max(self.n_keys, 1) * 2 + 1))))
        self.tkeys = np.zeros(cap, np.uint64)
        self.tvals = np.zeros(cap, np.int64)
        self.mask = np.uint64(cap - 1)
        bits = max(10, min(bloom_bits, 34))
        self.bloom = np.zeros((1 << bits) // 64, np.uint64)
        self.bshift = np.uint64(64 - bits)
        _build_table(keys, np.arange(len(keys), dtype=np.int64), self.tkeys, self.tvals, self.mask,
                     self.bloom, self.bshift)
        self._work_len = -1
        self._cap = 0
        self._grow_hits(1 << 16)

    def _grow_work(self, n: int) -> None:
        if n <= self._work_len:
            return
        n = max(n, 2 * self._work_len, 1 << 16)
        self.norm = np.empty(n + 1, np.uint8)
        self.wn = np.empty(n // 2 + 2, np.int64)
        self.wo = np.empty(n // 2 + 2, np.int64)
        self.wh = np.empty(n // 2 + 2, np.uint64)
        self.pref = np.empty(n + 2, np.uint64)
        self._work_len = n

    def _grow_hits(self, n: int, keep: int = 0) -> None:
        """At least ``n`` hit slots, the first ``keep`` preserved (growth is rare: the buffers are
        reused by every later scan)."""
        if n <= self._cap:
            return
        n = max(n, 2 * self._cap)
        old = getattr(self, "h", None)
        self.h = {"doc": np.empty(n, np.int64), "val": np.empty(n, np.uint64), "kind": np.empty(n, np.int8),
                  "start": np.empty(n, np.int64), "end": np.empty(n, np.int64), "nstart": np.empty(n, np.int64)}
        if old is not None and keep:
            for k, v in old.items():
                self.h[k][:keep] = v[:keep]
        self._cap = n

    def scan(self, texts: pa.Array | pa.ChunkedArray | list[str | None], emit_all: bool = False,
             copy: bool = False) -> Hits:
        """Every key of ``texts`` in the set (or every key, ``emit_all``), in document order.

        The hits are views of the scanner's reused buffers, valid until its next scan, unless
        ``copy``."""
        buf, offsets = text_buffer(texts)
        n_docs = len(offsets) - 1
        lengths = np.diff(offsets)
        self._grow_work(int(lengths.max()) if n_docs else 0)
        n_words = np.zeros(n_docs, np.int64)
        d = pos = 0
        while d < n_docs:
            self._grow_hits(pos + 2 * int(lengths[d]) + 4, keep=pos)
            h = self.h
            d, pos = _scan_kernel(buf, offsets, d, self.ngram, self.window, self.tkeys, self.tvals, self.mask,
                                  self.bloom, self.bshift, emit_all, WORD_TABLE, self.norm, self.wn, self.wo,
                                  self.wh, self.pref, h["doc"], h["val"], h["kind"], h["start"], h["end"],
                                  h["nstart"], n_words, pos)
        out = {k: (v[:pos].copy() if copy else v[:pos]) for k, v in self.h.items()}
        return Hits(out["doc"], out["val"], out["kind"], out["start"], out["end"], out["nstart"], n_words)


def all_keys(texts: pa.Array | pa.ChunkedArray | list[str | None], ngram: int, window: int) -> Hits:
    """Every key of every text (``val`` holds the key itself): the reference side of the index."""
    return Scanner(ngram, window).scan(texts, emit_all=True, copy=True)


@njit(cache=True, nogil=True)
def _docs_with(doc, kind, want, out):  # pragma: no cover - compiled
    for i in range(doc.size):
        if kind[i] == want:
            out[doc[i]] = True
    return out


def docs_with_hits(hits: Hits, kind: int = KIND_WORD) -> np.ndarray:
    """Per document of the scan: has it a hit of ``kind`` (no temporary arrays of hit size)."""
    return _docs_with(hits.doc, hits.kind, np.int8(kind), np.zeros(len(hits.n_words), np.bool_))
