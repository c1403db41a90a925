"""The decontamination audit as text: per-instance findings, answers for one instance or record,
and the Markdown report for the data card.

Reads/writes nothing: the audit, flag and reference tables in, strings out. The one idea: every
answer is derived from the stored evidence only, so an audit months later says exactly what the
run decided and why.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa


def per_instance(audit: pa.Table, manifest: pa.Table) -> list[dict]:
    """One entry per benchmark instance (sorted): the references holding it, the records with
    flagged evidence for it, the rules and fields that found it, and how many records of its
    repository the repository rule removed."""
    refs: dict[str, list[str]] = defaultdict(list)
    repo_of: dict[str, str] = {}
    for r in manifest.select(["instance_id", "reference", "repo"]).to_pylist():
        refs[r["instance_id"]].append(r["reference"])
        repo_of[r["instance_id"]] = r["repo"]
    records: dict[str, set[str]] = defaultdict(set)
    rules: dict[str, Counter] = defaultdict(Counter)
    repo_drops: Counter[str] = Counter()
    seen_repo_rec: set[str] = set()
    cols = ["record_id", "repo", "rule", "instance_id", "flagged"]
    for r in audit.select(cols).to_pylist() if audit.num_rows else []:
        if not r["flagged"]:
            continue
        if r["instance_id"] is None:
            if r["record_id"] not in seen_repo_rec:
                seen_repo_rec.add(r["record_id"])
                repo_drops[r["repo"]] += 1
            continue
        if r["record_id"] not in records[r["instance_id"]]:
            records[r["instance_id"]].add(r["record_id"])
        rules[r["instance_id"]][r["rule"]] += 1
    return [{"instance_id": i, "repo": repo_of[i], "references": sorted(set(refs[i])),
             "records": sorted(records.get(i, ())), "rules": dict(sorted(rules.get(i, Counter()).items())),
             "repo_records_dropped": repo_drops.get(repo_of[i], 0)} for i in sorted(refs)]


def instance_answer(instance_id: str, audit: pa.Table, manifest: pa.Table) -> list[str]:
    """Lines answering "is this instance anywhere in our data, where, and which rule removed it"."""
    (entry,) = [e for e in per_instance(audit, manifest) if e["instance_id"] == instance_id]
    refs = sorted({(r["reference"], r["reference_sha256"][:12]) for r in manifest.to_pylist()
                   if r["instance_id"] == instance_id})
    ref_s = ", ".join(f"{n} (sha256 {h}...)" for n, h in refs)
    lines = []
    if entry["records"]:
        lines.append(f"FOUND: {instance_id} ({ref_s}) matched {len(entry['records'])} record(s); all are removed:")
        rows = [r for r in audit.to_pylist() if r["instance_id"] == instance_id and r["flagged"]]
        seen = set()
        for r in sorted(rows, key=lambda r: (r["record_id"], r["rule"], r["field"])):
            key = (r["record_id"], r["rule"], r["field"])
            if key in seen:
                continue
            seen.add(key)
            ev = (r["evidence"] or "").replace("\n", " ")[:100]
            lines.append(f"  {r['record_id']} [{r['kind']}] {r['field']}: rule {r['rule']}, score {r['score']:g}"
                         + (f", chars {r['start']}-{r['end']}" if r["start"] is not None else "") + f": {ev!r}")
    else:
        lines.append(f"NOT FOUND: {instance_id} ({ref_s}): no record in the data matches it by any rule "
                     "(reference, text overlap, patch).")
    if entry["repo_records_dropped"]:
        lines.append(f"  its repository {entry['repo']}: {entry['repo_records_dropped']} record(s) removed by the "
                     "repository rule")
    return lines


def record_answer(record_id: str, audit: pa.Table, flags: pa.Table) -> list[str]:
    """Lines saying whether a record is removed, and all its evidence (flagged or not)."""
    f = [r for r in flags.to_pylist() if r["record_id"] == record_id]
    rows = sorted((r for r in audit.to_pylist() if r["record_id"] == record_id),
                  key=lambda r: (not r["flagged"], r["rule"], r["field"], r["instance_id"] or ""))
    if f:
        x = f[0]
        lines = [f"REMOVED: {record_id} [{x['kind']}] reason {x['reason']}; rules {', '.join(x['rules'])}; "
                 f"instances {', '.join(x['instance_ids']) or '-'}"]
    else:
        lines = [f"KEPT: {record_id}: no rule flags it" + (" (evidence below threshold:)" if rows else "")]
    for r in rows:
        ev = (r["evidence"] or "").replace("\n", " ")[:100]
        lines.append(f"  {'flagged' if r['flagged'] else 'below  '} {r['rule']} {r['field']} "
                     f"{r['instance_id'] or '-'} score {r['score']:g} [{r['reference']}]: {ev!r}")
    return lines


def markdown(entries: list[dict], audit: pa.Table, flags: pa.Table, manifest: pa.Table) -> str:
    """The report for the data card."""
    refs = sorted({(r["reference"], r["reference_sha256"], r["source"]) for r in manifest.to_pylist()})
    n_per_ref = Counter(r["reference"] for r in manifest.to_pylist())
    found = [e for e in entries if e["records"]]
    lines = ["# Decontamination report", "", "## References", "", "| name | instances | source | content sha256 |",
             "|---|---|---|---|"]
    lines += [f"| {n} | {n_per_ref[n]} | `{s}` | `{h}` |" for n, h, s in refs]
    reasons = Counter(r["reason"] for r in flags.to_pylist())
    rules = Counter(x for r in flags.to_pylist() for x in r["rules"])
    lines += ["", "## Removed records", "", f"{flags.num_rows} record(s) removed.", "", "| reason | records |",
              "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(reasons.items())]
    lines += ["", "| rule | records |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(rules.items())]
    lines += ["", "## Benchmark instances found in the data", "",
              f"{len(found)} of {len(entries)} instance(s) found in at least one record.", ""]
    if found:
        lines += ["| instance | references | records | rules |", "|---|---|---|---|"]
        for e in found:
            recs = ", ".join(e["records"][:5]) + (f" (+{len(e['records']) - 5})" if len(e["records"]) > 5 else "")
            lines.append(f"| {e['instance_id']} | {', '.join(e['references'])} | {recs} | "
                         f"{', '.join(f'{k} {v}' for k, v in e['rules'].items())} |")
    repo_drops = sorted({(e["repo"], e["repo_records_dropped"]) for e in entries if e["repo_records_dropped"]})
    if repo_drops:
        lines += ["", "## Benchmark repositories", "", "| repository | records removed by the repository rule |",
                  "|---|---|"] + [f"| {r} | {n} |" for r, n in repo_drops]
    return "\n".join(lines) + "\n"
