"""Closing keywords: every GitHub form links, decoys do not, the default-branch rule holds."""

import pytest

from ingest.links import find_links, strip_code

REPO = "acme/widgets"


@pytest.mark.parametrize("text,closes", [
    ("Fixes #12", ["acme__widgets-12"]),
    ("this closes acme/widgets#3 for good", ["acme__widgets-3"]),
    ("Resolves https://github.com/acme/widgets/issues/5", ["acme__widgets-5"]),
    ("Closes: #7", ["acme__widgets-7"]),
    ("FIXED #8", ["acme__widgets-8"]),
    ("close #1\nresolved #2\nfix #3", ["acme__widgets-1", "acme__widgets-2", "acme__widgets-3"]),
    ("fixes other-org/lib.py#44", ["other-org__lib.py-44"]),
    ("Fixes ACME/Widgets#9", ["acme__widgets-9"]),  # owner/repo are case-insensitive on GitHub
])
def test_closing_forms(text, closes):
    assert list(find_links([text], REPO, 100).closes) == closes


@pytest.mark.parametrize("text,mentions", [
    ("see #4", ["acme__widgets-4"]),
    ("prefixes #3 and unfixes #5", ["acme__widgets-3", "acme__widgets-5"]),
    ("Fixes bug #12", ["acme__widgets-12"]),
    ("Fixes #12, #13", ["acme__widgets-13"]),
    ("related https://github.com/o/r/pull/3", ["o__r-3"]),
    ("```\nFixes #9\n```", []),
    ("use `fixes #10` here", []),
    ("<!-- Fixes #99 -->", []),
    ("html &#39; and http://x.com/page#7 and Fixes#6", []),
])
def test_decoys_never_close(text, mentions):
    links = find_links([text], REPO, 100)
    assert "acme__widgets-9" not in links.closes and "acme__widgets-10" not in links.closes
    assert list(links.mentions) == mentions
    if text != "Fixes #12, #13":
        assert links.closes == ()


def test_default_branch_rule_turns_closes_into_mentions():
    links = find_links(["Fixes #12"], REPO, 100, base_is_default=False)
    assert links.closes == () and links.mentions == ("acme__widgets-12",)


def test_commit_messages_and_self_reference():
    links = find_links(["Title (#100)", None, "Refactor\n\nFixes #31\n\nSigned-off-by: A <a@x.org>"], REPO, 100)
    assert links.closes == ("acme__widgets-31",)
    assert links.mentions == ()  # the PR's own number is not a reference


def test_strip_code_keeps_prose():
    assert "Fixes #1" in strip_code("Fixes #1\n```py\nx = '#2'\n```\ntail")
    assert "#2" not in strip_code("Fixes #1\n```py\nx = '#2'\n```\ntail")
