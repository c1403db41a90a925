"""Numeric kernels of near-dedup: word shingling, MinHash signatures, exact Jaccard.

Pure functions over numpy arrays (no I/O). The hot loops are numba ``@njit(cache=True, nogil=True)``
kernels: they release the GIL, so callers may run them on threads over disjoint slices of documents.

Persisted schemes
-----------------
Both names below are stored next to every signature; a signature is only comparable to another
made under the same two names (and the same ``ngram``, ``num_perm`` and ``seed``). Never change
what a name means: introduce a new name instead.

``SHINGLE_SCHEME = "words-fnv1a32-v1"``: how a text becomes a set of 32-bit shingle hashes.

1. The text is encoded as UTF-8 (``errors="surrogatepass"``, so lone surrogates are kept as bytes
   instead of failing; Arrow strings are taken byte-for-byte as stored). ``None`` is treated
   as the empty text.
2. A *word* is a maximal run of bytes that are ASCII letters ``A-Z a-z``, ASCII digits ``0-9``,
   the underscore ``_``, or any byte ``>= 0x80`` (so every non-ASCII character, punctuation
   included, is part of a word). Every other byte (ASCII whitespace, ASCII punctuation, control
   characters, NUL) separates words. ASCII letters are lowercased (``A-Z`` -> ``a-z``); all other
   bytes are kept unchanged (no Unicode case folding or normalization).
3. The shingles of a document with ``w >= n`` words (``n = ngram``, default 5) are its ``w-n+1``
   word n-grams; a document with ``1 <= w < n`` words has exactly one shingle made of all its
   words; a document with no words has no shingles.
4. A shingle's bytes are its words joined by one space byte ``b" "``; its hash is FNV-1a 32 of
   those bytes (offset basis ``0x811C9DC5``, prime ``0x01000193``; per byte ``h ^= byte;
   h *= prime (mod 2**32)``). Python reference: ``fnv1a32(b" ".join(words))``; see
   :func:`shingles_py` and :func:`fnv1a32`.
5. A document's shingle *set* is the sorted unique list of its shingle hashes (uint32).

``PERM_SCHEME = "affine32"``: datasketch 2.0's MinHash scheme, bit-for-bit.

* Parameters for ``(num_perm, seed)``: ``gen = numpy.random.RandomState(seed)``;
  ``a = gen.randint(0, 2**31, num_perm, dtype=uint32) * 2 + 1`` (odd); then
  ``b = gen.randint(0, 2**32, num_perm, dtype=uint32)``; see :func:`permutations`.
* Each shingle hash ``h`` is pre-mixed once with the MurmurHash3 32-bit finalizer ``fmix32``
  (``h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16``, mod 2**32), then
  ``phv_k = (a_k * fmix32(h) + b_k) mod 2**32`` and ``signature_k = min`` over the document's
  shingles. A document without shingles has every value ``0xFFFFFFFF`` (datasketch's initial
  value). This equals ``datasketch.MinHash(num_perm, seed=seed, scheme="affine32",
  hashfunc=lambda x: x)`` updated with the shingle hashes as Python ints.

The MinHash estimate of the Jaccard similarity of two sets is the fraction of equal signature
values (:func:`estimate`); candidates from LSH are then checked with :func:`pair_jaccard`, the
exact Jaccard similarity of the shingle sets.

Speed (``bench/minhash_speed.py``, one core of the 2-core dev box, ~2 KB issue-like docs):
``shingle_sets`` ~125 MB/s of text, ``signatures`` ~130-170k docs/s with 128 permutations
(datasketch ``MinHash.update_batch`` on the same shingle hashes: ~4k docs/s). The first call in a
fresh checkout compiles the kernels (~8 s); numba caches them in ``__pycache__``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

__all__ = [
    "PERM_SCHEME",
    "SHINGLE_SCHEME",
    "estimate",
    "fmix32",
    "fnv1a32",
    "jaccard",
    "pair_jaccard",
    "permutations",
    "shingle_sets",
    "shingles_py",
    "signatures",
]

SHINGLE_SCHEME = "words-fnv1a32-v1"
PERM_SCHEME = "affine32"

EMPTY_VALUE = np.uint32(0xFFFFFFFF)

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF

# numba: keep every operand of uint64 arithmetic uint64 (uint64 op int64 is float64 in numba).
_U_FNV_OFFSET = np.uint64(_FNV_OFFSET)
_U_FNV_PRIME = np.uint64(_FNV_PRIME)
_U_MASK32 = np.uint64(_MASK32)
_U_FMIX_M1 = np.uint64(0x85EBCA6B)
_U_FMIX_M2 = np.uint64(0xC2B2AE35)
_U16 = np.uint64(16)
_U13 = np.uint64(13)
_U_ZERO = np.uint64(0)
_U_SPACE = np.uint64(32)

# Byte -> lowercased word byte, or 0 for a separator (0 itself is a separator). The word
# definition of the project: decontam's n-grams use this table too.
WORD_TABLE = np.zeros(256, dtype=np.uint8)
for _c in range(256):
    if _c >= 0x80 or 0x30 <= _c <= 0x39 or 0x61 <= _c <= 0x7A or _c == 0x5F:
        WORD_TABLE[_c] = _c
    elif 0x41 <= _c <= 0x5A:
        WORD_TABLE[_c] = _c + 32
del _c

_WORD_RE = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")


# ----------------------------------------------------------------------------- Python references
def fnv1a32(data: bytes) -> int:
    """FNV-1a 32-bit hash of ``data`` (reference implementation of the shingle hash)."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK32
    return h


