"""The token pool: most budget first, never past the primary limit, bounded waits."""

import threading
import time

import pytest

from ingest.errors import FatalSourceError, RateLimitWaitTooLong
from ingest.github_client import TokenPool, fingerprint


def _pool(tokens, **kw):
    args = {"reserve": 0, "per_token_concurrency": 2, "max_wait_s": 5.0}
    args.update(kw)
    return TokenPool(tokens, **args)


def _headers(remaining, reset, limit=100, resource="core"):
    return {"x-ratelimit-remaining": str(remaining), "x-ratelimit-limit": str(limit),
            "x-ratelimit-reset": str(int(reset)), "x-ratelimit-resource": resource}


def test_fingerprints_hide_tokens():
    fp = fingerprint("ghp_secret_value")
    assert "secret" not in fp and fp == fingerprint("ghp_secret_value") and fp != fingerprint("other")
    assert fingerprint(None) == "anonymous"


def test_picks_the_token_with_most_budget_left():
    pool = _pool(["a", "b"])
    reset = time.time() + 3600
    ta, tb = pool.tokens
    t = pool.acquire("core", None, lambda *a: None)
    pool.release(t, "core", _headers(10, reset))
    other = tb if t is ta else ta
    t2 = pool.acquire("core", None, lambda *a: None)
    assert t2 is other  # the unknown budget beats 10 remaining
    pool.release(t2, "core", _headers(50, reset))
    assert pool.acquire("core", None, lambda *a: None) is other


def test_never_spends_past_the_limit_and_waits_for_reset():
    pool = _pool(["a"], per_token_concurrency=1)
    t = pool.tokens[0]
    waits = []
    pool.release(pool.acquire("core", None, lambda *a: None), "core", _headers(1, time.time() + 2))
    pool.release(pool.acquire("core", None, lambda *a: None), "core", None)  # spends the last one
    start = time.time()
    got = pool.acquire("core", None, lambda w, why: waits.append(w))
    assert got is t and time.time() - start >= 0.5 and waits  # waited for the window to reset
    pool.release(got, "core", None)


def test_wait_over_the_cap_raises():
    pool = _pool(["a"], max_wait_s=2)
    t = pool.acquire("core", None, lambda *a: None)
    pool.release(t, "core", _headers(0, time.time() + 600))
    with pytest.raises(RateLimitWaitTooLong):
        pool.acquire("core", None, lambda *a: None)
    # Another resource has its own budget.
    pool.release(pool.acquire("graphql", None, lambda *a: None), "graphql", None)


def test_secondary_pause_moves_work_to_other_tokens():
    pool = _pool(["a", "b"])
    ta, tb = pool.tokens
    pool.pause(ta, 30)
    assert pool.acquire("core", None, lambda *a: None) is tb


def test_dead_tokens_and_concurrency_slots():
    pool = _pool(["a", "b"], per_token_concurrency=1)
    ta, tb = pool.tokens
    pool.kill(ta)
    held = pool.acquire("core", None, lambda *a: None)
    assert held is tb
    got = []
    th = threading.Thread(target=lambda: got.append(pool.acquire("core", None, lambda *a: None)))
    th.start()
    time.sleep(0.2)
    assert not got  # the only live token is busy
    pool.release(held, "core", None)
    th.join(5)
    assert got == [tb]
    pool.kill(tb)
    with pytest.raises(FatalSourceError):
        pool.acquire("core", None, lambda *a: None)
