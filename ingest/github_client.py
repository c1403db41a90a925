"""GitHub REST/GraphQL client over PyGithub, sharing a pool of tokens within their budgets.

Reads: the GitHub API at ``api_url`` (github.com, Enterprise, or the built-in simulator).
Writes: nothing; it returns parsed JSON. This is the only module that imports PyGithub.

The one idea: every request first takes a token from the pool, which knows each token's
remaining budget per resource (core / search / graphql) from the response headers, so the crawl
never spends a request GitHub would refuse; every wait (rate-limit reset, secondary limit,
backoff) is bounded by config, logged with the token's fingerprint (never the token) and
accounted to the repository being crawled.

Why not PyGithub's ``GithubRetry``: its sleeps happen inside urllib3 per connection, are not
visible to the other threads using the same token, are not accounted, honour ``Retry-After`` up to
six hours, and never see truncated bodies. PyGithub still does auth, URLs, the host checks and
the exception types; retries are one measured policy here.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse, urlunparse

import github
import requests
from github import Auth
from github.Requester import Requester
from requests.utils import parse_header_links

from ingest.config import CrawlConfig
from ingest.errors import FatalSourceError, RateLimitWaitTooLong, RetryableError

log = logging.getLogger("swe_curate.ingest.github")

RESOURCES = ("core", "search", "graphql")
USER_AGENT = "swe-curate/0.1 (+https://github.com/swe-curate)"


def fingerprint(token: str | None) -> str:
    """A stable, non-reversible name for a token, safe to log and store."""
    if not token:
        return "anonymous"
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:10]


class NotFound(Exception):
    """404 from GitHub (unknown repository, PR, user)."""


class RequestRejected(Exception):
    """A 4xx answer that retrying will not fix (422 deep pagination, 400 bad query, 410 gone)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    data: Any
    token: str = ""  # fingerprint of the token that answered (ETags are token-specific)


@dataclass
class Counter:
    """Requests sent and seconds waited, per repository crawl (thread-local scope)."""

    requests: int = 0
    wait_s: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass
class _Budget:
    limit: int = -1
    remaining: int = -1  # -1: unknown (no answer seen yet for this resource)
    reset_at: float = 0.0


class _Token:
    def __init__(self, value: str | None, index: int):
        self.value = value
        self.index = index
        self.fp = fingerprint(value)
        self.alive = True
        self.in_flight = 0
        self.paused_until = 0.0
        self.budgets = {r: _Budget() for r in RESOURCES}

    def label(self) -> str:
        return f"token #{self.index + 1} ({self.fp})" if self.value else "anonymous access"


