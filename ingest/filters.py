"""Record and repository filters of the crawl: bots, stars, licences, forks, archives; test paths.

Pure: decides from already-fetched JSON fields. The one idea: every skip returns a short
reason string, so the crawl can count drops by reason for the data card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# BigCode's bot heuristics (STACK.md): substrings of logins, plus known bot accounts that are
# registered as ordinary users.
_BOT_SUBSTRINGS = ("[bot]", "bors-", "jenkins", "travis", "k8s-")
KNOWN_BOTS = frozenset(s.lower() for s in (
    "codecov-io", "codecov-commenter", "coveralls", "probot-stale", "stale", "CLAassistant",
    "googlebot", "google-cla", "dependabot", "dependabot-preview", "renovate", "greenkeeperio-bot",
    "pyup-bot", "mergify", "allcontributors", "welcome", "msftclas", "claassistantio", "netlify",
    "vercel", "sonarcloud", "lgtm-com", "deepsource-autofix", "pre-commit-ci", "imgbot",
    "azure-pipelines", "github-actions", "gitter-badger", "bors", "homu", "rust-highfive",
    "rustbot", "rust-timer", "openshift-ci-robot", "openshift-merge-robot", "k8s-ci-robot",
    "kubernetes-bot", "tensorflow-copybara", "copybara-service", "facebook-github-bot",
))


def is_bot(login: str | None, user_type: str | None = None, extra: Iterable[str] = ()) -> bool:
    """True for GitHub Apps (type Bot), ``[bot]``-style logins and known bot accounts."""
    if user_type == "Bot":
        return True
    if not login:
        return False
    low = login.lower()
    if any(s in low for s in _BOT_SUBSTRINGS):
        return True
    return low in KNOWN_BOTS or low in {e.lower() for e in extra}


def repo_skip_reason(repo: dict[str, Any], *, min_stars: int, licenses: Iterable[str],
                     include_forks: bool, include_archived: bool) -> str | None:
    """Why a repository is not crawled (None: crawl it). ``repo`` is GitHub's repository JSON."""
    if repo.get("fork") and not include_forks:
        return "fork"
    if repo.get("archived") and not include_archived:
        return "archived"
    if (repo.get("stargazers_count") or 0) < min_stars:
        return "stars_below_min"
    spdx = ((repo.get("license") or {}).get("spdx_id") or "").strip()
    allowed = {x.lower() for x in licenses}
    if "*" in allowed:
        return None
    if not spdx or spdx == "NOASSERTION":
        return "license_unknown" if spdx else "license_missing"
    if spdx.lower() not in allowed:
        return "license_not_allowed"
    return None


# Test-path rule v1: a path is a test when a directory is a test directory or the file name
# follows a test-runner convention. Matching whole components keeps ``attestation.py``,
# ``contest/``, ``latest.py`` out.
TEST_RULE = "path_rules_v1"
_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "testcases", "unittests"})
_TEST_FILE = re.compile(
    r"^(test_.+|.+_tests?|tests?|conftest|.+\.(test|spec))\.[A-Za-z0-9]+$"
    r"|^(Test[A-Z]\w*|\w+[a-z0-9]Tests?)\.(java|kt|scala|cs|swift|php|groovy)$"
)


def is_test_path(path: str) -> bool:
    parts = path.split("/")
    if any(p.lower() in _TEST_DIRS for p in parts[:-1]):
        return True
    return bool(_TEST_FILE.match(parts[-1]))
