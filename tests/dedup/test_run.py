"""The dedup stage end to end on small raw tables: flags, the keep policy, incremental runs equal
to one run over everything (without re-reading old text), shuffled input, re-tuned thresholds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.config import DedupConfig
from dedup.run import dedup, dropped_ids
from ingest.errors import ConfigError
from ingest.run import _table
from ingest.schema import TABLES
from ingest.store import DataRoot

WORDS = ("parser", "token", "stream", "buffer", "cache", "index", "client", "server", "request", "timeout",
         "error", "crash", "value", "config", "option", "file", "path", "module", "import", "thread", "lock",
         "queue", "socket", "retry", "handler", "event", "loop", "async", "schema", "column", "row", "query")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def text(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 30)) for _ in range(n))


def mutate(t: str, changes: int, seed: int) -> str:
    """Replace ``changes`` words, spread out: each touches up to 5 shingles of 5 words."""
    words = t.split()
    rng = random.Random(seed)
    for k in range(changes):
        words[(k + 1) * len(words) // (changes + 1)] = f"changed{rng.randint(0, 10**6)}"
    return " ".join(words)


def issue(repo: str, n: int, body: str, *, comments: int = 0, day: int = 0, updated: int = 0,
          title: str = "Parser crash") -> dict:
    row = {f.name: None for f in TABLES["issues"].schema}
    owner, name = repo.split("/")
    row.update(id=f"{owner}__{name}-{n}", repo=repo, number=n, title=title, body=body, state="open",
               author="alice", author_type="User", labels=[], comments=comments, is_pull_request=False,
               created_at=T0 + timedelta(days=day), updated_at=T0 + timedelta(days=day, hours=updated),
               partial=False, source="api", crawled_at=T0 + timedelta(days=day, hours=updated))
    return row


def pull(repo: str, n: int, body: str, *, merged: bool, day: int = 0) -> dict:
    row = {f.name: None for f in TABLES["pulls"].schema}
    owner, name = repo.split("/")
    row.update(id=f"{owner}__{name}-{n}", repo=repo, number=n, title="Fix the parser", body=body, state="closed",
               merged=merged, created_at=T0 + timedelta(days=day), updated_at=T0 + timedelta(days=day),
               linked_issues=[], mentioned_issues=[], partial=False, source="api", crawled_at=T0)
    return row


def write(root: DataRoot, batch: str, table: str, rows: list[dict], *, shuffle: int | None = None) -> None:
    t = _table(table, rows)
    if shuffle is not None:
        order = list(range(t.num_rows))
        random.Random(shuffle).shuffle(order)
        t = t.take(pa.array(order))
    root.write_parquet(f"raw/{table}/batch={batch}/part-0.parquet", t)


BASE = {i: text(i) for i in range(12)}


def comment(repo: str, n: int, cid: int, body: str) -> dict:
    row = {f.name: None for f in TABLES["comments"].schema}
    owner, name = repo.split("/")
    row.update(record_id=f"{owner}__{name}-{n}", repo=repo, number=n, kind="issue", comment_id=cid, author="bob",
               author_type="User", body=body, created_at=T0, updated_at=T0, source="api", crawled_at=T0)
    return row


def batch1() -> dict[str, list[dict]]:
    return {
        "comments": [comment("acme/b", 3, k, "+1") for k in (1, 2, 3)],
        "issues": [
            issue("acme/a", 1, BASE[0], comments=0, day=1),
            issue("acme/a", 2, BASE[0].upper().replace(" ", "  "), comments=0, day=2),  # exact (normalized)
            issue("acme/b", 3, mutate(BASE[0], 1, 1), comments=3, day=3),  # near; most discussion
            issue("acme/a", 4, BASE[1], day=1),  # unique
            issue("acme/b", 5, mutate(BASE[2], 2, 2), day=5),
            issue("acme/b", 6, BASE[3], day=0),  # unique
        ],
        "pulls": [
            pull("acme/a", 10, BASE[4], merged=False, day=1),
            pull("acme/b", 11, mutate(BASE[4], 1, 3), merged=True, day=2),  # merged beats earlier unmerged
            pull("acme/a", 12, BASE[5], merged=True, day=1),
        ],
    }


def batch2() -> dict[str, list[dict]]:
    return {
        "issues": [
            issue("acme/c", 20, BASE[2], day=4),  # near-duplicate of batch 1's #5, earlier: it wins
            issue("acme/c", 21, mutate(BASE[1], 1, 9), day=9),  # near #4
            issue("acme/c", 22, BASE[6], day=1),  # unique
            issue("acme/c", 23, mutate(BASE[6], 30, 4), day=1),  # far below the threshold
        ],
        "pulls": [pull("acme/c", 30, BASE[5], merged=False, day=0)],  # exact dup of merged #12
    }


def write_batches(root: DataRoot, *batches: tuple[str, dict[str, list[dict]]], shuffle: int | None = None) -> None:
    for name, tables in batches:
        for table, rows in tables.items():
            write(root, name, table, rows, shuffle=shuffle)


def flags(root: DataRoot) -> list[dict]:
    return pq.read_table(root.path("dedup/flags/flags.parquet")).to_pylist()


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["record_id"]: r for r in rows}


CFG = DedupConfig(partition_docs=100)


def test_flags_reasons_clusters_and_policy(tmp_path):
    root = DataRoot(tmp_path)
    write_batches(root, ("b1", batch1()))
    s = dedup(root.url, CFG)
    f = by_id(flags(root))
    assert len(f) == 9 and s.records_hashed == 9
    # acme/b#3 has the most discussion: it represents its cluster; #1 is a near copy, #2 exact of #1
    # but near of #3 (the reason is relative to the representative)
    assert (f["acme__b-3"]["keep"], f["acme__b-3"]["cluster_id"], f["acme__b-3"]["cluster_size"]) == (True, "acme__b-3", 3)
    assert (f["acme__a-1"]["keep"], f["acme__a-1"]["reason"], f["acme__a-1"]["cluster_id"]) == (False, "near", "acme__b-3")
    assert (f["acme__a-2"]["keep"], f["acme__a-2"]["reason"]) == (False, "near")
    assert 0.8 <= f["acme__a-1"]["similarity"] < 1.0
    # merged beats unmerged, whatever the dates
    assert (f["acme__b-11"]["keep"], f["acme__a-10"]["keep"], f["acme__a-10"]["reason"]) == (True, False, "near")
    for unique in ("acme__a-4", "acme__b-6", "acme__a-12", "acme__b-5"):
        assert (f[unique]["keep"], f[unique]["cluster_size"], f[unique]["reason"], f[unique]["similarity"]) == (
            True, 1, None, 1.0)
    assert s.counts == {"issue:kept": 4, "issue:near": 2, "pull:kept": 2, "pull:near": 1}
    assert sorted(dropped_ids(root.url).column("record_id").to_pylist()) == ["acme__a-1", "acme__a-10", "acme__a-2"]


def test_exact_duplicates_are_reasoned_exact(tmp_path):
    root = DataRoot(tmp_path)
    write_batches(root, ("b1", {"issues": [issue("o/r", 1, BASE[7], day=2), issue("o/r", 2, BASE[7] + "  ", day=1)]}))
    dedup(root.url, CFG)
    f = by_id(flags(root))
    assert (f["o__r-2"]["keep"], f["o__r-1"]["keep"], f["o__r-1"]["reason"], f["o__r-1"]["similarity"]) == (
        True, False, "exact", 1.0)


def test_incremental_equals_one_run_and_never_rereads_old_text(tmp_path):
    full = DataRoot(tmp_path / "full")
    write_batches(full, ("b1", batch1()), ("b2", batch2()))
    dedup(full.url, CFG)

    inc = DataRoot(tmp_path / "inc")
    write_batches(inc, ("b1", batch1()))
    first = dedup(inc.url, CFG)
    # Batch 1's text is gone (overwritten with other words, same keys and versions): a second run
    # that re-read or re-hashed it could not reproduce the one-run flags.
    garbage = {t: [{**r, "body": text(999 + i)} for i, r in enumerate(rows)] for t, rows in batch1().items()}
    write_batches(inc, ("b1", garbage))
    write_batches(inc, ("b2", batch2()))
    second = dedup(inc.url, CFG)
    assert (first.records_hashed, second.records_hashed) == (9, 5)
    assert flags(inc) == flags(full)
    f = by_id(flags(inc))
    # batch 2 changed batch 1's clusters: the earlier #20 now represents #5; #30 is exact of #12
    assert (f["acme__c-20"]["keep"], f["acme__b-5"]["keep"], f["acme__b-5"]["cluster_id"]) == (True, False, "acme__c-20")
    assert (f["acme__c-30"]["keep"], f["acme__c-30"]["reason"], f["acme__c-30"]["cluster_id"]) == (False, "exact", "acme__a-12")
    assert f["acme__c-23"]["keep"] and f["acme__c-23"]["cluster_size"] == 1


def test_shuffled_input_gives_identical_flags(tmp_path):
    a, b = DataRoot(tmp_path / "a"), DataRoot(tmp_path / "b")
    write_batches(a, ("b1", batch1()), ("b2", batch2()))
    write_batches(b, ("b1", batch1()), ("b2", batch2()), shuffle=7)
    dedup(a.url, CFG)
    dedup(b.url, DedupConfig(partition_docs=3))  # other partitions too
    assert flags(a) == flags(b)
    assert Path(a.path("dedup/flags/flags.parquet")).read_bytes() == Path(b.path("dedup/flags/flags.parquet")).read_bytes()


def test_retuned_threshold_reflags_without_rehashing(tmp_path):
    root = DataRoot(tmp_path)
    write_batches(root, ("b1", batch1()))
    dedup(root.url, CFG)
    strict = dedup(root.url, DedupConfig(partition_docs=100, threshold=0.99, bands=32, rows=4))
    assert strict.rebuilt  # other bands: the index is rebuilt
    again = dedup(root.url, DedupConfig(partition_docs=100, threshold=0.999, bands=32, rows=4))
    assert (again.rebuilt, again.records_hashed) == (False, 0)
    f = by_id(flags(root))
    assert f["acme__a-1"]["keep"] and not f["acme__a-2"]["keep"]  # only the exact copy is left in a cluster


def test_an_edited_record_is_rehashed_and_leaves_its_cluster(tmp_path):
    root = DataRoot(tmp_path)
    write_batches(root, ("b1", batch1()))
    dedup(root.url, CFG)
    edited = issue("acme/a", 1, BASE[9], day=1, updated=5)  # a newer version, other text
    write_batches(root, ("b3", {"issues": [edited]}))
    s = dedup(root.url, CFG)
    f = by_id(flags(root))
    assert s.records_hashed == 1
    assert (f["acme__a-1"]["keep"], f["acme__a-1"]["cluster_size"]) == (True, 1)
    assert f["acme__b-3"]["cluster_size"] == 2


def test_empty_data_root_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing to dedup"):
        dedup(str(tmp_path), CFG)


def test_verification_reads_sets_by_span_in_memory_groups(tmp_path):
    # The candidates' shingle sets, read by byte span from several partition files, give the
    # Jaccards of the whole stored files; a memory budget that splits the pairs changes nothing.
    import glob

    import numpy as np

    from dedup import minhash
    from dedup.run import DedupRun

    root = DataRoot(tmp_path)
    write_batches(root, ("b1", batch1()), ("b2", batch2()))
    dedup(root.url, DedupConfig(partition_docs=3))
    refs = np.sort(np.concatenate([pq.read_table(f, columns=["ref"]).column("ref").to_numpy()
                                   for f in glob.glob(root.path("dedup/signatures/run=*/*.parquet"))]))
    assert len(np.unique(refs >> 20)) == 5
    a, b = np.triu_indices(len(refs), 1)
    whole = {}
    for f in np.unique(refs >> 20):
        stem = root.path(f"dedup/shingles/run={f >> 20:06d}/part-{f & 0xFFFFF:05d}")
        whole[f] = (np.load(stem + ".values.npy"), np.load(stem + ".offsets.npy"))
    sets = [whole[r >> 20][0][whole[r >> 20][1][r & 0xFFFFF]:whole[r >> 20][1][(r & 0xFFFFF) + 1]] for r in refs]
    values = np.concatenate(sets)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    want = minhash.pair_jaccard(values, offsets, np.stack([a, b], axis=1))
    assert (want >= 0.8).sum() >= 5 and (want < 0.5).sum() > 0
    run = DedupRun(root.url, DedupConfig(partition_docs=3))
    assert np.array_equal(run._jaccard(refs[a], refs[b]), want)
    run.cfg = run.cfg.model_copy(update={"memory_limit_mb": 0})  # every pair in its own group
    assert np.array_equal(run._jaccard(refs[b], refs[a]), want)


def test_documents_built_a_few_records_at_a_time_give_the_same_index(tmp_path):
    # chunk_docs splits a partition's tables by record (comments and files with their record, a
    # comment whose record is not in the partition nowhere): the index and flags do not change.
    import glob

    a, b = DataRoot(tmp_path / "a"), DataRoot(tmp_path / "b")
    orphan = {"comments": [comment("acme/zz", 99, 1, "a comment whose issue was never crawled")]}
    for root in (a, b):
        write_batches(root, ("b1", batch1()), ("b2", batch2()), ("b3", orphan))
    dedup(a.url, DedupConfig(partition_docs=100))
    dedup(b.url, DedupConfig(partition_docs=100, chunk_docs=2))
    assert flags(a) == flags(b)
    for root in (a, b):
        sig = pq.read_table(glob.glob(root.path("dedup/signatures/run=*/*.parquet"))[0]).to_pylist()
        root.sigs = sorted((r["doc_id"], r["minhash"], r["n_comments"], r["content_hash"]) for r in sig)
    assert a.sigs == b.sigs and len(a.sigs) == 14 and dict((r[0], r[2]) for r in a.sigs)["acme__b-3"] == 3
