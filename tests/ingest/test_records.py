"""GitHub JSON -> rows: REST and GraphQL shapes, GitHub's quirks, rejects instead of crashes."""

from datetime import UTC, datetime

import pytest

from ingest.links import Links
from ingest.records import (
    BadRecord,
    commit_row,
    file_row,
    is_pull_item,
    issue_comment_row,
    issue_row,
    pull_row,
    review_comment_row,
    review_row,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)
REPO = "acme/widgets"


def test_issue_row_and_pull_request_quirk():
    js = {"number": 3, "title": "t", "body": None, "state": "closed", "state_reason": "not_planned",
          "user": {"login": "alice", "type": "User"}, "labels": [{"name": "bug"}], "comments": 2,
          "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T03:04:05Z",
          "closed_at": "2024-01-02T03:04:05Z",
          "pull_request": {"url": None, "html_url": None, "diff_url": None, "patch_url": None}}
    row = issue_row(REPO, js, NOW)
    assert row["id"] == "acme__widgets-3" and row["labels"] == ["bug"] and row["body"] is None
    assert row["is_pull_request"] is False  # a pull_request object full of nulls is a plain issue
    assert row["updated_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert is_pull_item({"pull_request": {"html_url": "https://github.com/acme/widgets/pull/4"}})


def test_deleted_user_is_ghost():
    js = {"number": 1, "user": None, "updated_at": "2024-01-01T00:00:00Z"}
    assert issue_row(REPO, js, NOW)["author"] == "ghost"


@pytest.mark.parametrize("js,reason", [
    ({"updated_at": "2024-01-01T00:00:00Z"}, "missing_number"),
    ({"number": "7", "updated_at": "2024-01-01T00:00:00Z"}, "missing_number"),
    ({"number": 7, "updated_at": "yesterday"}, "bad_updated_at"),
    ({"number": 7}, "missing_updated_at"),
])
def test_malformed_issue_is_a_reject(js, reason):
    with pytest.raises(BadRecord) as e:
        issue_row(REPO, js, NOW)
    assert e.value.reason == reason


def test_pull_row_list_json_has_no_merged_field():
    js = {"number": 9, "state": "closed", "merged_at": "2024-02-01T00:00:00Z", "merge_commit_sha": "m" * 40,
          "base": {"ref": "main", "sha": "b" * 40}, "head": {"ref": "fix", "sha": "h" * 40, "repo": None},
          "user": {"login": "bob", "type": "User"}, "updated_at": "2024-02-01T00:00:00Z"}
    row = pull_row(REPO, js, "main", Links(("acme__widgets-3",), ("acme__widgets-4",)), NOW)
    assert row["merged"] is True and row["base_is_default"] is True and row["head_repo"] is None
    assert row["linked_issues"] == ["acme__widgets-3"] and row["mentioned_issues"] == ["acme__widgets-4"]
    js["merged_at"] = None
    assert pull_row(REPO, js, "master", Links((), ()), NOW)["merged"] is False


def test_comment_rows_take_number_from_urls():
    ic = issue_comment_row(REPO, {"id": 11, "issue_url": "https://api/repos/acme/widgets/issues/5",
                                  "user": {"login": "c", "type": "User"}, "body": "hi",
                                  "updated_at": "2024-01-01T00:00:00Z"}, NOW)
    assert (ic["number"], ic["kind"], ic["comment_id"]) == (5, "issue", 11)
    rc = review_comment_row(REPO, {"id": 12, "pull_request_url": "https://api/repos/acme/widgets/pulls/6",
                                   "path": "a.py", "diff_hunk": "@@ -1 +1 @@", "position": None,
                                   "original_position": 4, "in_reply_to_id": 10}, NOW)
    assert (rc["number"], rc["kind"], rc["position"], rc["in_reply_to"]) == (6, "review_comment", 4, 10)
    with pytest.raises(BadRecord):
        issue_comment_row(REPO, {"id": 1, "issue_url": None}, NOW)


def test_review_rows_rest_and_graphql():
    rest = review_row(REPO, 6, {"id": 5, "user": {"login": "r", "type": "User"}, "state": "APPROVED",
                                "body": "", "submitted_at": "2024-01-01T00:00:00Z"}, NOW)
    gql = review_row(REPO, 6, {"fullDatabaseId": "5", "author": None, "state": "APPROVED", "body": "",
                               "submittedAt": "2024-01-01T00:00:00Z"}, NOW)
    assert rest["comment_id"] == gql["comment_id"] == 5 and gql["author"] == "ghost"
    assert rest["created_at"] == gql["created_at"]
    assert review_row(REPO, 6, {"databaseId": 1, "author": {"login": "x[bot]", "__typename": "Bot"},
                                "submittedAt": None}, NOW)["author_type"] == "Bot"


def test_file_rows():
    text = file_row(REPO, 6, "h" * 40, {"filename": "tests/test_a.py", "status": "modified", "additions": 1,
                                         "deletions": 0, "changes": 1, "patch": "@@ -1 +1,2 @@\n x\n+y",
                                         "sha": "s" * 40}, NOW)
    assert text["is_test"] and not text["is_binary"] and text["head_blob_sha"] == "s" * 40
    binary = file_row(REPO, 6, None, {"filename": "docs/logo.png", "status": "added", "changes": 0,
                                      "sha": "b" * 40}, NOW)
    assert binary["is_binary"] and binary["patch"] is None
    renamed = file_row(REPO, 6, None, {"filename": "b.py", "previous_filename": "a.py", "status": "renamed",
                                       "changes": 0}, NOW)
    assert not renamed["is_binary"] and renamed["previous_path"] == "a.py"
    huge = file_row(REPO, 6, None, {"filename": "big.py", "status": "modified", "changes": 90000}, NOW)
    assert not huge["is_binary"] and huge["patch"] is None


def test_commit_rows_rest_and_graphql():
    rest = commit_row(REPO, 6, 0, {"sha": "a" * 40, "author": {"login": "al"}, "commit": {
        "message": "m", "author": {"name": "Al", "email": "al@x.org", "date": "2024-01-01T00:00:00Z"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "date": "2024-01-01T00:00:01Z"}}}, NOW)
    gql = commit_row(REPO, 6, 0, {"commit": {"oid": "a" * 40, "message": "m", "authoredDate": "2024-01-01T00:00:00Z",
                                             "committedDate": "2024-01-01T00:00:01Z",
                                             "author": {"name": "Al", "email": "al@x.org", "user": {"login": "al"}},
                                             "committer": {"name": "GitHub", "email": "noreply@github.com"}}}, NOW)
    assert rest == gql
    with pytest.raises(BadRecord):
        commit_row(REPO, 6, 0, {"commit": {}}, NOW)


def test_record_number_inverts_record_id():
    from ingest.schema import record_id, record_number

    for repo, n in (("a/b", 7), ("my-org/my-repo", 123), ("x__y/z-1", 0)):
        assert record_number(record_id(repo, n)) == n
    assert [record_number(x) for x in ("a__b", "a__b-", "a__b-x1", "a__b-+1")] == [None, None, None, None]
