"""The pipeline config: one TOML file of overrides, one section per stage, validated before work.

Reads: the TOML file given with ``--config``. Writes: nothing. The one idea: defaults live in
the stage config classes; the file only overrides, and an unknown section or key is an error
that names it.
"""

from __future__ import annotations

import os
import tomllib

from pydantic import BaseModel, ConfigDict

from data_cards.config import CardConfig
from decontam.config import DecontamConfig
from dedup.config import DedupConfig
from format.config import ExportConfig, FormatConfig
from ingest.config import CrawlConfig, GhArchiveConfig, GitConfig
from ingest.errors import ConfigError

SECTIONS: dict[str, type] = {"crawl": CrawlConfig, "git": GitConfig, "gharchive": GhArchiveConfig,
                             "dedup": DedupConfig, "decontam": DecontamConfig,
                             "format": FormatConfig, "export": ExportConfig, "card": CardConfig}


class PipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    crawl: CrawlConfig = CrawlConfig()
    git: GitConfig = GitConfig()
    gharchive: GhArchiveConfig = GhArchiveConfig()
    dedup: DedupConfig = DedupConfig()
    decontam: DecontamConfig = DecontamConfig()
    format: FormatConfig = FormatConfig()
    export: ExportConfig = ExportConfig()
    card: CardConfig = CardConfig()


def load_config(path: str | os.PathLike[str] | None) -> PipelineConfig:
    if path is None:
        return PipelineConfig()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {os.fspath(path)}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {os.fspath(path)} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {os.fspath(path)} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config file {os.fspath(path)}: unknown section [{unknown[0]}] "
                          f"(known: {', '.join(SECTIONS)})")
    sections = {}
    for name, cls in SECTIONS.items():
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"config file {os.fspath(path)}: [{name}] must be a table")
        try:
            sections[name] = cls.from_dict(value, name)
        except ConfigError as exc:
            raise ConfigError(f"{os.fspath(path)}: {exc}") from None
    return PipelineConfig(**sections)
