"""The API crawl against the simulator: completeness under faults, incremental re-crawls,
rate limits, failures recorded per repository, and tokens that never leak."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.config import CrawlConfig
from ingest.errors import FatalSourceError
from ingest.filters import is_bot
from ingest.run import CrawlSession, crawl
from ingest.schema import TABLES
from ingest.simulator import FaultConfig, SimulatorServer, World, WorldSpec
from ingest.store import DataRoot

TOKEN = "ghp_crawlTestToken0123456789abcdefABCD"
CONTENT_TABLES = ("issues", "pulls", "comments", "pull_files", "pull_commits")


def _cfg(sim: SimulatorServer, repos, **kw) -> CrawlConfig:
    base = dict(api_url=sim.url, repos=tuple(repos), min_request_interval_s=0, backoff_base_s=0.01,
                backoff_max_s=0.05)
    base.update(kw)
    return CrawlConfig(**base)


def _listed(world: World) -> list[str]:
    return [r.full_name for r in world.listed_repos()]


def _expected(world: World, repos) -> dict[str, set[tuple]]:
    return world.keys(drop_author=lambda login, typ: is_bot(login, typ), repos=set(repos))


def _keys(table, name: str) -> set[tuple]:
    key = TABLES[name].key
    return {tuple(r[k] for k in key) for r in table.select(list(key)).to_pylist()}


def _stored(root: DataRoot) -> dict[str, set[tuple]]:
    return {t: _keys(root.read_latest(t), t) for t in CONTENT_TABLES}


def _batch(root: DataRoot, crawl_id: str, name: str) -> set[tuple]:
    files = [f for f in root.table_files(name) if f"/batch={crawl_id}/" in f]
    out: set[tuple] = set()
    for f in files:
        out |= _keys(pq.read_table(f), name)
    return out


@pytest.fixture
def make_sim():
    started: list[SimulatorServer] = []

    def make(world: World, **kw) -> SimulatorServer:
        kw.setdefault("tokens", [TOKEN])
        sim = SimulatorServer(world, **kw).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def test_first_crawl_under_faults_stores_everything_once(tmp_path, make_sim):
    world = World.generate(WorldSpec.demo(seed=3))
    faults = FaultConfig(seed=3, error_rate=0.03, secondary_every=25, retry_after_s=1, truncate_rate=0.03)
    sim = make_sim(world, faults=faults)
    summary = crawl(tmp_path, _cfg(sim, _listed(world), concurrency=3), [TOKEN])
    stats = sim.stats()
    # The faults really happened, and the crawler never ran into the primary limit.
    assert stats["faults"]["error"] > 0 and stats["faults"]["secondary"] > 0 and stats["faults"]["truncated"] > 0
    assert stats["primary_limited"] == 0
    assert summary.wait_s > 0

    outcomes = {o.repo: o for o in summary.outcomes}
    crawled = {r for r, o in outcomes.items() if o.status == "ok"}
    assert crawled == {r.full_name for r in world.listed_repos() if r.crawlable}
    filtered = {r: o.reason for r, o in outcomes.items() if o.status == "filtered"}
    assert filtered == {"nova/tiny": "stars_below_min", "nova/widgets": "fork", "relic/oldlib": "archived",
                        "corp/secret-sauce": "license_missing", "orbit/telemetry": "license_unknown"}

    root = DataRoot(tmp_path)
    expected = _expected(world, crawled)
    stored = _stored(root)
    for t in CONTENT_TABLES:
        assert stored[t] == expected[t], t
        # Latest-per-key is one row per key, and no batch stored a key twice.
        assert root.read_latest(t).num_rows == len(expected[t])
    assert summary.dropped["issues:bot_author"] > 0 and summary.dropped["comments:bot_author"] > 0

    # Closing links equal GitHub's (every keyword form, decoys ignored, default-branch rule).
    links = world.expected_links()
    for p in root.read_latest("pulls").to_pylist():
        assert p["linked_issues"] == sorted(links[(p["repo"], p["number"])]), p["id"]
    assert sum(bool(p["linked_issues"]) for p in root.read_latest("pulls").to_pylist()) >= 10

    # Content survives: null bodies, unicode, GitHub's largest body.
    issues = {(r["repo"], r["number"]): r for r in root.read_latest("issues").to_pylist()}
    for key, row in issues.items():
        assert row["body"] == world.issue(*key).body and row["title"] == world.issue(*key).title
    assert any(r["body"] is None for r in issues.values())
    assert max(len(r["body"] or "") for r in issues.values()) == 65536

    # The crawl log has a row per repository with the reason.
    log = {r["repo"]: r for r in root.read_latest("crawl_log").to_pylist()}
    assert log.keys() == outcomes.keys() and log["relic/oldlib"]["reason"] == "archived"
    assert dict(log["acme/widgets"]["records"])["issues"] == outcomes["acme/widgets"].records["issues"]


def test_recrawl_fetches_only_what_changed(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=5))
    sim = make_sim(world)
    cfg = _cfg(sim, _listed(world))
    first = crawl(tmp_path, cfg, [TOKEN])
    crawled = {o.repo for o in first.outcomes if o.status == "ok"}
    root = DataRoot(tmp_path)

    again = crawl(tmp_path, cfg, [TOKEN])
    for o in again.outcomes:
        assert o.requests == (3 if o.status == "ok" else 1), o  # 304 + empty listings
        assert not set(o.records) - {"repos"}
    assert sum(len(_batch(root, again.crawl_id, t)) for t in CONTENT_TABLES) == 0

    report = sim.mutate(seed=11)
    third = crawl(tmp_path, cfg, [TOKEN])
    expected_now = _expected(world, crawled)
    for t in CONTENT_TABLES:
        changed = {k for k in report.changed.get(t, set()) if k in expected_now[t]}
        assert _batch(root, third.crawl_id, t) == changed, t
    assert any(report.changed.get(t) for t in CONTENT_TABLES)
    # And the tables as a whole equal the mutated world.
    assert _stored(root) == {t: expected_now[t] for t in CONTENT_TABLES}


def test_anonymous_crawl_uses_rest_for_commits_and_reviews(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=2))
    sim = make_sim(world, tokens=None, anon_rate_limit=5000)
    repos = [r.full_name for r in world.listed_repos() if r.crawlable]
    summary = crawl(tmp_path, _cfg(sim, repos), [])
    assert all(o.status == "ok" for o in summary.outcomes)
    by_endpoint = sim.stats()["by_endpoint"]
    assert "POST /graphql" not in by_endpoint
    assert by_endpoint["GET /repos/{owner}/{repo}/pulls/{pull_number}/commits"] > 0
    assert _stored(DataRoot(tmp_path)) == {t: _expected(world, repos)[t] for t in CONTENT_TABLES}


def test_primary_limit_is_waited_for_never_exceeded(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world, rate_limit=20, rate_window_s=2.0)
    repos = ["acme/widgets", "lumen/parsekit"]
    summary = crawl(tmp_path, _cfg(sim, repos, concurrency=2), [TOKEN])
    assert [o.status for o in summary.outcomes] == ["ok", "ok"]
    assert sim.stats()["primary_limited"] == 0
    assert summary.requests > 20 and summary.wait_s > 0.5  # it crossed windows by waiting


def test_long_waits_are_capped_and_recorded(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world, rate_limit=5, rate_window_s=600.0)
    t0 = time.time()
    summary = crawl(tmp_path, _cfg(sim, ["acme/widgets"], max_rate_limit_wait_s=1), [TOKEN])
    assert time.time() - t0 < 30
    (o,) = summary.outcomes
    assert o.status == "failed" and o.reason == "rate_limit_wait_over_cap"
    assert not DataRoot(tmp_path).exists("raw/_state/acme__widgets.json")  # cursor not advanced


def test_failing_and_unknown_repos_do_not_stop_the_crawl(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world)
    summary = crawl(tmp_path, _cfg(sim, ["acme/nope", "acme/widgets"]), [TOKEN])
    status = {o.repo: (o.status, o.reason) for o in summary.outcomes}
    assert status == {"acme/nope": ("failed", "not_found"), "acme/widgets": ("ok", None)}

    sim.set_faults(FaultConfig(error_rate=1.0))
    summary = crawl(tmp_path / "b", _cfg(sim, ["acme/gizmo"], max_attempts=2), [TOKEN])
    (o,) = summary.outcomes
    assert o.status == "failed" and o.reason == "retries_exhausted" and "HTTP 50" in o.detail
    log = DataRoot(tmp_path / "b").read_latest("crawl_log").to_pylist()
    assert [(r["repo"], r["status"]) for r in log] == [("acme/gizmo", "failed")]


def test_bad_token_is_refused_before_work(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world)
    session = CrawlSession(tmp_path, _cfg(sim, ["acme/widgets"]), ["ghp_wrong"])
    with pytest.raises(FatalSourceError) as e:
        session.check()
    assert "401" in str(e.value) and "ghp_wrong" not in str(e.value) and "\n" not in str(e.value)
    # One good token among bad ones is enough: the bad one leaves the pool.
    session = CrawlSession(tmp_path, _cfg(sim, ["acme/widgets"]), ["ghp_wrong", TOKEN])
    session.check()
    assert [t.alive for t in session.client.pool.tokens] == [False, True]


def test_token_never_appears_in_logs_or_files(tmp_path, make_sim, caplog, monkeypatch):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world, faults=FaultConfig(seed=1, error_rate=0.05, secondary_every=10, retry_after_s=0))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)  # PyGithub, urllib3 and ours, at their most talkative
    from ingest.run import tokens_from_env

    summary = crawl(tmp_path, _cfg(sim, _listed(world)), tokens_from_env())
    assert summary.requests > 20 and caplog.records
    assert TOKEN not in caplog.text
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in repr(summary.to_json())


def test_search_query_selects_repositories(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world)
    session = CrawlSession(tmp_path, _cfg(sim, (), search="stars:>=5 license:mit fork:false"), [TOKEN])
    repos = session.resolve_repos()
    expected = sorted((r for r in world.repos.values()
                       if r.stargazers_count >= 5 and r.license == "MIT" and not r.fork),
                      key=lambda r: -r.stargazers_count)
    assert repos and set(repos) == {r.full_name for r in expected}
    assert sim.stats()["by_endpoint"]["GET /search/repositories"] >= 1


def test_token_pool_spreads_load_over_tokens(tmp_path, make_sim):
    other = "ghp_secondCrawlToken0123456789abcdef"
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world, tokens=[TOKEN, other], rate_limit=30, rate_window_s=60.0)
    summary = crawl(tmp_path, _cfg(sim, ["acme/widgets", "acme/gizmo", "lumen/parsekit"], concurrency=3),
                    [TOKEN, other])
    assert all(o.status == "ok" for o in summary.outcomes)
    stats = sim.stats()
    assert stats["primary_limited"] == 0 and len([n for n in stats["by_token"].values() if n > 5]) == 2
    assert summary.requests > 30  # more than one token's budget, without waiting an hour


def test_slow_answers_time_out_and_are_retried(tmp_path, make_sim):
    world = World.generate(WorldSpec.small(seed=1))
    sim = make_sim(world, faults=FaultConfig(seed=2, slow_rate=0.25, slow_s=2.5))
    summary = crawl(tmp_path, _cfg(sim, ["lumen/parsekit"], timeout_s=1), [TOKEN])
    (o,) = summary.outcomes
    assert o.status == "ok" and sim.stats()["faults"]["slow"] > 0
    assert _stored(DataRoot(tmp_path)) == {t: _expected(world, ["lumen/parsekit"])[t] for t in CONTENT_TABLES}


def test_bounded_memory_parts_give_the_same_tables(tmp_path, make_sim):
    world = World.generate(WorldSpec.demo(seed=2))
    sim = make_sim(world)
    repos = ["acme/widgets"]
    crawl(tmp_path / "one", _cfg(sim, repos), [TOKEN])
    summary = crawl(tmp_path / "parts", _cfg(sim, repos, flush_rows=100), [TOKEN])
    parts = DataRoot(tmp_path / "parts")
    assert len(parts.table_files("comments")) >= 3  # the repository was written in several parts
    assert _stored(parts) == _stored(DataRoot(tmp_path / "one"))
    (o,) = summary.outcomes
    assert o.records["comments"] == parts.read_latest("comments").num_rows


def test_api_plus_git_reads_merged_prs_from_clones_exactly(tmp_path, make_sim):
    """With the git source on, merged PRs' files come from the simulator's real git repositories
    (equal to what its API reports, plus blob SHAs and base snapshots), the API fetches files only
    for unmerged PRs, and a mutation's new merges arrive on the next crawl."""
    from ingest.config import GitConfig

    world = World.generate(WorldSpec.demo(seed=5))
    sim = make_sim(world)
    repos = _listed(world)
    summary = crawl(tmp_path, _cfg(sim, repos, concurrency=2), [TOKEN], git_config=GitConfig())
    crawled = {o.repo for o in summary.outcomes if o.status == "ok"}
    assert {o.git for o in summary.outcomes if o.status == "ok"} == {"ok"}
    root = DataRoot(tmp_path)

    def check() -> None:
        expected = _expected(world, crawled)
        assert _keys(root.read_latest("pull_files"), "pull_files") == expected["pull_files"]
        rows = {(r["repo"], r["number"], r["path"]): r for r in root.read_latest("pull_files").to_pylist()}
        blobs = {b["blob_sha"]: b for b in root.read_latest("blobs").to_pylist()}
        trees = {(t["repo"], t["commit"]): t for t in root.read_latest("trees").to_pylist()}
        n_merged = 0
        for key in expected["pull_files"]:
            it = world.issue(key[0], key[1])
            (f,) = [f for f in it.pull.files if f.filename == key[2]]
            row = rows[key]
            assert row["source"] == ("git" if it.pull.merged else "api"), key
            assert (row["status"], row["previous_path"], row["head_blob_sha"]) == (
                f.status, f.previous_filename, f.sha), key
            if not it.pull.merged:
                continue
            n_merged += 1
            assert (row["head_sha"], row["base_sha"]) == (it.pull.head_sha, it.pull.base_sha), key
            if not f.binary:
                assert (row["additions"], row["deletions"], row["patch"]) == (f.additions, f.deletions, f.patch), key
            base_tree = it.pull.base_files
            if row["base_blob_sha"] and not row["skip_reason"]:
                # the pre-image is one lookup away and equals the base branch's file
                assert blobs[row["base_blob_sha"]]["content"] == base_tree[row["previous_path"] or row["path"]]
            assert trees[(key[0], row["base_sha"])]["paths"] == sorted(base_tree)
        assert n_merged > 20

    check()
    sim.mutate(seed=11, new_pulls=6, pushed_pulls=3, merged_pulls=4)
    crawl(tmp_path, _cfg(sim, repos, concurrency=2), [TOKEN], git_config=GitConfig())
    check()
