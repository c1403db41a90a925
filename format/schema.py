"""Arrow schemas of the tables the format stage writes.

Read/written: nothing here. ``SEQUENCES``: one row per training sequence, written per kind to
``sequences/<kind>/part-00000.parquet`` sorted by ``sequence_id``. ``REJECTS``: one row per sequence
the stage would have built and did not, with the reason (``format/rejects/rejects.parquet``).
The one idea: a sequence names everything it came from (source record ids, template and rules
versions), so a removed record removes it and an audit can rebuild it.
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
I64 = pa.int64()

SEQUENCES = pa.schema([
    pa.field("sequence_id", STR, nullable=False),  # <kind>:<PR record id>:<sample type>
    pa.field("kind", STR, nullable=False),  # bugfixer_v1 | testwriter_v1 | commitpack_v1
    pa.field("sample_type", STR, nullable=False),  # localization | code_edit | commit_pack
    pa.field("record_id", STR, nullable=False),  # the merged PR
    pa.field("source_ids", pa.list_(STR), nullable=False),  # the PR, then the linked issues whose text is used
    pa.field("repo", STR, nullable=False),
    pa.field("license", STR),  # SPDX id of the repository
    pa.field("prompt", STR, nullable=False),
    pa.field("response", STR, nullable=False),
    pa.field("text", STR, nullable=False),  # prompt + response (control tokens are not text)
    pa.field("n_tokens", I64, nullable=False),  # Qwen2.5 ids of prompt and response, plus the <|endoftext|> id
    pa.field("n_prompt_tokens", I64, nullable=False),
    pa.field("template", STR, nullable=False),  # templates version
    pa.field("rules", STR, nullable=False),  # split / redaction / edit rules and settings that shaped the text
], metadata={b"swe_curate.table": b"sequences", b"swe_curate.schema_version": b"1"})

REJECTS = pa.schema([
    pa.field("sequence_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),
    pa.field("sample_type", STR, nullable=False),
    pa.field("record_id", STR, nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("reason", STR, nullable=False),  # e.g. non_python_change, too_many_blocks, edit:ambiguous_search, dedup:near
    pa.field("detail", STR),
], metadata={b"swe_curate.table": b"format_rejects", b"swe_curate.schema_version": b"1"})

# Release files (``releases/<version>/`` at the export destination). ``SHARD_ROWS``: the rows of a
# Parquet or JSONL shard, one per document instance (an upsampled sequence appears once per copy).
SHARD_ROWS = pa.schema([
    pa.field("sequence_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),
    pa.field("sample_type", STR, nullable=False),
    pa.field("record_id", STR, nullable=False),
    pa.field("source_ids", pa.list_(STR), nullable=False),  # source record ids: the PR, then linked issues
    pa.field("repo", STR, nullable=False),
    pa.field("license", STR),
    pa.field("prompt", STR, nullable=False),  # kept apart from the response: the loss mask of SFT-style training
    pa.field("response", STR, nullable=False),
    pa.field("text", STR, nullable=False),
    pa.field("n_tokens", I64, nullable=False),
    pa.field("n_prompt_tokens", I64, nullable=False),
    pa.field("copy", pa.int32(), nullable=False),  # 0 for the first copy of a sequence in the release
], metadata={b"swe_curate.table": b"release_shard", b"swe_curate.schema_version": b"1"})

# ``index.parquet``: one row per sequence in the release, sorted by kind then sequence id.
RELEASE_INDEX = pa.schema([
    pa.field("sequence_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),
    pa.field("record_id", STR, nullable=False),
    pa.field("source_ids", pa.list_(STR), nullable=False),
    pa.field("repo", STR, nullable=False),
    pa.field("license", STR),
    pa.field("n_tokens", I64, nullable=False),
    pa.field("n_prompt_tokens", I64, nullable=False),
    pa.field("copies", pa.int32(), nullable=False),
    pa.field("content_hash", STR, nullable=False),  # BLAKE2b-128 of the exported columns (see format.export)
], metadata={b"swe_curate.table": b"release_index", b"swe_curate.schema_version": b"1"})

# ``changes.parquet``: how the release differs from its parent, one row per sequence that differs.
RELEASE_CHANGES = pa.schema([
    pa.field("sequence_id", STR, nullable=False),
    pa.field("kind", STR, nullable=False),
    pa.field("change", STR, nullable=False),  # added | removed | changed (content) | copies (only the count)
    pa.field("copies_parent", pa.int32(), nullable=False),
    pa.field("copies", pa.int32(), nullable=False),
], metadata={b"swe_curate.table": b"release_changes", b"swe_curate.schema_version": b"1"})
