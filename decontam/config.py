"""Typed, validated configuration of the decontam stage.

Read/written: nothing. The one idea: every setting that changes which records are removed
(references, repository policy, n-gram and window sizes, thresholds, boilerplate rules) is here and
checked before any work; the settings that shape the evidence form a fingerprint stored with the
outputs, while thresholds only decide which stored scores flag.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from decontam.references import DEFAULT_REFERENCE
from ingest.config import StageConfig, check_repos


class DecontamConfig(StageConfig):
    # NAME=PATH_OR_HF_ID or PATH_OR_HF_ID (bundled:swe-bench-verified for the bundled copy).
    references: tuple[str, ...] = (DEFAULT_REFERENCE,)

    # Layer 1: benchmark repositories, their forks and mirrors.
    repo_policy: Literal["drop_all", "after_date", "keep"] = "drop_all"
    repo_after: date | None = None  # after_date: drop records created on or after this day
    extra_repos: tuple[str, ...] = ()  # known mirrors the repos table cannot tell

    # Layer 2: references by id, PR number, closing links, mentions.
    reference_rule: bool = True

    # Layer 3: text overlap.
    ngram: int = Field(13, ge=3, le=64)
    window: int = Field(50, ge=16, le=1000)  # character-substring check: normalized characters
    min_ngrams: int = Field(3, ge=1)  # distinct matched n-grams of one instance in one field
    min_fraction: float = Field(0.5, gt=0.0, le=1.0)  # ... or this share of the shorter side's n-grams
    min_substring: int = Field(60, ge=16)  # longest common normalized substring, characters
    # A record in the instance's own repository (or a fork or mirror of it) shares its templates,
    # environment dumps and code with every report there: text evidence must be much stronger.
    same_repo_min_ngrams: int = Field(50, ge=1)
    same_repo_min_substring: int = Field(300, ge=16)
    # Boilerplate (decontam/index.py): keys of several repositories or many instances, the clean
    # background sample, and keys the corpus has in many repositories.
    common_max_instances: int = Field(2, ge=2)
    common_min_repos: int = Field(10, ge=2)
    common_copy_fraction: float = Field(0.3, gt=0.0, le=1.0)
    background_files: tuple[str, ...] = ()

    # Layer 4: patch hunks.
    patch_min_context: int = Field(2, ge=0)
    patch_min_changed_alone: int = Field(4, ge=1)
    # A hunk of this many instances (of one repository) is boilerplate; benchmark instances that
    # fix the same lines (near-duplicate issues) share a hunk and are both found.
    patch_max_instances: int = Field(4, ge=2)

    partition_records: int = Field(50_000, ge=1)
    bloom_bits: int = Field(24, ge=16, le=32)

    @field_validator("references")
    @classmethod
    def _refs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not s.strip() for s in v):
            raise ValueError("must name at least one reference")
        return v

    @field_validator("extra_repos")
    @classmethod
    def _repos(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return check_repos(v)

    @model_validator(mode="after")
    def _policy(self) -> DecontamConfig:
        if self.repo_policy == "after_date" and self.repo_after is None:
            raise ValueError("repo_policy after_date needs repo_after (a date)")
        if self.min_substring < self.window:
            raise ValueError("min_substring must be >= window")
        return self

    def fingerprint(self, reference_hashes: list[str], key_scheme: str) -> str:
        """What the evidence depends on (not the thresholds)."""
        data = {"refs": reference_hashes, "keys": key_scheme, "ngram": self.ngram, "window": self.window,
                "common": [self.common_max_instances, self.common_min_repos, self.common_copy_fraction],
                "background": list(self.background_files), "policy": [self.repo_policy, str(self.repo_after)],
                "extra_repos": list(self.extra_repos), "patch": [self.patch_min_context, self.patch_min_changed_alone, self.patch_max_instances]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
