"""Error types that tell the runner what to do.

- ``ConfigError``: bad configuration or input, raised before any work starts; the CLI prints
  one line naming the input and exits non-zero.
- ``RetryableError``: the work may succeed later (network, 5xx, rate limits); flows retry it.
- ``FatalSourceError``: the source refuses us for good (bad token); stop the whole run.
- ``RepoFailed``: one repository could not be crawled; recorded with its reason, the crawl goes on.

Per-record problems never raise: they become rows of the ``rejects`` table.
"""

from __future__ import annotations


class SweCurateError(Exception):
    """Base of the project's errors; ``str()`` is a one-line, user-facing reason."""


class ConfigError(SweCurateError):
    """Invalid configuration or input, detected before any work."""


class RetryableError(SweCurateError):
    """Transient failure: network, server error, rate limit."""


class RateLimitWaitTooLong(RetryableError):
    """Every token is exhausted and the next reset is further away than the configured cap."""

    def __init__(self, wait_s: float, cap_s: float, resource: str):
        super().__init__(
            f"rate limit ({resource}) resets in {wait_s:.0f}s, more than max_rate_limit_wait_s={cap_s:.0f}s"
        )
        self.wait_s = wait_s
        self.cap_s = cap_s
        self.resource = resource


class FatalSourceError(SweCurateError):
    """The source rejects the crawl as a whole (for example every token got 401)."""


class RepoFailed(SweCurateError):
    """A repository could not be crawled; ``reason`` is a short machine-readable tag."""

    def __init__(self, repo: str, reason: str, detail: str = ""):
        super().__init__(f"{repo}: {reason}" + (f" ({detail})" if detail else ""))
        self.repo = repo
        self.reason = reason
        self.detail = detail
