"""Data root: atomic files, latest-per-key across batches, child sets replaced whole."""

import hashlib
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.errors import ConfigError
from ingest.schema import TABLES
from ingest.store import DataRoot

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _issues(numbers, updated, title, crawled=None):
    return pa.Table.from_pylist([
        {"id": f"a__b-{n}", "repo": "a/b", "number": n, "title": title, "updated_at": updated,
         "labels": ["bug"], "source": "api", "crawled_at": crawled or updated} for n in numbers
    ], schema=TABLES["issues"].schema)


def test_empty_table_reads_as_empty(tmp_path):
    t = DataRoot(tmp_path).read_latest("issues")
    assert t.num_rows == 0 and t.schema.equals(TABLES["issues"].schema, check_metadata=False)


def test_latest_version_per_key_wins(tmp_path):
    root = DataRoot(tmp_path)
    root.write_parquet("raw/issues/batch=1/part-a.parquet", _issues([1, 2, 3], T0, "old"))
    root.write_parquet("raw/issues/batch=2/part-a.parquet", _issues([2, 3], T0 + timedelta(hours=1), "new"))
    # A re-crawl of an unchanged record (same updated_at, later crawl) must not duplicate it.
    root.write_parquet("raw/issues/batch=3/part-a.parquet", _issues([1], T0, "old", T0 + timedelta(days=1)))
    latest = root.read_latest("issues")
    assert [(r["number"], r["title"]) for r in latest.to_pylist()] == [(1, "old"), (2, "new"), (3, "new")]
    assert root.read_all("issues").num_rows == 6


def test_child_rows_are_replaced_as_a_set(tmp_path):
    root = DataRoot(tmp_path)
    schema = TABLES["pull_files"].schema

    def files(paths, crawled):
        return pa.Table.from_pylist([{"record_id": "a__b-7", "repo": "a/b", "number": 7, "path": p,
                                      "source": "api", "crawled_at": crawled} for p in paths], schema=schema)

    root.write_parquet("raw/pull_files/batch=1/part-a.parquet", files(["x.py", "y.py"], T0))
    root.write_parquet("raw/pull_files/batch=2/part-a.parquet", files(["x.py"], T0 + timedelta(hours=1)))
    assert [r["path"] for r in root.read_latest("pull_files").to_pylist()] == ["x.py"]


def test_old_batches_without_new_columns_still_read(tmp_path):
    root = DataRoot(tmp_path)
    old = _issues([1], T0, "t").drop_columns(["html_url", "locked"])
    pq.write_table(old, tmp_path / "part.parquet")
    (tmp_path / "raw/issues/batch=0").mkdir(parents=True)
    (tmp_path / "part.parquet").rename(tmp_path / "raw/issues/batch=0/part-a.parquet")
    t = root.read_latest("issues")
    assert t.num_rows == 1 and t.column("html_url").to_pylist() == [None]


def test_write_is_atomic_and_deterministic(tmp_path):
    root = DataRoot(tmp_path)
    table = _issues([1, 2], T0, "t")
    p1 = root.write_parquet("raw/issues/batch=1/part-a.parquet", table)
    p2 = root.write_parquet("raw/issues/batch=2/part-a.parquet", table)
    digest = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (p1, p2)]
    assert digest[0] == digest[1]

    class Boom(Exception):
        pass

    def failing(fh):
        fh.write(b"PAR1 half a file")
        raise Boom

    with pytest.raises(Boom):
        root._atomic("raw/issues/batch=3/part-a.parquet", failing)
    assert not (tmp_path / "raw/issues/batch=3/part-a.parquet").exists()
    assert list((tmp_path / "raw/issues/batch=3").iterdir()) == []  # no temporary left behind
    assert root.read_latest("issues").num_rows == 2


def test_unusable_data_root_is_a_config_error():
    with pytest.raises(ConfigError, match="data root nosuchproto://x"):
        DataRoot("nosuchproto://x")


def test_json_roundtrip(tmp_path):
    root = DataRoot(tmp_path)
    assert root.read_json("raw/_state/x.json") is None
    root.write_json("raw/_state/x.json", {"b": 1, "a": "é"})
    assert root.read_json("raw/_state/x.json") == {"a": "é", "b": 1}


