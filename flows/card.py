"""Prefect flow of the data card: one task that writes the card, then the card as a Markdown artifact.

Reads/writes what ``data_cards.run`` does. The one idea: the card a flow run publishes in the
Prefect UI is byte for byte the ``README.md`` written next to the release's plots.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from data_cards.config import CardConfig
from data_cards.run import card_stage

_STORAGE: dict[str, dict[str, Any]] = {}


@task(name="card", cache_policy=NO_CACHE)
def card_task(data_root: str, config: dict[str, Any], version: str | None, storage_key: str | None) -> dict[str, Any]:
    storage = _STORAGE.get(storage_key) if storage_key else None
    return card_stage(data_root, CardConfig.from_dict(config, "card"), version, storage).to_json()


@flow(name="card")
def card_flow(data_root: str, config: dict[str, Any] | None = None, version: str | None = None,
              storage_key: str | None = None) -> dict[str, Any]:
    """The Hugging Face dataset card of a release, published as a Markdown artifact."""
    summary = card_task(data_root, config or {}, version, storage_key)
    key = "data-card-" + "".join(c if c.isalnum() else "-" for c in summary["version"].lower())
    create_markdown_artifact(markdown=summary["markdown"], key=key, description=f"data card {summary['version']}")
    return summary


def run_card_flow(data_root: str, cfg: CardConfig, version: str | None = None,
                  storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the flow; storage options (they may hold credentials) stay in this process, never parameters."""
    key = f"storage:{id(storage)}" if storage else None
    if key:
        _STORAGE[key] = storage  # type: ignore[assignment]
    try:
        return card_flow(data_root, cfg.model_dump(mode="json"), version, key)
    finally:
        if key:
            _STORAGE.pop(key, None)
