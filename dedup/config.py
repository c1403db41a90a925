"""Typed, validated configuration of the dedup stage.

Read/written: nothing. The one idea: everything that changes which records are dropped (document
rules, shingles, permutations, threshold, the representative policy) is here, checked before work;
the parameters that shape stored signatures form a fingerprint, and a change of fingerprint makes
the next run rebuild the index instead of mixing incompatible signatures.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ingest.config import StageConfig

POLICY_KEYS = ("merged", "n_comments", "created_at", "n_chars", "doc_id")


class DedupConfig(StageConfig):
    kinds: tuple[str, ...] = ("issue", "pull")

    # Documents (dedup/documents.py).
    strip_templates: bool = True
    strip_bot_comments: bool = True
    strip_quoted_email: bool = True
    include_comments: bool = True
    max_chars: int = Field(200_000, ge=100)
    extra_bot_logins: tuple[str, ...] = ()

    # MinHash-LSH.
    ngram: int = Field(5, ge=1, le=32)
    num_perm: int = Field(128, ge=16, le=1024)
    seed: int = Field(1, ge=0)
    threshold: float = Field(0.8, gt=0.0, le=1.0)  # exact Jaccard a near-duplicate pair must reach
    lsh_recall: float = Field(0.99, gt=0.0, lt=1.0)  # bands are chosen to catch this share of pairs at threshold
    bands: int | None = Field(None, ge=1)  # override the chosen (bands, rows)
    rows: int | None = Field(None, ge=1)
    # A bucket with at most this many members verifies every pair; a larger one (a bot template
    # shared by thousands) verifies each member against the bucket's first member only.
    max_bucket_pairs: int = Field(64, ge=2)

    # Which record of a cluster is kept: ordered keys, "asc" or "desc"; doc_id breaks ties.
    policy: tuple[str, ...] = ("merged desc", "n_comments desc", "created_at asc")

    # Bounded work: records hashed per partition (a unit of work the flows map over), and the
    # memory DuckDB may use for the band and edge queries.
    partition_docs: int = Field(50_000, ge=1, le=1_000_000)  # a version's ref holds its row in 20 bits
    # Documents built and hashed at a time inside a partition: small buffers, reused chunk after
    # chunk, instead of partition-sized ones (fresh memory is the costly part on small VMs).
    chunk_docs: int = Field(2_048, ge=1)
    memory_limit_mb: int = Field(2048, ge=256)
    threads: int = Field(2, ge=1, le=64)  # partitions hashed at once
    workers: Literal["processes", "threads"] = "processes"  # how dedup() runs them outside a flow

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(k not in ("issue", "pull") for k in v):
            raise ValueError("must be a non-empty subset of issue, pull")
        return v

    @field_validator("policy")
    @classmethod
    def _policy(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            m = re.match(r"^(\w+)(?:\s+(asc|desc))?$", item.strip())
            if not m or m.group(1) not in POLICY_KEYS:
                raise ValueError(f"{item!r}: expected '<key> [asc|desc]' with key in {', '.join(POLICY_KEYS)}")
        return v

    @model_validator(mode="after")
    def _bands(self) -> DedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows go together")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError("bands * rows must be <= num_perm")
        return self

    def doc_options(self) -> dict:
        return {"strip_templates": self.strip_templates, "strip_bot_comments": self.strip_bot_comments,
                "strip_quoted_email": self.strip_quoted_email, "include_comments": self.include_comments,
                "max_chars": self.max_chars, "extra_bot_logins": tuple(self.extra_bot_logins)}

    def policy_keys(self) -> list[tuple[str, bool]]:
        """(key, descending) in order, doc_id ascending last."""
        out = []
        for item in self.policy:
            parts = item.split()
            out.append((parts[0], len(parts) > 1 and parts[1] == "desc"))
        return out + [("doc_id", False)]

    def fingerprint(self, doc_rules: str, shingle_scheme: str, perm_scheme: str, bands: tuple[int, int]) -> str:
        """What stored signatures and band keys depend on; a change means a rebuild."""
        data = {"doc": doc_rules, "doc_options": self.doc_options(), "kinds": list(self.kinds),
                "shingles": shingle_scheme, "ngram": self.ngram, "perm": perm_scheme, "num_perm": self.num_perm,
                "seed": self.seed, "bands": list(bands)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
