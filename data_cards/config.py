"""Typed, validated configuration of the data card.

Read/written: nothing. The one idea: what the card shows (how many repositories and licences, how
fine the length histograms) is settable, and checked before any file is read.
"""

from __future__ import annotations

from pydantic import Field

from ingest.config import StageConfig


class CardConfig(StageConfig):
    top_n: int = Field(20, ge=1, le=1000)  # rows of the per-repository and per-licence tables
    bins: int = Field(40, ge=5, le=400)  # length histogram bins (log-spaced token counts)
    failed_repos: int = Field(50, ge=0, le=10_000)  # failed repositories listed (all are counted)
    pretty_name: str = Field("swe-curate GitHub issues and pull requests", min_length=1, max_length=200)
    dpi: int = Field(100, ge=50, le=300)
