"""The card's one I/O entry: gather every stage's stored counts and a release's manifest and index,
then write ``cards/<version>/README.md`` and its length histograms.

Reads (data root): ``export/state.json`` (where each release is), raw ``crawl_log`` and
``rejects``, ``dedup/flags``, ``decontam/state.json``, ``decontam/flags``, ``decontam/audit``,
``format/state.json``; (release destination): ``releases/<version>/manifest.json`` and
``index.parquet``. Writes ``cards/<version>/README.md`` and ``cards/<version>/length-<kind>.png``.

The one idea: the card is derived, never edited: run it again and it says the same thing for the
same data; secrets of this process (GitHub tokens, storage credentials) are scrubbed from it.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_cards import card, plots
from data_cards.config import CardConfig
from format.export_run import STATE as EXPORT_STATE
from format.export_run import read_manifest
from ingest.errors import ConfigError
from ingest.schema import RAW_TABLES, TABLES
from ingest.store import DataRoot


@dataclass
class CardSummary:
    version: str
    path: str  # the card's README.md
    plots: list[str]
    markdown: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _secrets(extra: dict[str, Any] | None = None) -> list[str]:
    out = [t.strip() for v in ("GITHUB_TOKEN", "GITHUB_TOKENS") for t in os.environ.get(v, "").split(",")]
    out += [os.environ.get(v, "") for v in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")]
    for k, v in (extra or {}).items():
        if isinstance(v, str) and any(w in k.lower() for w in ("key", "secret", "token", "password")):
            out.append(v)
    return [s for s in out if s]


def _read(root: DataRoot, rel: str, columns: list[str] | None = None) -> pa.Table | None:
    if not root.exists(rel):
        return None
    with root.parquet_file(root.path(rel)) as pf:
        return pf.read(columns=columns, use_threads=False)


def _crawl(root: DataRoot, cfg: CardConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"repos": {}, "filtered": {}, "failed": [], "failed_total": 0, "tables": {},
                           "record_drops": {}, "rejects": {}}
    log = root.read_latest("crawl_log")
    if log.num_rows:
        rows = log.to_pylist()
        last: dict[str, dict] = {}
        drops: Counter[str] = Counter()
        for r in sorted(rows, key=lambda r: (r["finished_at"] is None, r["finished_at"], r["crawl_id"])):
            last[r["repo"]] = r
            drops.update(dict(r["dropped"] or {}))
        out["repos"] = dict(Counter(r["status"] for r in last.values()))
        out["filtered"] = dict(Counter(r["reason"] or "" for r in last.values() if r["status"] == "filtered"))
        failed = sorted((r for r in last.values() if r["status"] == "failed"), key=lambda r: r["repo"])
        out["failed_total"] = len(failed)
        out["failed"] = [{"repo": r["repo"], "reason": r["reason"], "detail": r["detail"]}
                         for r in failed[:cfg.failed_repos]]
        out["record_drops"] = dict(drops)
    with root.connect() as con:
        for t in RAW_TABLES:
            if t != "rejects" and root.table_files(t):
                out["tables"][t] = root.read_latest(t, con=con, columns=list(TABLES[t].key)).num_rows
        rej = root.read_latest("rejects", con=con, columns=["table", "reason"])
    out["rejects"] = dict(Counter(f"{a}:{b}" for a, b in zip(rej.column("table").to_pylist(),
                                                              rej.column("reason").to_pylist(), strict=True)))
    return out


def _dedup(root: DataRoot) -> dict[str, Any] | None:
    t = _read(root, "dedup/flags/flags.parquet", ["kind", "keep", "reason"])
    if t is None:
        return None
    docs: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for k, keep, reason in zip(*(t.column(c).to_pylist() for c in ("kind", "keep", "reason")), strict=True):
        docs[k] += 1
        if not keep:
            dropped[f"{k}:{reason}"] += 1
    return {"documents": dict(docs), "dropped": dict(dropped)}


def _decontam(root: DataRoot, top: int) -> dict[str, Any] | None:
    state = root.read_json("decontam/state.json")
    if state is None:
        return None
    from decontam.run import AUDIT_PATH

    audit = _read(root, AUDIT_PATH, ["record_id", "rule", "instance_id", "flagged"])
    rules: dict[str, dict[str, set]] = defaultdict(lambda: {"instances": set(), "records": set()})
    per_inst: dict[str, dict[str, set]] = defaultdict(lambda: {"records": set(), "rules": set()})
    if audit is not None and audit.num_rows:
        for rec, rule, inst, flagged in zip(*(audit.column(c).to_pylist() for c in
                                              ("record_id", "rule", "instance_id", "flagged")), strict=True):
            if not flagged:
                continue
            rules[rule]["records"].add(rec)
            if inst:
                rules[rule]["instances"].add(inst)
                per_inst[inst]["records"].add(rec)
                per_inst[inst]["rules"].add(rule)
    insts = sorted(per_inst.items(), key=lambda kv: (-len(kv[1]["records"]), kv[0]))[:top]
    return {"references": state.get("references", []), "flagged": state.get("flagged", 0),
            "counts": state.get("counts", {}),
            "rules": {r: {"instances": len(v["instances"]), "records": len(v["records"])} for r, v in rules.items()},
            "instances": [{"instance_id": i, "records": len(v["records"]), "rules": sorted(v["rules"])}
                          for i, v in insts]}


def _format(root: DataRoot) -> dict[str, Any] | None:
    s = root.read_json("format/state.json")
    if s is None:
        return None
    return {k: s.get(k) or {} for k in ("sequences", "tokens", "drops")} | {"tokenizer": s.get("tokenizer")}


def _pipeline(root: DataRoot) -> dict[str, Any] | None:
    """The latest ``swe-curate run``'s id and failures (``runs/<run-id>/summary.json``), if any."""
    latest = root.read_json("runs/latest.json")
    run = root.read_json(f"runs/{latest['run_id']}/summary.json") if latest else None
    if not run:
        return None
    return {"run_id": run["run_id"], "failures": run.get("failures", [])}