def test_latest_rows_fetched_across_files_and_row_groups(tmp_path):
    # Winners interleave between two batches whose files hold several row groups; a projection
    # returns just the asked columns, in key order, equal to the full read's values.
    root = DataRoot(tmp_path)
    root.write_parquet("raw/issues/batch=1/part-a.parquet", _issues(range(0, 300), T0, "old"), row_group_size=7)
    newer = [n for n in range(0, 300) if n % 3 == 0]
    root.write_parquet("raw/issues/batch=2/part-a.parquet", _issues(newer, T0 + timedelta(hours=1), "new"),
                       row_group_size=5)
    full = root.read_latest("issues")
    assert full.column("number").to_pylist() == list(range(300))
    assert full.column("title").to_pylist() == ["new" if n % 3 == 0 else "old" for n in range(300)]
    records = pa.table({"repo": ["a/b"] * 4, "number": [299, 3, 4, 150]})
    part = root.read_latest("issues", records=records, columns=["number", "title", "labels"])
    assert part.column_names == ["number", "title", "labels"]
    assert part.to_pylist() == [{"number": n, "title": "new" if n % 3 == 0 else "old", "labels": ["bug"]}
                                for n in (3, 4, 150, 299)]
    with root.connect() as con:  # a reused connection gives the same rows
        again = root.read_latest("issues", records=records, columns=["number", "title", "labels"], con=con)
        assert again.equals(part) and root.read_latest("issues", con=con).equals(full)


def test_latest_rows_of_several_repositories_in_one_read(tmp_path):
    # One read for a partition of repositories equals the per-repository reads put together,
    # newest versions included; a repository in range but not asked for (and a quote) stays out.
    root = DataRoot(tmp_path)

    def issues(repo, numbers, title, updated):
        return pa.Table.from_pylist([{"id": f"{repo.replace('/', '__')}-{n}", "repo": repo, "number": n,
                                      "title": title, "updated_at": updated, "source": "api",
                                      "crawled_at": updated} for n in numbers], schema=TABLES["issues"].schema)

    repos = ["a/a", "a/b", "a/c", "o'k/d"]
    root.write_parquet("raw/issues/batch=1/part-a.parquet",
                       pa.concat_tables([issues(r, range(5), "old", T0) for r in repos]), row_group_size=4)
    root.write_parquet("raw/issues/batch=2/part-a.parquet", issues("a/c", [1], "new", T0 + timedelta(hours=1)))
    want = ["a/a", "a/c", "o'k/d"]
    got = root.read_latest("issues", repos=want, columns=["repo", "number", "title"])
    assert got.to_pylist() == [row for r in want
                               for row in root.read_latest("issues", repo=r, columns=["repo", "number", "title"]
                                                           ).to_pylist()]
    assert set(got.column("repo").to_pylist()) == set(want) and got.num_rows == 15
    assert [r["title"] for r in got.to_pylist() if r["repo"] == "a/c"] == ["old", "new", "old", "old", "old"]
    assert root.read_latest("issues", repos=[]).num_rows == 0


@pytest.mark.parametrize("where", ["disk", "tmpfs"])
def test_direct_writes_and_span_reads_round_trip(tmp_path, where):
    # Past-the-page-cache files hold exactly what a plain write would (sizes that are not whole
    # blocks, several 8 MB buffers), also where O_DIRECT is refused (tmpfs); spans read back exact.
    import os

    import numpy as np

    base = tmp_path
    if where == "tmpfs":
        if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
            pytest.skip("no writable /dev/shm here")
        import tempfile
        base = tempfile.mkdtemp(dir="/dev/shm")
    root = DataRoot(base)
    rng = np.random.default_rng(1)
    values = rng.integers(0, 1 << 32, 5_000_001, dtype=np.uint64).astype("<u4")
    parts = [values[:1_234_567], values[1_234_567:]]
    path = root.write_array("a/v.npy", parts, direct=True)
    assert np.array_equal(np.load(path), values)
    t = _issues(range(3000), T0, "x" * 100)
    plain, direct = root.write_parquet("a/p.parquet", t), root.write_parquet("a/d.parquet", t, direct=True)
    assert open(plain, "rb").read() == open(direct, "rb").read()
    raw = open(path, "rb").read()
    spans = np.array([[5, 9], [10, 4100], [8_000_000, 8_400_000], [len(raw) - 3, len(raw)]])
    got = {}
    for at, block in root.read_spans(path, spans, gap=1 << 16):
        got.update({at + i: b for i, b in enumerate(bytes(block))})
    for lo, hi in spans:
        assert bytes(got[i] for i in range(lo, hi)) == raw[lo:hi]
    assert max(got) < len(raw) and len(got) < len(raw) // 2  # far spans are not read
    if where == "tmpfs":
        import shutil
        shutil.rmtree(base)


def test_direct_io_buffers_are_not_shared_with_forked_workers():
    # Dedup forks worker processes after the parent has used the buffer pool: a buffer the child
    # writes must not change under the parent (a shared anonymous map would be one buffer).
    import os

    from ingest.store import _BUFFERS

    buf = _BUFFERS.take()
    buf[:6] = b"parent"
    pid = os.fork()
    if pid == 0:  # the child: write, then leave at once (no atexit handlers, no test teardown)
        try:
            buf[:6] = b"child!"
            os._exit(0 if buf[:6] == b"child!" else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and buf[:6] == b"parent"
    _BUFFERS.give(buf)
