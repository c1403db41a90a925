"""Arrow schemas of the tables the decontam stage writes under ``<data root>/decontam/``.

Read/written: nothing here. The one idea: the audit table holds every piece of evidence with its
score (flagged or below threshold), the flag table aggregates the flagged evidence per record, and
the references manifest names every benchmark instance with its reference's content hash, so an
audit answers "is instance X in our data, where, and which rule removed it" from these alone.
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()

# One row per flagged record (issue or PR); every row is a drop.
FLAGS = pa.schema([
    pa.field("record_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),  # issue | pull
    pa.field("repo", STR, nullable=False),
    pa.field("rules", pa.list_(STR), nullable=False),  # sorted distinct rules of its flagged evidence
    pa.field("instance_ids", pa.list_(STR), nullable=False),  # sorted; empty for repository-only drops
    pa.field("max_score", pa.float64()),  # the highest evidence score (see AUDIT.score)
    pa.field("reason", STR, nullable=False),  # the first layer by priority: repository, reference, patch, text
])
FLAGS_VERSION = "decontam_flags_v1"

# One row per piece of evidence: (record, field, rule, instance, reference).
AUDIT = pa.schema([
    pa.field("record_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),  # issue | pull
    pa.field("repo", STR, nullable=False),
    pa.field("field", STR, nullable=False),  # title_body | comment:<kind>:<id> | commit:<sha> | file:<path> | repo | number
    pa.field("rule", STR, nullable=False),
    # repository | reference_pr | reference_closes | reference_mention | text_ngram | text_substring | patch
    pa.field("instance_id", STR),  # null for the repository rule
    # text_ngram: distinct matched n-grams; text_substring: matched normalized characters;
    # patch: matched hunk lines; others 1.0
    pa.field("score", pa.float64(), nullable=False),
    pa.field("flagged", pa.bool_(), nullable=False),  # the score passes the config's threshold
    pa.field("evidence", STR),  # the matched span of the record's field (truncated to 500 characters)
    pa.field("start", pa.int64()),  # character offsets of the span in the field
    pa.field("end", pa.int64()),
    pa.field("reference", STR),  # reference name
    pa.field("reference_sha256", STR),  # its content hash
])
AUDIT_VERSION = "decontam_audit_v1"

# The references of the run: one row per (reference, instance).
REFERENCES = pa.schema([
    pa.field("reference", STR, nullable=False),
    pa.field("reference_sha256", STR, nullable=False),
    pa.field("source", STR, nullable=False),  # path or Hugging Face dataset id
    pa.field("instance_id", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("number", pa.int64(), nullable=False),  # the benchmark PR
    pa.field("created_at", STR),
])
