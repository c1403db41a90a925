"""Near-dedup kernels: shingling and MinHash match their references and datasketch 2.0 bit-for-bit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

from dedup.lsh import BAND_KEY_SCHEME, band_keys, band_keys_py, choose_bands, false_candidate_area, s_curve
from dedup.minhash import (
    EMPTY_VALUE,
    PERM_SCHEME,
    SHINGLE_SCHEME,
    estimate,
    fmix32,
    fnv1a32,
    gather_ranges,
    jaccard,
    pair_jaccard,
    permutations,
    shingle_sets,
    shingles_py,
    signatures,
)

PANGRAM = "The quick brown fox jumps over the lazy dog"


def _long_doc(n_words: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    vocab = ["fix", "the", "Error", "in", "parse_config()", "über", "错误", "x=1;", "--flag", "v1.2", "#12", "a"]
    seps = [" ", "  ", "\n", "\r\n", ", ", ". ", "\t", "/", "-"]
    parts = []
    for _ in range(n_words):
        parts.append(vocab[int(rng.integers(len(vocab)))])
        parts.append(seps[int(rng.integers(len(seps)))])
    return "".join(parts)


TRICKY = [
    PANGRAM,
    None,
    "",
    "   \t\r\n  ",
    "!!! ... ??? ---",
    "one",
    "two words",
    "exactly five words here now",
    "four words only here",
    "Hello, World! HELLO world... hello\tWORLD\r\nhello world",
    "CRLF\r\nline\r\nendings\r\nare\r\nseparators\r\n",
    "Ünïcode wörds — dashes – and “quotes” stay in words; ошибка 错误 🙂 ok",
    "snake_case CamelCase kebab-case dotted.name path/to/file.py 0xFF 3.14 #1234 @user",
    "nul\x00bytes\x01and\x7fcontrol\x1bchars",
    "lone surrogate \ud800 kept",
    "a " * 40,  # one repeated shingle
    "the same text repeated. " * 50,
    _long_doc(5000, 1),
    _long_doc(300, 2),
]


def _reference_set(text, ngram: int = 5) -> list[int]:
    return sorted({fnv1a32(s) for s in shingles_py(text, ngram)})


def _datasketch_sig(hashes, num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=lambda x: x)
    m.update_batch([int(h) for h in hashes])
    return m.hashvalues


# ----------------------------------------------------------------------------- schemes
def test_scheme_names_are_pinned():
    assert SHINGLE_SCHEME == "words-fnv1a32-v1"
    assert PERM_SCHEME == "affine32"
    assert BAND_KEY_SCHEME == "splitmix64-chain-v1"


def test_fnv1a32_known_vectors():
    assert fnv1a32(b"") == 0x811C9DC5
    assert fnv1a32(b"a") == 0xE40C292C
    assert fnv1a32(b"foobar") == 0xBF9CF968


def test_fmix32_matches_datasketch():
    xs = np.array([0, 1, 2, 0xFFFFFFFF, 0x811C9DC5, 123456789], dtype=np.uint32)
    assert _fmix(xs, 32).tolist() == [fmix32(int(x)) for x in xs]


def test_pinned_values():
    # Persisted with signatures: any change here needs a new SHINGLE_SCHEME / PERM_SCHEME name.
    values, offsets = shingle_sets([PANGRAM])
    assert values.tolist() == [1185248104, 1320912322, 1839153242, 2270213561, 2351082247]
    assert signatures(values, offsets, permutations(8, 1)).tolist() == [
        [1064816870, 235334421, 1135841547, 323837378, 1614629239, 932453270, 507608916, 30011219]]
    assert band_keys(np.zeros((1, 8), np.uint32), 2, 4).tolist() == [[17483285349468708307, 4925577761778092491]]


# ----------------------------------------------------------------------------- shingling
def test_shingles_py_rules():
    assert shingles_py(PANGRAM, 5)[:2] == [b"the quick brown fox jumps", b"quick brown fox jumps over"]
    assert len(shingles_py(PANGRAM, 5)) == 9 - 5 + 1
    assert shingles_py("Hello, World!", 5) == [b"hello world"]  # fewer than n words: one shingle
    assert shingles_py("a-b c", 1) == [b"a", b"b", b"c"]
    assert shingles_py("", 5) == [] and shingles_py(None, 5) == [] and shingles_py(" .,;\r\n", 5) == []
    # Bytes >= 0x80 are word bytes (no Unicode case folding); only ASCII letters are lowercased.
    assert shingles_py("Ünï — X_1", 5) == ["Ünï — x_1".encode()]
    assert shingles_py("a\r\nb", 2) == [b"a b"]
    with pytest.raises(ValueError):
        shingles_py("x", 0)


@pytest.mark.parametrize("ngram", [1, 2, 3, 5, 8])
def test_shingle_sets_equal_reference(ngram):
    values, offsets = shingle_sets(TRICKY, ngram)
    assert values.dtype == np.uint32 and offsets.dtype == np.int64
    assert offsets.shape == (len(TRICKY) + 1,) and offsets[0] == 0 and offsets[-1] == len(values)
    for i, text in enumerate(TRICKY):
        got = values[offsets[i] : offsets[i + 1]]
        assert got.tolist() == _reference_set(text, ngram), (ngram, i, text and text[:40])
        assert np.all(np.diff(got.astype(np.int64)) > 0)  # sorted unique


def test_shingle_sets_empty_inputs():
    values, offsets = shingle_sets([])
    assert values.size == 0 and offsets.tolist() == [0]
    values, offsets = shingle_sets([None, "", "  "])
    assert values.size == 0 and offsets.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        shingle_sets(["x"], 0)


def test_shingle_sets_output_growth():
    # Many unique short bigrams: more shingles than the initial capacity guess (len/8).
    doc = " ".join(np.base_repr(i, 36) for i in range(30_000))
    values, offsets = shingle_sets([doc, "tail doc"], 2)
    assert values[offsets[0] : offsets[1]].tolist() == _reference_set(doc, 2)
    assert values[offsets[1] : offsets[2]].tolist() == _reference_set("tail doc", 2)


def test_shingle_sets_arrow_inputs_equal_list():
    texts = [t for t in TRICKY if t is None or "\ud800" not in t]
    v_ref, o_ref = shingle_sets(texts)
    for arr in (pa.array(texts, pa.string()), pa.array(texts, pa.large_string()),
                pa.chunked_array([pa.array(texts[:5]), pa.array(texts[5:])]),
                pa.array(texts).dictionary_encode()):
        v, o = shingle_sets(arr)
        assert np.array_equal(v, v_ref) and np.array_equal(o, o_ref)
    sliced = pa.array(["zero", *texts])[1:]
    v, o = shingle_sets(sliced)
    assert np.array_equal(v, v_ref) and np.array_equal(o, o_ref)
    v, o = shingle_sets(pa.array([], pa.string()))
    assert v.size == 0 and o.tolist() == [0]


def test_deterministic():
    a = shingle_sets(TRICKY)
    b = shingle_sets(list(TRICKY))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    perms = permutations(128, 1)
    assert np.array_equal(perms, permutations(128, 1))
    s1, s2 = signatures(*a, perms), signatures(*b, perms)
    assert np.array_equal(s1, s2)
    assert np.array_equal(band_keys(s1, 16, 6), band_keys(s2, 16, 6))


# ----------------------------------------------------------------------------- MinHash vs datasketch
@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 1), (128, 7), (64, 12345)])
def test_permutations_equal_datasketch(num_perm, seed):
    perms = permutations(num_perm, seed)
    assert perms.dtype == np.uint32 and perms.shape == (2, num_perm)
    ds = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    assert np.array_equal(perms, ds)


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 1), (128, 3), (64, 99)])
def test_signatures_equal_datasketch(num_perm, seed):
    texts = [PANGRAM, "", None, "short doc", TRICKY[9], TRICKY[11], TRICKY[-1], _long_doc(400, 5)]
    values, offsets = shingle_sets(texts)
    sigs = signatures(values, offsets, permutations(num_perm, seed))
    assert sigs.dtype == np.uint32 and sigs.shape == (len(texts), num_perm)
    for i in range(len(texts)):
        assert np.array_equal(sigs[i], _datasketch_sig(values[offsets[i] : offsets[i + 1]], num_perm, seed)), i
    empty = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").hashvalues
    assert np.array_equal(sigs[1], empty) and np.all(sigs[1] == EMPTY_VALUE)


def test_signatures_ignore_duplicates_and_order():
    perms = permutations(128, 1)
    vals = np.array([5, 1, 9, 1, 5, 7], dtype=np.uint32)
    dup = signatures(vals, np.array([0, 6]), perms)
    uniq = signatures(np.unique(vals), np.array([0, 4]), perms)
    assert np.array_equal(dup, uniq)
    assert np.array_equal(dup[0], _datasketch_sig(vals, 128, 1))


# ----------------------------------------------------------------------------- Jaccard
def _csr(sets):
    offsets = np.zeros(len(sets) + 1, np.int64)
    offsets[1:] = np.cumsum([len(s) for s in sets])
    values = np.concatenate([np.array(sorted(s), np.uint32) for s in sets]) if sets else np.zeros(0, np.uint32)
    return values, offsets


def test_pair_jaccard_equals_python_sets():
    rng = np.random.default_rng(3)
    sets = [set(rng.integers(0, 60, int(rng.integers(0, 40))).tolist()) for _ in range(40)] + [set(), set()]
    values, offsets = _csr(sets)
    pairs = np.array([(i, j) for i in range(len(sets)) for j in range(len(sets))], np.int64)
    got = pair_jaccard(values, offsets, pairs)
    for (i, j), g in zip(pairs.tolist(), got.tolist(), strict=True):
        a, b = sets[i], sets[j]
        want = 1.0 if not a and not b else len(a & b) / len(a | b)
        assert g == pytest.approx(want, abs=1e-12)
    assert jaccard(values, offsets, 40, 41) == 1.0  # both empty
    assert jaccard(values, offsets, 0, 41) == 0.0 if sets[0] else 1.0
    assert pair_jaccard(values, offsets, np.zeros((0, 2), np.int64)).shape == (0,)
    with pytest.raises(IndexError):
        pair_jaccard(values, offsets, np.array([[0, len(sets)]]))


def test_gather_ranges_block_by_block():
    # A CSR subset gathered from a long array streamed in blocks equals gathering it whole,
    # including sets that straddle block edges and empty sets.
    rng = np.random.default_rng(4)
    sets = [sorted(set(rng.integers(0, 1000, int(rng.integers(0, 30))).tolist())) for _ in range(40)]
    values, offsets = _csr([set(x) for x in sets])
    rows = np.array([1, 2, 7, 8, 20, 39])
    starts, ends = offsets[rows], offsets[rows + 1]
    dest = np.concatenate([[0], np.cumsum(ends - starts)])
    out = np.full(dest[-1], 7777, dtype=np.uint32)
    for v0 in range(0, len(values), 13):
        gather_ranges(values[v0:v0 + 13], v0, starts, ends, dest[:-1], out)
    assert out.tolist() == [v for r in rows for v in sets[r]]


def test_estimate_close_to_true_jaccard():
    rng = np.random.default_rng(11)
    num_perm = 128
    sets, truth = [], []
    for _ in range(200):
        base = rng.choice(2**32 - 1, 600, replace=False).astype(np.uint32)
        n_shared = int(rng.integers(50, 550))
        a = base[:n_shared].tolist() + base[n_shared : n_shared + (600 - n_shared) // 2].tolist()
        b = base[:n_shared].tolist() + base[n_shared + (600 - n_shared) // 2 :].tolist()
        sets += [set(a), set(b)]
        truth.append(len(set(a) & set(b)) / len(set(a) | set(b)))
    values, offsets = _csr(sets)
    sigs = signatures(values, offsets, permutations(num_perm, 1))
    est = estimate(sigs[0::2], sigs[1::2])
    truth = np.array(truth)
    exact = pair_jaccard(values, offsets, np.arange(400).reshape(-1, 2))
    assert np.allclose(exact, truth)
    sd = np.sqrt(truth * (1 - truth) / num_perm)
    assert np.all(np.abs(est - truth) <= 4.5 * sd + 1e-9)
    assert abs(np.mean(est - truth)) < 0.01  # unbiased
    assert np.mean(np.abs(est - truth)) < 0.04
    assert estimate(sigs[0], sigs[0]) == 1.0 and isinstance(estimate(sigs[0], sigs[1]), float)


# ----------------------------------------------------------------------------- LSH
def test_choose_bands_for_recall():
    assert choose_bands(128, 0.8) == (16, 6)
    assert _optimal_param(0.8, 128, 0.5, 0.5) == (9, 13)  # datasketch's choice: ~40% recall at 0.8
    assert s_curve(0.8, 9, 13) < 0.45
    for num_perm, threshold, recall in [(128, 0.8, 0.99), (128, 0.7, 0.95), (256, 0.85, 0.99), (64, 0.5, 0.9)]:
        b, r = choose_bands(num_perm, threshold, recall)
        assert b * r <= num_perm and s_curve(threshold, b, r) >= recall
        area = false_candidate_area(threshold, b, r)
        for bb in range(1, num_perm + 1):  # brute force: nothing feasible has fewer false candidates
            for rr in range(1, num_perm // bb + 1):
                if s_curve(threshold, bb, rr) >= recall:
                    assert false_candidate_area(threshold, bb, rr) >= area - 1e-12
    with pytest.raises(ValueError):
        choose_bands(4, 0.5, 0.999)
    with pytest.raises(ValueError):
        choose_bands(128, 1.0)


def test_s_curve():
    assert s_curve(0.0, 16, 6) == 0.0 and s_curve(1.0, 16, 6) == 1.0
    assert s_curve(0.8, 1, 1) == pytest.approx(0.8)
    assert s_curve(np.array([0.5, 0.8]), 16, 6).shape == (2,)
    assert false_candidate_area(0.8, 1, 1) == pytest.approx(0.32)


def test_band_keys():
    rng = np.random.default_rng(5)
    sigs = rng.integers(0, 2**32, (6, 128), dtype=np.uint32)
    sigs[1] = sigs[0]
    keys = band_keys(sigs, 16, 6)
    assert keys.dtype == np.uint64 and keys.shape == (6, 16)
    assert np.array_equal(keys[0], keys[1])
    for row in range(3):
        assert keys[row].tolist() == band_keys_py(sigs[row], 16, 6)
    for col in (0, 5, 6, 47, 95):
        changed = sigs[0].copy()
        changed[col] ^= 1
        diff = np.flatnonzero(band_keys(changed[None], 16, 6)[0] != keys[0])
        assert diff.tolist() == [col // 6]
    changed = sigs[0].copy()
    changed[100] += 1  # past 16 * 6: unused
    assert np.array_equal(band_keys(changed[None], 16, 6)[0], keys[0])
    same = np.zeros((1, 8), np.uint32)  # equal values in different bands give different keys
    k = band_keys(same, 2, 4)[0]
    assert k[0] != k[1]
    with pytest.raises(ValueError):
        band_keys(sigs, 16, 9)
