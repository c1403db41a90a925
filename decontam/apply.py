"""The apply step: removing flagged records and everything built from them.

Reads/writes nothing: Arrow tables in, Arrow tables out. The one idea: contamination propagates
through source record ids; a sequence (issue 6's BugFixer / TestWriter / PR sequences) is removed
when any record it was built from is removed (a removed PR removes the sequences built from it; a
removed issue removes the sequences that use its text).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def apply(table: pa.Table, dropped: pa.Table, id_column: str = "record_id") -> pa.Table:
    """``table`` without the rows whose ``id_column`` is a dropped record id (order kept)."""
    mask = pc.is_in(table.column(id_column), value_set=dropped.column("record_id").combine_chunks())
    return table.filter(pc.invert(pc.fill_null(mask, False)))


def propagate(sequences: pa.Table, dropped: pa.Table, ids_column: str = "source_ids") -> pa.Table:
    """Which sequences are removed: ``sequence_id`` and ``record_id`` (the first of its sources, in
    the order given, that was dropped), sorted by sequence id.

    ``sequences`` has ``sequence_id`` and a list column of source record ids; ``dropped`` has
    ``record_id`` (e.g. ``decontam.run.dropped_ids`` and ``dedup.run.dropped_ids``)."""
    ids = sequences.column(ids_column).combine_chunks()
    flat = pc.list_flatten(ids)
    parent = pc.list_parent_indices(ids)
    hit = pc.fill_null(pc.is_in(flat, value_set=dropped.column("record_id").combine_chunks()), False)
    t = pa.table({"row": parent, "record_id": flat}).filter(hit)
    if t.num_rows == 0:
        return pa.table({"sequence_id": pa.array([], sequences.schema.field("sequence_id").type),
                         "record_id": pa.array([], pa.string())})
    # First dropped source per sequence: rows come in list order, so the first occurrence wins.
    rows = t.column("row").to_numpy()
    import numpy as np

    _, first = np.unique(rows, return_index=True)
    t = t.take(pa.array(first))
    out = pa.table({"sequence_id": sequences.column("sequence_id").take(t.column("row")),
                    "record_id": t.column("record_id")})
    return out.sort_by("sequence_id")