def find_release(data_root: str | os.PathLike[str], version: str | None = None) -> tuple[str, str]:
    """(version, destination URL) of a release made from this data root (default: the latest)."""
    root = DataRoot(data_root)
    state = root.read_json(EXPORT_STATE)
    if not state or not state.get("releases"):
        raise ConfigError(f"--data {root.url}: no release made from it yet (run swe-curate export first)")
    version = version or state["latest"]
    if version not in state["releases"]:
        raise ConfigError(f"--version {version}: no such release of {root.url} "
                          f"(releases: {', '.join(sorted(state['releases']))})")
    return version, state["releases"][version]["url"]


def gather(data_root: str | os.PathLike[str], cfg: CardConfig, version: str | None = None,
           storage: dict[str, Any] | None = None) -> tuple[dict[str, Any], pa.Table]:
    """(statistics for ``card.render``, the release index)."""
    root = DataRoot(data_root)
    version, url = find_release(data_root, version)
    dest, manifest = read_manifest(url, version, storage)
    data = dest.read_bytes(f"releases/{version}/{manifest['index']['path']}")
    if data is None:
        raise ConfigError(f"release {version} at {url}: index.parquet is missing")
    index = pq.read_table(pa.BufferReader(data))
    tok = index.column("n_tokens").to_numpy().astype(np.int64)
    cop = index.column("copies").to_numpy().astype(np.int64)
    repos: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    lic: dict[str | None, list[Any]] = defaultdict(lambda: [set(), 0, 0])
    for repo, license_, n, c in zip(index.column("repo").to_pylist(), index.column("license").to_pylist(),
                                    tok.tolist(), cop.tolist(), strict=True):
        r = repos[repo]
        r[0] += 1
        r[1] += c
        r[2] += n * c
        x = lic[license_]
        x[0].add(repo)
        x[1] += c
        x[2] += n * c
    top = sorted(repos.items(), key=lambda kv: (-kv[1][2], kv[0]))[:cfg.top_n]
    lics = sorted(lic.items(), key=lambda kv: (-kv[1][2], kv[0] or ""))[:cfg.top_n]
    stats = {
        "pretty_name": cfg.pretty_name, "url": f"{dest.url}/releases/{version}", "dest": dest.url,
        "release": manifest, "crawl": _crawl(root, cfg), "dedup": _dedup(root), "decontam": _decontam(root, cfg.top_n),
        "format": _format(root), "pipeline": _pipeline(root), "repos": [(k, *v) for k, v in top], "repos_total": len(repos),
        "licenses": [{"license": k, "repos": len(v[0]), "documents": v[1], "tokens": v[2]} for k, v in lics],
        "plots": {k: f"length-{k}.png" for k in manifest["totals"]},
    }
    return stats, index


def card_stage(data_root: str | os.PathLike[str], cfg: CardConfig, version: str | None = None,
               storage: dict[str, Any] | None = None) -> CardSummary:
    """Write the card of release ``version`` (default: the latest made from this data root)."""
    root = DataRoot(data_root)
    stats, index = gather(data_root, cfg, version, storage)
    version = stats["release"]["version"]
    kinds = index.column("kind").to_numpy(zero_copy_only=False)
    tok = index.column("n_tokens").to_numpy()
    cop = index.column("copies").to_numpy()
    for kind, name in stats["plots"].items():
        m = kinds == kind
        root.write_bytes(f"cards/{version}/{name}", plots.length_histogram(kind, tok[m], cop[m], cfg.bins, cfg.dpi))
    md = card.render(stats, _secrets(storage))
    path = root.write_bytes(f"cards/{version}/README.md", md.encode())
    return CardSummary(version, path, [f"cards/{version}/{n}" for n in stats["plots"].values()], md)