def fmix32(h: int) -> int:
    """MurmurHash3 32-bit finalizer (reference; datasketch's ``_fmix(h, 32)``)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def _encode(text: str | bytes | None) -> bytes:
    if text is None:
        return b""
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogatepass")


def shingles_py(text: str | bytes | None, ngram: int = 5) -> list[bytes]:
    """The shingles of ``text`` as byte strings, in document order (duplicates kept).

    Pure-Python reference of ``SHINGLE_SCHEME``; ``fnv1a32`` of each gives the shingle hashes.
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    words = [w.lower() for w in _WORD_RE.findall(_encode(text))]
    if not words:
        return []
    if len(words) < ngram:
        return [b" ".join(words)]
    return [b" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]


# ----------------------------------------------------------------------------- input buffers
def _text_buffer(texts) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 buffer, int64 offsets of len n+1, starting at 0) from strings or an Arrow array."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if isinstance(texts, pa.Array):
        if pa.types.is_dictionary(texts.type):
            texts = texts.dictionary_decode()
        if not (pa.types.is_large_string(texts.type) or pa.types.is_large_binary(texts.type)):
            target = pa.large_binary() if pa.types.is_binary(texts.type) else pa.large_string()
            texts = texts.cast(target)
        if texts.null_count:
            empty = b"" if pa.types.is_large_binary(texts.type) else ""
            texts = pc.fill_null(texts, pa.scalar(empty, texts.type))
        n = len(texts)
        _, off_buf, data_buf = texts.buffers()
        if n == 0 or off_buf is None:
            return np.zeros(0, np.uint8), np.zeros(n + 1, np.int64)
        offsets = np.frombuffer(off_buf, dtype=np.int64, count=texts.offset + n + 1)[texts.offset :]
        start, end = int(offsets[0]), int(offsets[-1])
        data = np.frombuffer(data_buf, dtype=np.uint8, count=end)[start:] if data_buf is not None and end \
            else np.zeros(0, np.uint8)
        return data, offsets - start
    encoded = [_encode(t) for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


# ----------------------------------------------------------------------------- numba kernels
@njit(cache=True, nogil=True)
def _sort_u32(x, tmp, counts):  # pragma: no cover - compiled
    """Sort ``x`` (uint32) ascending, using ``tmp`` (same length) and ``counts`` ((4, 256) int64).

    Returns the sorted array (``x`` itself after the even number of radix passes)."""
    n = x.size
    if n <= 32:  # insertion sort
        for i in range(1, n):
            v = x[i]
            j = i - 1
            while j >= 0 and x[j] > v:
                x[j + 1] = x[j]
                j -= 1
            x[j + 1] = v
        return x
    # LSD radix sort, 4 passes of 8 bits, all four histograms from one read pass.
    counts[:] = 0
    for i in range(n):
        v = x[i]
        counts[0, v & 255] += 1
        counts[1, (v >> 8) & 255] += 1
        counts[2, (v >> 16) & 255] += 1
        counts[3, v >> 24] += 1
    src = x
    dst = tmp
    for p in range(4):
        c = counts[p]
        total = 0
        for k in range(256):
            t = c[k]
            c[k] = total
            total += t
        shift = 8 * p
        for i in range(n):
            v = src[i]
            k = (v >> shift) & 255
            dst[c[k]] = v
            c[k] += 1
        src, dst = dst, src
    return src


@njit(cache=True, nogil=True)
def _normalize(buf, lo, hi, table, norm):  # pragma: no cover - compiled
    """Write buf[lo:hi]'s words, lowercased and joined by single spaces, to ``norm``.

    Branch-free; returns (length, number of words)."""
    m = 0
    nw = 0
    prev = 0
    for i in range(lo, hi):
        c = table[buf[i]]
        isw = np.int64(c != 0)
        norm[m] = c if isw else 32
        nw += isw & (1 - prev)
        m += isw | prev
        prev = isw
    if m > 0 and norm[m - 1] == 32:
        m -= 1
    return m, nw


@njit(cache=True, nogil=True)
def _fnv_ngrams5(norm, m, hashes):  # pragma: no cover - compiled
    """FNV-1a 32 of every word 5-gram of ``norm`` (>= 5 words), one pass, 5 states in registers.

    ``h0`` is the oldest open shingle; at each space it is emitted (once 5 words are in it) and
    the states shift, a new shingle starting at the next word. Branch-free inner loop."""
    h0 = _U_FNV_OFFSET
    h1 = _U_FNV_OFFSET
    h2 = _U_FNV_OFFSET
    h3 = _U_FNV_OFFSET
    h4 = _U_FNV_OFFSET
    pos = 0
    w = 0
    for i in range(m):
        c = np.uint64(norm[i])
        sp = np.uint64(c == _U_SPACE)
        hashes[pos] = np.uint32(h0)
        pos += np.int64(sp) & np.int64(w >= 4)
        h0 = ((h0 ^ c) * _U_FNV_PRIME) & _U_MASK32
        h1 = ((h1 ^ c) * _U_FNV_PRIME) & _U_MASK32
        h2 = ((h2 ^ c) * _U_FNV_PRIME) & _U_MASK32
        h3 = ((h3 ^ c) * _U_FNV_PRIME) & _U_MASK32
        h4 = ((h4 ^ c) * _U_FNV_PRIME) & _U_MASK32
        mk = _U_ZERO - sp
        nk = ~mk
        h0 = (h1 & mk) | (h0 & nk)
        h1 = (h2 & mk) | (h1 & nk)
        h2 = (h3 & mk) | (h2 & nk)
        h3 = (h4 & mk) | (h3 & nk)
        h4 = (_U_FNV_OFFSET & mk) | (h4 & nk)
        w += np.int64(sp)
    hashes[pos] = np.uint32(h0)
    return pos + 1


@njit(cache=True, nogil=True)
def _fnv_ngrams(norm, m, ngram, states, hashes):  # pragma: no cover - compiled
    """Any ``ngram`` (>= 1; ``norm`` has >= ngram words): a ring of ``ngram`` states in memory.

    Slot ``(s % ngram)`` holds shingle ``s``; at the space after word ``w`` shingle ``w-ngram+1``
    (slot ``(w+1) % ngram``) is emitted and that slot restarts for shingle ``w+1``."""
    states[0] = np.uint32(_U_FNV_OFFSET)
    j = 1 % ngram
    w = 0
    pos = 0
    for i in range(m):
        c = np.uint64(norm[i])
        sp = np.int64(c == _U_SPACE)
        hashes[pos] = states[j]
        pos += sp & np.int64(w >= ngram - 1)
        for k in range(ngram):
            states[k] = np.uint32((np.uint64(states[k]) ^ c) * _U_FNV_PRIME)
        if sp:
            states[j] = np.uint32(_U_FNV_OFFSET)
        w += sp
        jn = j + 1
        if jn == ngram:
            jn = 0
        j = jn if sp else j
    hashes[pos] = states[j]
    return pos + 1


@njit(cache=True, nogil=True)
def _shingle_kernel(buf, offsets, ngram, table):  # pragma: no cover - compiled
    n_docs = offsets.size - 1
    max_len = 0
    for d in range(n_docs):
        ln = offsets[d + 1] - offsets[d]
        if ln > max_len:
            max_len = ln
    norm = np.empty(max_len + 1, dtype=np.uint8)
    hashes = np.empty(max_len // 2 + 2, dtype=np.uint32)
    scratch = np.empty(max_len // 2 + 2, dtype=np.uint32)
    counts = np.empty((4, 256), dtype=np.int64)
    states = np.empty(ngram, dtype=np.uint32)
    cap = buf.size // 8 + n_docs + 16
    out = np.empty(cap, dtype=np.uint32)
    out_off = np.zeros(n_docs + 1, dtype=np.int64)
    pos = 0
    for d in range(n_docs):
        m, nw = _normalize(buf, offsets[d], offsets[d + 1], table, norm)
        if nw == 0:
            ns = 0
        elif nw < ngram:  # one shingle: all the words
            h = _U_FNV_OFFSET
            for i in range(m):
                h = ((h ^ np.uint64(norm[i])) * _U_FNV_PRIME) & _U_MASK32
            hashes[0] = np.uint32(h)
            ns = 1
        elif ngram == 5:
            ns = _fnv_ngrams5(norm, m, hashes)
        else:
            ns = _fnv_ngrams(norm, m, ngram, states, hashes)
        if pos + ns > cap:
            cap = max(cap + cap // 2, pos + ns + 16)
            grown = np.empty(cap, dtype=np.uint32)
            grown[:pos] = out[:pos]
            out = grown
        if ns > 0:  # sorted unique into the output
            srt = _sort_u32(hashes[:ns], scratch[:ns], counts)
            out[pos] = srt[0]
            pos += 1
            for s in range(1, ns):
                if srt[s] != srt[s - 1]:
                    out[pos] = srt[s]
                    pos += 1
        out_off[d + 1] = pos
    return out[:pos].copy(), out_off


@njit(cache=True, nogil=True, inline="always")
def _fmix32_nb(h):  # pragma: no cover - compiled
    h = np.uint64(h)
    h ^= h >> _U16
    h = (h * _U_FMIX_M1) & _U_MASK32
    h ^= h >> _U13
    h = (h * _U_FMIX_M2) & _U_MASK32
    h ^= h >> _U16
    return np.uint32(h)


@njit(cache=True, nogil=True)
def _signature_kernel(values, offsets, a, b, out):  # pragma: no cover - compiled
    n_docs = offsets.size - 1
    num_perm = a.size
    for d in range(n_docs):
        row = out[d]
        for k in range(num_perm):
            row[k] = np.uint32(0xFFFFFFFF)
        for j in range(offsets[d], offsets[d + 1]):
            h = _fmix32_nb(values[j])
            for k in range(num_perm):
                v = np.uint32(a[k] * h + b[k])
                if v < row[k]:
                    row[k] = v
    return out


@njit(cache=True, nogil=True, inline="always")
def _sorted_jaccard(va, ia, ea, vb, ib, eb):  # pragma: no cover - compiled
    """Jaccard of the sorted unique runs ``va[ia:ea]`` and ``vb[ib:eb]`` (merge count)."""
    na = ea - ia
    nb = eb - ib
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    inter = 0
    while ia < ea and ib < eb:
        x = va[ia]
        y = vb[ib]
        if x == y:
            inter += 1
            ia += 1
            ib += 1
        elif x < y:
            ia += 1
        else:
            ib += 1
    return inter / (na + nb - inter)


@njit(cache=True, nogil=True)
def _pair_jaccard_kernel(values, offsets, pairs, out):  # pragma: no cover - compiled
    for p in range(pairs.shape[0]):
        i = pairs[p, 0]
        j = pairs[p, 1]
        out[p] = _sorted_jaccard(values, offsets[i], offsets[i + 1], values, offsets[j], offsets[j + 1])
    return out


# ----------------------------------------------------------------------------- public API
def shingle_sets(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray,
                 ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Shingle-hash sets of ``texts`` (``SHINGLE_SCHEME``) in CSR form.

    Returns ``(values, offsets)``: ``values`` (uint32) holds each document's sorted unique shingle
    hashes, concatenated; document ``i``'s set is ``values[offsets[i]:offsets[i + 1]]``
    (``offsets``: int64, ``len(texts) + 1``). ``None`` and empty texts give empty sets.
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    buf, offsets = _text_buffer(texts)
    return _shingle_kernel(np.ascontiguousarray(buf), np.ascontiguousarray(offsets, dtype=np.int64),
                           np.int64(ngram), WORD_TABLE)


def permutations(num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """``(2, num_perm)`` uint32 ``[a, b]``: datasketch 2.0 ``MinHash(..., scheme="affine32").permutations``."""
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return np.array([a, b], dtype=np.uint32)


def signatures(values: np.ndarray, offsets: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """MinHash signatures ``(n_docs, num_perm)`` uint32 of CSR shingle sets under ``PERM_SCHEME``.

    ``perms`` is :func:`permutations`'s ``(2, num_perm)`` array. Documents without shingles get
    all ``0xFFFFFFFF``. Duplicated values within a set do not change the result.
    """
    perms = np.asarray(perms)
    if perms.ndim != 2 or perms.shape[0] != 2:
        raise ValueError(f"perms must have shape (2, num_perm), got {perms.shape}")
    a = np.ascontiguousarray(perms[0], dtype=np.uint32)
    b = np.ascontiguousarray(perms[1], dtype=np.uint32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    out = np.empty((offsets.size - 1, a.size), dtype=np.uint32)
    return _signature_kernel(np.ascontiguousarray(values, dtype=np.uint32), offsets, a, b, out)


def pair_jaccard(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the CSR sets of each ``pairs[p] = (i, j)`` (float64, len k).

    Sets must be sorted unique (as :func:`shingle_sets` returns). Both empty -> 1.0; one empty -> 0.0.
    """
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
    n_docs = offsets.size - 1
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n_docs):
        raise IndexError(f"pair index out of range for {n_docs} documents")
    out = np.empty(pairs.shape[0], dtype=np.float64)
    return _pair_jaccard_kernel(np.ascontiguousarray(values, dtype=np.uint32), offsets, pairs, out)


@njit(cache=True, nogil=True)
def _gather_kernel(chunk, v0, starts, ends, dest, out, first):  # pragma: no cover - compiled
    v1 = v0 + chunk.size
    i = first
    while i < starts.size and starts[i] < v1:
        lo = max(starts[i], v0)
        hi = min(ends[i], v1)
        if hi > lo:
            out[dest[i] + lo - starts[i]:dest[i] + hi - starts[i]] = chunk[lo - v0:hi - v0]
        i += 1


def gather_ranges(chunk: np.ndarray, v0: int, starts: np.ndarray, ends: np.ndarray, dest: np.ndarray,
                  out: np.ndarray) -> None:
    """Copy the parts of ranges ``[starts[k], ends[k])`` of a long array that fall in ``chunk``
    (its elements ``v0 ..``) to ``out[dest[k] + (i - starts[k])]``: a CSR subset gathered block
    by block as a file streams past. Ranges sorted, not overlapping."""
    first = int(np.searchsorted(ends, v0, side="right"))
    _gather_kernel(chunk, np.int64(v0), starts, ends, dest, out, first)


def jaccard(values: np.ndarray, offsets: np.ndarray, i: int, j: int) -> float:
    """Exact Jaccard similarity of CSR sets ``i`` and ``j`` (see :func:`pair_jaccard`)."""
    return float(pair_jaccard(values, offsets, np.array([[i, j]], dtype=np.int64))[0])


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """MinHash Jaccard estimate: fraction of equal values along the last axis (rows broadcast)."""
    sig_a = np.asarray(sig_a)
    sig_b = np.asarray(sig_b)
    if sig_a.shape[-1] != sig_b.shape[-1]:
        raise ValueError(f"signature lengths differ: {sig_a.shape[-1]} != {sig_b.shape[-1]}")
    est = np.mean(sig_a == sig_b, axis=-1)
    return float(est) if np.ndim(est) == 0 else est
