"""Benchmark references: parsing ``--reference`` specs, validating and normalizing a reference
table, and its content hash.

Reads/writes nothing (``decontam.run.load_references`` does the reading). The one idea: a
reference is a named table of benchmark instances in the Hugging Face SWE-bench schema, and its
identity is a hash of exactly the content decontamination uses, so an audit can say which version
of which benchmark removed a record.

Content hash (``content_sha256``): SHA-256 over the rows sorted by ``instance_id``; for each row,
``instance_id``, ``repo``, ``problem_statement``, ``hints_text``, ``patch`` and ``test_patch`` in this
order, each as UTF-8 followed by one NUL byte (a null value counts as the empty string). ``ids_sha256``
is SHA-256 of the sorted instance ids, one per line with a trailing newline (the definition in the
shared data README, so a bundled copy can be checked against it).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingest.errors import ConfigError

TEXT_FIELDS = ("problem_statement", "hints_text", "patch", "test_patch")
REQUIRED = ("instance_id", "repo", *TEXT_FIELDS)
BUNDLED_DIR = Path(__file__).resolve().parent / "references"
# Copies of the shared benchmark files (provenance in references/README.md), for offline runs.
BUNDLED = {"swe-bench-verified": BUNDLED_DIR / "swe-bench-verified.parquet",
           "swe-bench-lite": BUNDLED_DIR / "swe-bench-lite.parquet"}
DEFAULT_REFERENCE = "princeton-nlp/SWE-bench_Verified"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_INSTANCE_RE = re.compile(r"^(?P<owner>[A-Za-z0-9_.-]+)__(?P<name>[A-Za-z0-9_.-]+)-(?P<number>[0-9]+)$")


@dataclass(frozen=True)
class Reference:
    """One loaded benchmark: ``table`` has ``instance_id, repo, number, created_at`` and the text
    fields (nulls as ""), sorted by instance id."""

    name: str
    source: str
    table: pa.Table
    content_sha256: str
    ids_sha256: str

    @property
    def n_instances(self) -> int:
        return self.table.num_rows


def parse_spec(spec: str) -> tuple[str, str]:
    """``NAME=PATH_OR_HF_ID`` or ``PATH_OR_HF_ID`` -> (name, source); ``bundled:NAME`` names a
    bundled copy. The derived name is the file stem or the HF dataset name."""
    spec = spec.strip()
    if not spec:
        raise ConfigError("--reference: empty reference spec")
    head, sep, rest = spec.partition("=")
    if sep and _NAME_RE.match(head) and rest:
        name, source = head, rest
    else:
        name, source = "", spec
    if source.startswith("bundled:"):
        key = source.split(":", 1)[1]
        if key not in BUNDLED:
            raise ConfigError(f"--reference {spec}: no bundled reference {key!r} (bundled: {', '.join(BUNDLED)})")
        return name or key, str(BUNDLED[key])
    if not name:
        base = os.path.basename(source.rstrip("/"))
        for ext in (".gz", ".jsonl", ".json", ".parquet"):
            base = base.removesuffix(ext)
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", base)[:64] or "reference"
    return name, source


def is_local(source: str) -> bool:
    """A local file (read directly) rather than a Hugging Face dataset id."""
    return source.endswith((".parquet", ".jsonl", ".jsonl.gz", ".json", ".json.gz")) or os.path.exists(source)


def instance_pr(instance_id: str) -> tuple[str, int] | None:
    """``owner__name-123`` -> (``owner/name``, 123): the benchmark PR an instance id names."""
    m = _INSTANCE_RE.match(instance_id)
    return (f"{m['owner']}/{m['name']}", int(m["number"])) if m else None


def from_table(name: str, source: str, table: pa.Table) -> Reference:
    """Validate and normalize a loaded table; a missing column or a bad instance id is a one-line
    error naming the reference."""
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ConfigError(f"reference {name} ({source}): missing column {missing[0]!r} "
                          f"(needs {', '.join(REQUIRED)})")
    if table.num_rows == 0:
        raise ConfigError(f"reference {name} ({source}): no rows")
    cols: dict[str, pa.Array] = {}
    for c in ("instance_id", "repo", *TEXT_FIELDS):
        arr = table.column(c)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
            raise ConfigError(f"reference {name} ({source}): column {c!r} is {arr.type}, not text")
        cols[c] = pc.fill_null(arr.cast(pa.string()), "").combine_chunks()
    ids = cols["instance_id"].to_pylist()
    if len(set(ids)) != len(ids):
        dup = sorted(i for i in set(ids) if ids.count(i) > 1)[0]
        raise ConfigError(f"reference {name} ({source}): duplicate instance_id {dup!r}")
    numbers = []
    for iid, repo in zip(ids, cols["repo"].to_pylist(), strict=True):
        pr = instance_pr(iid)
        if pr is None or pr[0].replace("/", "__") != repo.replace("/", "__"):
            raise ConfigError(f"reference {name} ({source}): instance_id {iid!r} is not <owner>__<name>-<PR> of "
                              f"repo {repo!r}")
        numbers.append(pr[1])
    created = (pc.fill_null(table.column("created_at").cast(pa.string()), "").combine_chunks()
               if "created_at" in table.column_names else pa.array([""] * len(ids)))
    t = pa.table({"instance_id": cols["instance_id"], "repo": cols["repo"], "number": pa.array(numbers, pa.int64()),
                  "created_at": created, **{c: cols[c] for c in TEXT_FIELDS}})
    t = t.sort_by("instance_id")
    return Reference(name=name, source=source, table=t, content_sha256=content_hash(t), ids_sha256=ids_hash(t))


def content_hash(table: pa.Table) -> str:
    h = hashlib.sha256()
    cols = [table.column(c).to_pylist() for c in ("instance_id", "repo", *TEXT_FIELDS)]
    for row in sorted(zip(*cols, strict=True)):
        for value in row:
            h.update((value or "").encode("utf-8", "surrogatepass"))
            h.update(b"\0")
    return h.hexdigest()


def ids_hash(table: pa.Table) -> str:
    ids = sorted(table.column("instance_id").to_pylist())
    return hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest()
