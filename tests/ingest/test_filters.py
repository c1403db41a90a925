"""Bot, repository and test-path rules."""

import pytest

from ingest.filters import is_bot, is_test_path, repo_skip_reason


@pytest.mark.parametrize("login,typ,bot", [
    ("dependabot[bot]", "Bot", True), ("renovate-bot", "Bot", True), ("codecov-io", "User", True),
    ("k8s-ci-robot", "User", True), ("CLAassistant", "User", True), ("bors-ng", "User", True),
    ("alice", "User", False), ("ghost", "User", False), (None, None, False), ("octo", "Bot", True),
])
def test_bots(login, typ, bot):
    assert is_bot(login, typ) is bot


def test_extra_bot_logins():
    assert is_bot("our-release-helper", "User", extra=["Our-Release-Helper"])


def _repo(**kw):
    base = {"fork": False, "archived": False, "stargazers_count": 10, "license": {"spdx_id": "MIT"}}
    base.update(kw)
    return base


@pytest.mark.parametrize("repo,reason", [
    (_repo(), None),
    (_repo(fork=True), "fork"),
    (_repo(archived=True), "archived"),
    (_repo(stargazers_count=4), "stars_below_min"),
    (_repo(license=None), "license_missing"),
    (_repo(license={"spdx_id": "NOASSERTION"}), "license_unknown"),
    (_repo(license={"spdx_id": "GPL-3.0"}), "license_not_allowed"),
    (_repo(license={"spdx_id": "apache-2.0"}), None),
])
def test_repo_filters(repo, reason):
    assert repo_skip_reason(repo, min_stars=5, licenses=["MIT", "Apache-2.0"], include_forks=False,
                            include_archived=False) == reason


def test_repo_filters_can_be_opened():
    repo = _repo(fork=True, archived=True, license={"spdx_id": "GPL-3.0"})
    assert repo_skip_reason(repo, min_stars=0, licenses=["*"], include_forks=True, include_archived=True) is None


@pytest.mark.parametrize("path,test", [
    ("tests/test_core.py", True), ("src/pkg/tests/helpers.py", True), ("test_x.py", True),
    ("pkg/core_test.py", True), ("conftest.py", True), ("web/x.spec.ts", True), ("FooTest.java", True),
    ("src/attestation.py", False), ("contest/x.py", False), ("latest.py", False), ("src/testutils.py", False),
    ("docs/testimony.md", False), ("Contest.java", False),
])
def test_test_paths(path, test):
    assert is_test_path(path) is test