class TokenPool:
    """Hands out the token with the most budget left; waits (bounded) when all are spent."""

    def __init__(self, tokens: list[str], *, reserve: int, per_token_concurrency: int,
                 max_wait_s: float):
        values: list[str | None] = list(dict.fromkeys(t for t in tokens if t)) or [None]
        self.tokens = [_Token(v, i) for i, v in enumerate(values)]
        self.reserve = reserve
        self.per_token = per_token_concurrency
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()

    @property
    def anonymous(self) -> bool:
        return self.tokens[0].value is None

    def _spendable(self, t: _Token, resource: str, now: float) -> int:
        b = t.budgets[resource]
        if b.remaining < 0 or now >= b.reset_at:
            return 1 << 30  # unknown or a new window has begun
        # The reserve protects the last requests of a window; a tiny window still gets used.
        return b.remaining - min(self.reserve, max(b.limit // 10, 0))

    def acquire(self, resource: str, prefer: str | None, on_wait: Any) -> _Token:
        """A token with budget for one request of ``resource``. Blocks while every token is
        spent or paused (bounded by ``max_wait_s``); ``on_wait(seconds, why)`` gets the time
        actually spent blocked on limits."""
        waited = 0.0
        why = ""
        with self._cond:
            while True:
                now = time.time()
                alive = [t for t in self.tokens if t.alive]
                if not alive:
                    raise FatalSourceError("no usable GitHub token left (all were rejected with 401)")
                ready = [t for t in alive if t.paused_until <= now and t.in_flight < self.per_token
                         and self._spendable(t, resource, now) > 0]
                if ready:
                    best = max(ready, key=lambda t: (t.fp == prefer, self._spendable(t, resource, now), -t.index))
                    best.in_flight += 1
                    b = best.budgets[resource]
                    if b.remaining >= 0 and now < b.reset_at:
                        b.remaining -= 1  # optimistic: concurrent workers must not overshoot
                    if waited:
                        on_wait(waited, why)
                    return best
                busy = [t for t in alive if t.in_flight >= self.per_token]
                if busy and len(busy) == len(alive):
                    self._cond.wait(timeout=1.0)  # a concurrency slot, not a rate-limit wait
                    continue
                waits = []
                for t in alive:
                    w = max(t.paused_until - now, 0.0)
                    if self._spendable(t, resource, now) <= 0:
                        w = max(w, t.budgets[resource].reset_at - now)
                    waits.append(w)
                wait = max(min(waits), 0.05)
                if wait > self.max_wait_s:
                    raise RateLimitWaitTooLong(wait, self.max_wait_s, resource)
                if not why:
                    spent = all(self._spendable(t, resource, now) <= 0 for t in alive)
                    why = f"{resource} budget of every token spent" if spent else "tokens paused by secondary limits"
                    if wait >= 5:
                        log.info("waiting up to %.0fs: %s", wait, why)
                t0 = time.monotonic()
                self._cond.wait(timeout=wait)
                waited += time.monotonic() - t0

    def release(self, t: _Token, resource: str, headers: dict[str, str] | None) -> None:
        with self._cond:
            t.in_flight -= 1
            if headers:
                _update_budget(t, headers, resource)
            self._cond.notify_all()

    def pause(self, t: _Token, seconds: float) -> None:
        with self._cond:
            t.paused_until = max(t.paused_until, time.time() + seconds)

    def exhaust(self, t: _Token, resource: str, reset_at: float) -> None:
        with self._cond:
            b = t.budgets[resource]
            b.remaining, b.reset_at = 0, max(reset_at, time.time() + 1)

    def kill(self, t: _Token) -> None:
        with self._cond:
            t.alive = False
            self._cond.notify_all()


def _update_budget(t: _Token, headers: dict[str, str], default_resource: str) -> None:
    try:
        remaining = int(float(headers["x-ratelimit-remaining"]))
        limit = int(float(headers.get("x-ratelimit-limit", -1)))
        reset = float(headers.get("x-ratelimit-reset", 0))
    except (KeyError, ValueError):
        return
    b = t.budgets.get(headers.get("x-ratelimit-resource", default_resource))
    if b is None:
        return
    if reset > b.reset_at + 0.5 or b.remaining < 0:
        b.remaining, b.reset_at = remaining, reset  # a new window
    else:
        b.remaining = min(b.remaining, remaining)  # same window: answers may arrive out of order
    b.limit = limit


class GitHubClient:
    """JSON over GitHub's REST and GraphQL APIs with a shared token pool and bounded waits."""

    def __init__(self, config: CrawlConfig, tokens: list[str]):
        self.config = config
        self.api_url = config.api_url
        self.pool = TokenPool(tokens, reserve=config.rate_limit_reserve,
                              per_token_concurrency=config.per_token_concurrency,
                              max_wait_s=config.max_rate_limit_wait_s)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.total = Counter()
        self._rng = random.Random(0)

    # -- accounting ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter]:
        """Account requests and waits of the current thread to a fresh counter."""
        prev = getattr(self._local, "counter", None)
        c = Counter()
        self._local.counter = c
        try:
            yield c
        finally:
            self._local.counter = prev

    def _count(self, kind: str) -> None:
        for c in (getattr(self._local, "counter", None), self.total):
            if c is not None:
                with self._lock:
                    c.requests += 1
                    c.by_kind[kind] = c.by_kind.get(kind, 0) + 1

    def _wait(self, seconds: float, why: str) -> None:
        log.debug("waited %.2fs: %s", seconds, why)
        for c in (getattr(self._local, "counter", None), self.total):
            if c is not None:
                with self._lock:
                    c.wait_s += seconds

    def _sleep(self, seconds: float, why: str) -> None:
        self._wait(seconds, why)
        time.sleep(seconds)

    # -- PyGithub plumbing ---------------------------------------------------------------------
    def _requester(self, t: _Token) -> Requester:
        # PyGithub's connection object is not safe to share between threads: one per thread.
        cache = getattr(self._local, "requesters", None)
        if cache is None:
            cache = self._local.requesters = {}
        if t.fp not in cache:
            gh = github.Github(
                auth=Auth.Token(t.value) if t.value else None,
                base_url=self.api_url,
                timeout=max(1, round(self.config.timeout_s)),  # PyGithub asserts an int
                user_agent=USER_AGENT,
                per_page=self.config.per_page,
                retry=None,  # one retry policy, in _request
                seconds_between_requests=self.config.min_request_interval_s or None,
                seconds_between_writes=None,
            )
            cache[t.fp] = gh.requester
        return cache[t.fp]

    def _backoff(self, attempt: int) -> float:
        base = self.config.backoff_base_s * (2 ** attempt)
        return min(self.config.backoff_max_s, base) * (0.5 + self._rng.random() / 2)

    def _request(self, verb: str, url: str, *, params: dict[str, Any] | None = None,
                 body: Any = None, resource: str = "core", expect: type | None = None,
                 etag: str | None = None, prefer: str | None = None, kind: str = "") -> Response:
        cfg = self.config
        attempt = 0
        limited = 0
        last = ""
        while attempt < cfg.max_attempts and limited < cfg.max_attempts * 4:
            t = self.pool.acquire(resource, prefer, self._wait)
            headers: dict[str, str] | None = None
            try:
                req_headers = {"Accept": "application/vnd.github+json"}
                if etag:
                    req_headers["If-None-Match"] = etag
                self._count(kind or url)
                status, headers, raw = self._requester(t).requestJson(
                    verb, url, params, req_headers, body)
                headers = {k.lower(): v for k, v in (headers or {}).items()}
            except (requests.RequestException, http.client.HTTPException, OSError) as exc:
                self.pool.release(t, resource, None)
                attempt += 1
                last = f"{type(exc).__name__}"
                if attempt < cfg.max_attempts:
                    self._sleep(self._backoff(attempt - 1), f"{verb} {_short(url)}: {last}, retrying")
                continue
            self.pool.release(t, resource, headers)

            if status == 304:
                return Response(304, headers, None, t.fp)
            data: Any = None
            if raw:
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = _Truncated
            if status < 400:
                if data is _Truncated or (expect is not None and not isinstance(data, expect)):
                    attempt += 1
                    last = "truncated or malformed body"
                    if attempt < cfg.max_attempts:
                        self._sleep(self._backoff(attempt - 1), f"{verb} {_short(url)}: {last}, retrying")
                    continue
                return Response(status, headers, data, t.fp)

            message = (data.get("message") if isinstance(data, dict) else "") or ""
            if status == 401:
                self.pool.kill(t)
                if not any(x.alive for x in self.pool.tokens):
                    who = "GITHUB_TOKEN" if len(self.pool.tokens) == 1 else "every token in GITHUB_TOKENS"
                    raise FatalSourceError(f"GitHub rejected {who} (401 {message or 'Bad credentials'})")
                log.warning("GitHub rejected %s with 401 (%s); crawling with the other tokens", t.label(), message)
                continue
            retry_after = headers.get("retry-after")
            if status in (403, 429) and (retry_after or Requester.isRateLimitError(message)):
                limited += 1
                if Requester.isPrimaryRateLimitError(message) and not retry_after:
                    reset = float(headers.get("x-ratelimit-reset", time.time() + 60))
                    log.warning("%s hit the primary %s limit; resets in %.0fs", t.label(), resource,
                                reset - time.time())
                    self.pool.exhaust(t, resource, reset)
                    continue
                wait = float(retry_after) if retry_after and retry_after.isdigit() else 60.0
                if wait > cfg.max_rate_limit_wait_s:
                    raise RateLimitWaitTooLong(wait, cfg.max_rate_limit_wait_s, resource)
                log.info("secondary rate limit: pausing %s for %.0fs (%s %s)", t.label(), wait, verb, _short(url))
                self.pool.pause(t, wait)  # the next acquire waits (and accounts) for the pause
                continue
            if status >= 500:
                attempt += 1
                last = f"HTTP {status}"
                if attempt < cfg.max_attempts:
                    self._sleep(self._backoff(attempt - 1), f"{verb} {_short(url)}: {last}, retrying")
                continue
            if status == 404:
                raise NotFound(f"{verb} {_short(url)}: 404 {message or 'Not Found'}")
            exc = Requester.createException(status, headers, data if isinstance(data, dict) else {})
            raise RequestRejected(status, message or str(exc))
        raise RetryableError(f"{verb} {_short(url)}: {last or 'rate limited'} after {attempt} attempts")

    # -- public API ----------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, *, expect: type | None = dict,
            etag: str | None = None, prefer: str | None = None, kind: str = "") -> Response:
        return self._request("GET", self._url(path), params=params, expect=expect, etag=etag,
                             prefer=prefer, kind=kind or path)

    def paginate(self, path: str, params: dict[str, Any] | None = None, *, resource: str = "core",
                 items_key: str | None = None, kind: str = "") -> Iterator[list[dict[str, Any]]]:
        """Pages of a list endpoint, following ``Link: rel="next"`` verbatim (cursor pagination)."""
        url: str | None = self._url(path)
        p: dict[str, Any] | None = {"per_page": self.config.per_page, **(params or {})}
        while url:
            resp = self._request("GET", url, params=p, resource=resource,
                                 expect=dict if items_key else list, kind=kind or path)
            items = resp.data[items_key] if items_key else resp.data
            if not isinstance(items, list):
                raise RetryableError(f"GET {_short(url)}: expected a list of items")
            yield items
            url, p = _next_link(resp.headers), None

    def graphql(self, query: str, variables: dict[str, Any], kind: str = "graphql") -> dict[str, Any]:
        """Data of a GraphQL query; errors other than NOT_FOUND raise."""
        resp = self._request("POST", self._graphql_url(), body={"query": query, "variables": variables},
                             resource="graphql", expect=dict, kind=kind)
        errors = [e for e in resp.data.get("errors") or [] if e.get("type") != "NOT_FOUND"]
        if errors:
            raise RequestRejected(400, "GraphQL: " + "; ".join(str(e.get("message")) for e in errors[:3]))
        return resp.data.get("data") or {}

    def check_tokens(self) -> None:
        """Learn every token's budgets (``/rate_limit`` is free) and drop rejected tokens."""
        for t in self.pool.tokens:
            try:
                status, headers, raw = self._requester(t).requestJson("GET", self._url("/rate_limit"))
            except (requests.RequestException, http.client.HTTPException, OSError) as exc:
                raise RetryableError(f"cannot reach the GitHub API at {self.api_url}: {type(exc).__name__}") from None
            if status == 401:
                self.pool.kill(t)
                continue
            if status != 200:
                continue
            try:
                res = json.loads(raw).get("resources", {})
            except ValueError:
                continue
            with self.pool._cond:
                for name in RESOURCES:
                    r = res.get(name)
                    if r:
                        b = t.budgets[name]
                        b.limit, b.remaining, b.reset_at = int(r["limit"]), int(r["remaining"]), float(r["reset"])
        if not any(t.alive for t in self.pool.tokens):
            who = "GITHUB_TOKEN" if len(self.pool.tokens) == 1 else "every token in GITHUB_TOKENS"
            raise FatalSourceError(f"GitHub rejected {who} (401 Bad credentials)")
        for t in self.pool.tokens:
            if not t.alive:
                log.warning("GitHub rejected %s with 401; crawling with the other tokens", t.label())

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.api_url + path

    def _graphql_url(self) -> str:
        # Same rule as PyGithub: https://host/api/v3 -> https://host/api/graphql.
        o = urlparse(self.api_url)
        return urlunparse(o._replace(path=Requester.get_graphql_prefix(o.path)))


_Truncated = object()  # sentinel: a 2xx body that is not complete JSON


def _next_link(headers: dict[str, str]) -> str | None:
    for link in parse_header_links(headers.get("link", "")):
        if link.get("rel") == "next":
            return link["url"]
    return None


def _short(url: str) -> str:
    return url.split("?", 1)[0].split("://", 1)[-1].split("/", 1)[-1][:120]


__all__ = ["GitHubClient", "NotFound", "RequestRejected", "Response", "TokenPool",
           "fingerprint"]
