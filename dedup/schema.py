"""Arrow schemas of the tables the dedup stage writes under ``<data root>/dedup/``.

Read/written: nothing here. The one idea: signatures, band keys and shingle sets are stored per
run and shard with the hashing scheme in the file metadata, so a later run dedups new records
against them without re-reading or re-hashing old text; the flag table is the stage's output.
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
TS = pa.timestamp("us", tz="UTC")

# One row per document version hashed in a run (the newest run of a doc_id is current).
SIGNATURES = pa.schema([
    pa.field("doc_id", STR, nullable=False),  # the record id, owner__repo-N
    pa.field("kind", STR, nullable=False),  # issue | pull
    pa.field("repo", STR, nullable=False),
    pa.field("number", pa.int64(), nullable=False),
    pa.field("content_hash", STR),  # of the normalized text (exact dedup)
    pa.field("merged", pa.bool_()),
    pa.field("n_comments", pa.int64()),
    pa.field("created_at", TS),
    pa.field("n_chars", pa.int64()),
    pa.field("n_shingles", pa.int64()),  # distinct word n-grams (the stored set's size)
    pa.field("run", pa.int64(), nullable=False),  # dedup run sequence number
    pa.field("ref", pa.int64(), nullable=False),  # this version's number: run << 40 | partition << 20 | row
    pa.field("minhash", pa.binary()),  # num_perm uint32 values, little-endian
])

# The doc's sorted unique shingle hashes (exact Jaccard of candidate pairs without the text) are
# not a table: per partition, ``shingles/run=R/part-P.values.npy`` (uint32, every version's set
# in row order) and ``part-P.offsets.npy`` (int64, rows + 1), so verification maps a file and
# reads just the candidates' sets (a ref gives run, partition and row).

# LSH band index: one row per (doc version, band). ``ref`` is the version's ``signatures.ref``:
# numbers group and join several times faster than record-id strings.
BANDS = pa.schema([
    pa.field("band", pa.int16(), nullable=False),
    pa.field("key", pa.uint64(), nullable=False),
    pa.field("ref", pa.int64(), nullable=False),
])

# The buckets a run recomputed, and the verified edges it found in them (a bucket's edges are
# those of the newest run that touched it).
BUCKETS = pa.schema([
    pa.field("band", pa.int16(), nullable=False),
    pa.field("key", pa.uint64(), nullable=False),
    pa.field("run", pa.int64(), nullable=False),
])
EDGES = pa.schema([
    pa.field("band", pa.int16(), nullable=False),
    pa.field("key", pa.uint64(), nullable=False),
    pa.field("a", STR, nullable=False),  # a < b
    pa.field("b", STR, nullable=False),
    pa.field("jaccard", pa.float64(), nullable=False),
    pa.field("run", pa.int64(), nullable=False),
])

# The stage's output: one row per current document.
FLAGS = pa.schema([
    pa.field("record_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("cluster_id", STR, nullable=False),  # the representative's record id (itself when unique)
    pa.field("cluster_size", pa.int64(), nullable=False),
    pa.field("keep", pa.bool_(), nullable=False),
    pa.field("similarity", pa.float64()),  # exact Jaccard to the representative (1.0 for itself)
    pa.field("reason", STR),  # exact | near for dropped records; null for kept ones
])
FLAGS_VERSION = "dedup_flags_v1"
