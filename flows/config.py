"""The pipeline config: one TOML file of overrides, one section per stage, validated before work.

Reads: the TOML file given with ``--config``. Writes: nothing. The one idea: defaults live in
the stage config classes; the file only overrides, and an unknown section or key is an error
that names it.
"""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data_cards.config import CardConfig
from decontam.config import DecontamConfig
from dedup.config import DedupConfig
from format.config import ExportConfig, FormatConfig
from ingest.config import CrawlConfig, GhArchiveConfig, GitConfig, StageConfig
from ingest.errors import ConfigError

STAGES = ("crawl", "dedup", "decontam", "format", "export", "card")


class RunConfig(StageConfig):
    """``[run]``: how ``swe-curate run`` (and the deployments) run the whole pipeline.

    ``task_runner`` maps the heavy stages' partitions (dedup, decontam, format) over threads of
    this process (default), worker processes, or an existing Dask cluster (``dask_address``, through
    prefect-dask); the crawl stays on threads (network-bound, one token pool per process, at most
    ``[crawl] per_token_concurrency`` requests in flight per token) and the export's uploads too.
    """

    task_runner: Literal["threads", "processes", "dask"] = "threads"
    workers: int = Field(2, ge=1, le=256)  # threads or processes of the partition maps
    dask_address: str | None = None  # tcp://host:8786 of a running Dask scheduler (task_runner = "dask")
    # Sources the crawl stage reads, in this order: the API ([crawl] repos / repos_file / search, with
    # the clone of each repository when [git] mode = "auto"), GH Archive hour files ([gharchive] start..end
    # and ``gharchive`` below), explicit clone sources (``git`` below).
    sources: tuple[Literal["api", "gharchive", "git"], ...] = ("api",)
    gharchive: tuple[str, ...] = ()  # hour files: paths, globs, URLs, or ranges like 2024-01-01..2024-01-02-23
    git: tuple[str, ...] = ()  # clone sources: [owner/name=]path_or_url
    stages: tuple[Literal["crawl", "dedup", "decontam", "format", "export", "card"], ...] = STAGES
    export_to: str | None = None  # release destination (default: the data root itself)
    partition_retries: int = Field(1, ge=0, le=10)  # a failed partition task is tried again this often

    @field_validator("sources", "stages")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("empty list")
        if len(set(v)) != len(v):
            raise ValueError("duplicate entry")
        return v

    @field_validator("dask_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(tcp|tls|inproc|ucx)://[^\s/]+$", v.strip()):
            raise ValueError("must be a Dask scheduler address like tcp://127.0.0.1:8786")
        return v.strip() if v is not None else None

    @model_validator(mode="after")
    def _runner(self) -> RunConfig:
        if self.task_runner == "dask" and not self.dask_address:
            raise ValueError("task_runner = \"dask\" needs dask_address (tcp://host:port of a running scheduler)")
        order = [s for s in STAGES if s in self.stages]
        if list(self.stages) != order:
            raise ValueError(f"stages must be in pipeline order: {', '.join(order)}")
        return self


SECTIONS: dict[str, type] = {"run": RunConfig, "crawl": CrawlConfig, "git": GitConfig, "gharchive": GhArchiveConfig,
                             "dedup": DedupConfig, "decontam": DecontamConfig,
                             "format": FormatConfig, "export": ExportConfig, "card": CardConfig}


class PipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunConfig = RunConfig()
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
    return config_from_dict(data, os.fspath(path))


def config_from_dict(data: dict[str, Any], where: str = "config") -> PipelineConfig:
    """A pipeline config from TOML-shaped data (a file's, or a deployment's parameters)."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config file {where}: unknown section [{unknown[0]}] "
                          f"(known: {', '.join(SECTIONS)})")
    sections = {}
    for name, cls in SECTIONS.items():
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"config file {where}: [{name}] must be a table")
        try:
            sections[name] = cls.from_dict(value, name)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return PipelineConfig(**sections)


# -- the config saved next to a run's outputs ---------------------------------------------------------
_SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def _scrub(value: Any, key: str = "") -> Any:
    """Values under secret-looking keys (storage options may hold credentials) become ``"<redacted>"``."""
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, str) and any(w in key.lower() for w in _SECRET_WORDS):
        return "<redacted>"
    return value


def config_data(cfg: PipelineConfig) -> dict[str, Any]:
    """Every section with every value (defaults included), JSON-shaped, secrets scrubbed: what a
    run's ``config.toml`` holds and what deployments pass as parameters."""
    out = {}
    for name in SECTIONS:
        section = getattr(cfg, name)
        # Free-form tables (``[export] storage_options``) may hold credentials; typed keys never do.
        out[name] = {k: _scrub(v) if isinstance(v, dict) else v for k, v in section.model_dump(mode="json").items()}
    return out


def _toml_key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else _toml_value(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else ("nan" if v != v else
                                                                                   ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace(
            "\t", "\\t").replace("\r", "\\r") + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def to_toml(cfg: PipelineConfig) -> str:
    """The whole resolved config as TOML (``None`` values, TOML has none, are left out: they are
    the defaults); ``load_config`` of it gives ``cfg`` back (secrets excepted)."""
    lines = ["# swe-curate pipeline config, every value resolved (defaults included); secrets redacted", ""]
    for name, values in config_data(cfg).items():
        lines.append(f"[{name}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def export_config(pipeline: PipelineConfig, **overrides: Any) -> ExportConfig:
    """``[export]`` with CLI overrides; its tokenizer is the one ``[format]`` counted with unless set."""
    cfg = pipeline.export.with_overrides("export", **overrides)
    if "tokenizer" not in pipeline.export.model_fields_set and pipeline.format.tokenizer != cfg.tokenizer:
        cfg = cfg.with_overrides("export", tokenizer=pipeline.format.tokenizer)  # the one format counted with
    return cfg
