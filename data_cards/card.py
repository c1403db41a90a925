"""The dataset card of a release: a Hugging Face ``README.md`` (YAML metadata, then Markdown).

Reads/writes nothing: the statistics dict ``data_cards.run`` gathers in, the card text out. The one
idea: every number on the card comes from the stored outputs of the stages and the release
manifest (nothing is estimated), and the text passes through the redaction rules before it is
returned, so a secret that slipped into a failure detail never reaches a card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from format.redact import redact

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
KIND_TEXT = {
    "bugfixer_v1": "BugFixer (Kimi-Dev / Agentless): issue + repository structure -> files to edit; issue + files "
                   "-> SEARCH/REPLACE edits",
    "testwriter_v1": "TestWriter: the same two steps for the test part of the fix",
    "commitpack_v1": "Commit pack: a PR's commit messages in order, then its diff",
}


def size_category(n: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>1B"


def hf_license(spdx: str | None) -> str:
    """The Hub's licence id for an SPDX id (lowercase; unknown for none)."""
    return "unknown" if not spdx or spdx == "NOASSERTION" else spdx.lower()


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret the redaction rules know (tokens, keys, passwords in URLs) and
    every given secret value replaced."""
    for s in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(s, "<TOKEN>")
    return redact(text)


def _table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    body = ["| " + " | ".join(_cell(x) for x in r) + " |" for r in rows]
    if not body:
        return ["None."]
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|", *body]


def _cell(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return "" if x is None else str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.4g}"
    return re.sub(r"[|\n\r]", " ", str(x))


def _by_reason(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    return [(*k.split(":", 1), v) if ":" in k else (k, "", v) for k, v in sorted(counts.items())]


def metadata(s: dict[str, Any]) -> dict[str, Any]:
    rel = s["release"]
    licenses = sorted({hf_license(x["license"]) for x in s["licenses"]}) or ["unknown"]
    documents = sum(t["documents"] for t in rel["totals"].values())
    meta: dict[str, Any] = {
        "pretty_name": f"{s['pretty_name']} ({rel['version']})",
        "license": licenses[0] if len(licenses) == 1 else licenses,
        "language": ["en", "code"],
        "size_categories": [size_category(documents)],
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "source_datasets": ["original"],
        "annotations_creators": ["no-annotation"],
        "language_creators": ["found"],
        "multilinguality": ["monolingual"],
        "tags": ["code", "software-engineering", "github-issues", "pull-requests", "mid-training",
                 "swe-bench-decontaminated"],
    }
    ext = {"parquet": "parquet", "jsonl": "jsonl.zst"}.get(rel["format"])
    if ext:
        meta["configs"] = [{"config_name": k, "data_files": [{"split": "train", "path": f"{k}/shard-*.{ext}"}]}
                           for k in rel["totals"]]
    return meta


def render(s: dict[str, Any], secrets: Iterable[str] = ()) -> str:
    """The card (``README.md``) for the statistics ``s`` (see ``data_cards.run.gather``)."""
    rel = s["release"]
    totals = rel["totals"]
    docs = sum(t["documents"] for t in totals.values())
    tokens = sum(t["tokens"] for t in totals.values())
    L: list[str] = ["---", yaml.safe_dump(metadata(s), sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    L += [f"# {s['pretty_name']}: release {rel['version']}", ""]
    L += [f"Mid-training data for software-engineering models, built the way Kimi-Dev was mid-trained: real GitHub "
          f"issues and pull requests, deduplicated, decontaminated against SWE-bench and serialized as training "
          f"sequences. **{docs:,} documents, {tokens:,} tokens** in {sum(t['shards'] for t in totals.values())} "
          f"{rel['format']} shards. Tokenizer: {rel.get('tokenizer') or 'n/a'}.", ""]
    L += [f"- release `{rel['version']}`, parent `{rel.get('parent') or 'none'}`, fingerprint "
          f"`{rel['fingerprint'][:16]}...`", f"- location: `{s['url']}`",
          f"- code: {rel['code'].get('package')} (git `{(rel['code'].get('git') or 'unknown')[:12]}`), "
          f"release format `{rel['release_format']}`", ""]

    L += ["## Contents", ""]
    L += _table(["kind", "what", "sequences", "documents", "tokens", "target tokens", "epochs", "share", "shards"],
                [(k, KIND_TEXT.get(k, ""), m["sequences"], m["documents"], m["tokens"], m["target_tokens"], m["epochs"],
                  m["share"], totals.get(k, {}).get("shards", 0)) for k, m in rel["mixture"].items()])
    cfg = rel["config"]
    mix = ("token targets " + ", ".join(f"{k} {v:,}" for k, v in cfg["token_targets"].items())
           if cfg["token_targets"] else "")
    if cfg["weights"]:
        mix += ("; " if mix else "") + "weights " + ", ".join(f"{k} {v:g}" for k, v in cfg["weights"].items())
    if cfg["epochs"]:
        mix += ("; " if mix else "") + "epochs " + ", ".join(f"{k} x{v:g}" for k, v in cfg["epochs"].items())
    if cfg["total_tokens"]:
        mix += ("; " if mix else "") + f"total budget {cfg['total_tokens']:,} tokens"
    L += ["", f"Mixture: {mix or 'every sequence once'}; seeded shuffle (seed {cfg['seed']}); shards of at most "
              f"{cfg['shard_size']:,} {cfg['shard_unit']}. A document is a sequence's prompt and response "
              f"(`n_tokens` counts both and the end-of-text token); an upsampled sequence appears once per copy.", ""]

    L += ["## How it was made: counts at each stage", ""]
    c = s["crawl"]
    L += ["### Crawl", ""]
    L += ["Repositories: " + ", ".join(f"{k} {v:,}" for k, v in sorted(c["repos"].items())) + "."
          if c["repos"] else "No crawl log in the data root.", ""]
    if c["filtered"]:
        L += ["Repositories skipped by the filters:", ""]
        L += _table(["reason", "repositories"], sorted(c["filtered"].items())) + [""]
    if c["tables"]:
        L += _table(["raw table", "rows (latest versions)"], sorted(c["tables"].items())) + [""]
    drops = {**{f"{k} (record filter)": v for k, v in c["record_drops"].items()},
             **{f"{k} (rejected)": v for k, v in c["rejects"].items()}}
    if drops:
        L += ["Records dropped during the crawl, by reason:", ""]
        L += _table(["table:reason", "records"], sorted(drops.items())) + [""]
    L += ["### Failed repositories", ""]
    if c["failed"]:
        L += [f"{c['failed_total']:,} repositories failed in their latest crawl (listed: {len(c['failed'])}).", ""]
        L += _table(["repository", "reason", "detail"], [(f["repo"], f["reason"], (f["detail"] or "")[:160])
                                                         for f in c["failed"]]) + [""]
    else:
        L += ["None.", ""]
    run = s.get("pipeline")
    if run is not None:
        # Failures of the pipeline run that made this release other than repositories (listed above):
        # hour files, partitions of a stage.
        other = [f for f in run["failures"] if not f.get("repo")]
        L += ["### Failed partitions", "", f"Pipeline run `{run['run_id']}`: "
              + (f"{len(other)} failure(s) besides the repositories above." if other else "none."), ""]
        if other:
            L += _table(["stage", "where", "error", "detail"],
                        [(f["stage"], f.get("file") or f"partition {f.get('partition', '')}", f.get("error") or "",
                          (f.get("detail") or "")[:160]) for f in other]) + [""]
    d = s.get("dedup")
    L += ["### Dedup", ""]
    if d:
        L += _table(["kind", "documents", "dropped: exact", "dropped: near"],
                    [(k, n, d["dropped"].get(f"{k}:exact", 0), d["dropped"].get(f"{k}:near", 0))
                     for k, n in sorted(d["documents"].items())]) + [""]
    else:
        L += ["Dedup never ran on this data root.", ""]
    x = s.get("decontam")
    L += ["### Decontamination", ""]
    if x:
        L += ["References (content SHA-256 over the instances and their text fields):", ""]
        L += _table(["reference", "instances", "source", "content sha256"],
                    [(r["name"], r.get("instances"), r.get("source"), r.get("content_sha256"))
                     for r in x["references"]]) + [""]
        L += [f"{x['flagged']:,} records removed, and every sequence built from them. By record kind and the layer "
              "that removed it:", ""]
        L += _table(["kind", "layer", "records"], _by_reason(x["counts"])) + [""]
        L += ["Audit summary: benchmark instances found, by the rule that found them:", ""]
        L += _table(["rule", "instances", "records flagged"],
                    [(r, v["instances"], v["records"]) for r, v in sorted(x["rules"].items())]) + [""]
        if x["instances"]:
            L += _table(["instance", "records", "rules"], [(i["instance_id"], i["records"], ", ".join(i["rules"]))
                                                          for i in x["instances"]]) + [""]
    else:
        L += ["**Not decontaminated**: decontam never ran on this data root.", ""]
    f = s.get("format")
    L += ["### Format", ""]
    if f:
        L += _table(["kind", "sequences", "tokens"], [(k, n, f["tokens"].get(k, 0)) for k, n in f["sequences"].items()])
        L += [""]
        if f["drops"]:
            L += ["Sequences not emitted, by reason:", ""]
            L += _table(["kind", "reason", "sequences"], _by_reason(f["drops"])) + [""]
    else:
        L += ["No format summary in the data root.", ""]
    exp = {k: m["dropped_at_export"] for k, m in rel["mixture"].items() if m["dropped_at_export"]}
    if exp:
        L += ["### Export", "", "Removed at export (their records were flagged after the format stage ran):", ""]
        L += _table(["kind", "reason", "sequences"], [(k, r, n) for k, v in exp.items() for r, n in v.items()]) + [""]
    ch = rel.get("changes")
    if ch:
        L += [f"### Changes against {ch['parent']}", ""]
        L += _table(["kind", "added", "removed", "changed", "copies"],
                    [(k, v.get("added", 0), v.get("removed", 0), v.get("changed", 0), v.get("copies", 0))
                     for k, v in ch["by_kind"].items()])
        L += ["", f"Shards reused from {ch['parent']}: {ch['shards_reused']}; new: {ch['shards_new']}.", ""]

    L += ["## Distributions", "", f"### Repositories (top {len(s['repos'])} of {s['repos_total']:,} by tokens)", ""]
    L += _table(["repository", "sequences", "documents", "tokens"], s["repos"]) + [""]
    L += [f"### Licences (top {len(s['licenses'])})", ""]
    L += _table(["licence (SPDX)", "repositories", "documents", "tokens"],
                [(x["license"] or "unknown", x["repos"], x["documents"], x["tokens"]) for x in s["licenses"]]) + [""]
    L += ["### Lengths", ""]
    for kind, name in s["plots"].items():
        L += [f"![{kind} length histogram]({name})", ""]

    L += ["## How to load", ""]
    base = s["url"]
    if rel["format"] == "parquet":
        files = ", ".join(f'"{k}": f"{{base}}/{k}/shard-*.parquet"' for k in totals)
        L += ["```python", "import datasets", "", f'base = "{base}"',
              f"ds = datasets.load_dataset(\"parquet\", data_files={{{files}}})", "```", ""]
    elif rel["format"] == "jsonl":
        files = ", ".join(f'"{k}": f"{{base}}/{k}/shard-*.jsonl.zst"' for k in totals)
        L += ["```python", "import datasets", "", f'base = "{base}"',
              f"ds = datasets.load_dataset(\"json\", data_files={{{files}}})", "```", ""]
    else:
        first = rel["shards"][0]["files"][0]["path"].removesuffix(".bin") if rel["shards"] else "<kind>/shard-00000"
        L += ["```python", "from megatron.core.datasets.indexed_dataset import IndexedDataset", "",
              f'ds = IndexedDataset("{base}/{first}")   # int32 token ids, <|endoftext|> after each document',
              "tokens = ds[0]", "```", "",
              "Megatron-LM blend reproducing the mixture (`--data-path`, prefixes relative to the release):", "",
              "```", rel["load"].get("megatron_data_path", ""), "```", ""]
    L += ["Every file is listed in `manifest.json` with its SHA-256 and size; `swe-curate export --verify --to "
          f"{s['dest']} --version {rel['version']}` checks them all. `index.parquet` lists every sequence "
          "(source record ids, repository, licence, tokens, copies, content hash).", ""]
    L += ["## Limitations", "", "- Texts are redacted (e-mails, signatures, tokens, keys) with typed placeholders; "
          "code is otherwise verbatim from permissively licensed repositories.",
          "- The Megatron files hold no loss mask; the Parquet copy keeps prompt and response apart.", ""]
    return scrub("\n".join(L), secrets)
