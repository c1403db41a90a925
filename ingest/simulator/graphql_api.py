"""GraphQL subset of GitHub's API v4 for the simulator: schema (SDL) and execution over a ``World``.

Reads the world; returns the response dict (``data`` and/or ``errors``) that the server sends with HTTP 200,
as GitHub does. The one idea: the SDL uses GitHub's own type and field names, so a query valid here is valid
on GitHub; graphql-core does parsing, validation, aliases and fragments, and the resolvers are plain dicts
(callables for fields with arguments, ``__typename`` for the ``Actor`` interface).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from graphql import GraphQLError, build_schema, graphql_sync

from ingest.simulator.world import Issue, World

SDL = """
scalar DateTime
scalar GitObjectID
scalar URI
scalar BigInt

type Query {
  repository(owner: String!, name: String!): Repository
  rateLimit: RateLimit
}

type RateLimit { cost: Int! limit: Int! remaining: Int! resetAt: DateTime! used: Int! }

type Repository {
  nameWithOwner: String!
  pullRequest(number: Int!): PullRequest
}

type PageInfo { hasNextPage: Boolean! endCursor: String hasPreviousPage: Boolean! startCursor: String }

interface Actor { login: String! }
type User implements Actor { login: String! }
type Bot implements Actor { login: String! }

type PullRequest {
  number: Int!
  commits(first: Int, after: String): PullRequestCommitConnection!
  reviews(first: Int, after: String): PullRequestReviewConnection
  closingIssuesReferences(first: Int, after: String): IssueConnection
}

type PullRequestCommitConnection { totalCount: Int! pageInfo: PageInfo! nodes: [PullRequestCommit] }
type PullRequestCommit { commit: Commit! }
type Commit {
  oid: GitObjectID!
  message: String!
  authoredDate: DateTime!
  committedDate: DateTime!
  author: GitActor
  committer: GitActor
}
type GitActor { name: String email: String date: DateTime user: User }

type PullRequestReviewConnection { totalCount: Int! pageInfo: PageInfo! nodes: [PullRequestReview] }
type PullRequestReview {
  databaseId: Int
  fullDatabaseId: BigInt
  body: String!
  state: PullRequestReviewState!
  submittedAt: DateTime
  author: Actor
}
enum PullRequestReviewState { PENDING COMMENTED APPROVED CHANGES_REQUESTED DISMISSED }

type IssueConnection { totalCount: Int! pageInfo: PageInfo! nodes: [Issue] }
type Issue { number: Int! title: String! url: URI! repository: Repository! }
"""

SCHEMA = build_schema(SDL)
MAX_FIRST = 100
# GitHub rejects these before execution and returns no data at all.
_STATIC_ERRORS = {"MISSING_PAGINATION_BOUNDARIES", "EXCESSIVE_PAGINATION"}


class GitHubGraphQLError(Exception):
    """A resolver error carrying GitHub's top-level error ``type`` (NOT_FOUND, ...)."""

    def __init__(self, message: str, type_: str):
        super().__init__(message)
        self.type = type_


def _iso(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt is not None else None


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _cursor_index(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, idx = text.rpartition(":")
        if prefix != "cursor:v2":
            raise ValueError(text)
        return int(idx)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GitHubGraphQLError(
            f"`{cursor}` does not appear to be a valid cursor.", "INVALID_CURSOR_ARGUMENTS"
        ) from exc


def _connection(name: str, rows: list, render, first: int | None, after: str | None) -> dict:
    if first is None:
        raise GitHubGraphQLError(
            f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.",
            "MISSING_PAGINATION_BOUNDARIES",
        )
    if first > MAX_FIRST:
        raise GitHubGraphQLError(
            f"Requesting {first} records on the `{name}` connection exceeds the `first` limit of "
            f"{MAX_FIRST} records.",
            "EXCESSIVE_PAGINATION",
        )
    if first < 0:
        raise GitHubGraphQLError(
            f"`first` on the `{name}` connection cannot be less than zero.", "INVALID_ARGUMENTS"
        )
    start = _cursor_index(after) + 1 if after else 0
    chunk = rows[start : start + first]
    end = start + len(chunk)
    return {
        "totalCount": len(rows),
        "pageInfo": {
            "hasNextPage": end < len(rows),
            "endCursor": _cursor(end - 1) if chunk else None,
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(start) if chunk else None,
        },
        "nodes": [render(r) for r in chunk],
    }


class _Resolver:
    def __init__(self, world: World):
        self.world = world

    def actor(self, login: str | None) -> dict | None:
        if login is None or login == "ghost":
            return None  # deleted users resolve to null in GraphQL
        user = self.world.users[login]
        if user.type == "Bot":
            return {
                "__typename": "Bot",
                "login": login.removesuffix("[bot]"),
            }  # GraphQL drops the [bot] suffix
        return {"__typename": "User", "login": login}

    def git_user(self, login: str | None) -> dict | None:
        actor = self.actor(login)
        return (
            actor if actor and actor["__typename"] == "User" else None
        )  # GitActor.user is a User, never a Bot

    def repository(self, _info, owner: str, name: str) -> dict:
        full = f"{owner}/{name}"
        repo = self.world.repos.get(full) or next(
            (r for r in self.world.repos.values() if r.full_name.lower() == full.lower()), None
        )
        if repo is None:
            raise GitHubGraphQLError(
                f"Could not resolve to a Repository with the name '{full}'.", "NOT_FOUND"
            )
        return self.repo_dict(repo.full_name)

    def repo_dict(self, full: str) -> dict:
        return {"nameWithOwner": full, "pullRequest": lambda info, number: self.pull_request(full, number)}

    def pull_request(self, full: str, number: int) -> dict:
        item = self.world.repos[full].issues.get(number)
        if item is None or item.pull is None:
            raise GitHubGraphQLError(
                f"Could not resolve to a PullRequest with the number of {number}.", "NOT_FOUND"
            )
        pull = item.pull

        def commit(c) -> dict:
            return {
                "commit": {
                    "oid": c.sha,
                    "message": c.message,
                    "authoredDate": _iso(c.author_date),
                    "committedDate": _iso(c.committer_date),
                    "author": {
                        "name": c.author_name,
                        "email": c.author_email,
                        "date": _iso(c.author_date),
                        "user": self.git_user(c.author_login),
                    },
                    "committer": {
                        "name": c.committer_name,
                        "email": c.committer_email,
                        "date": _iso(c.committer_date),
                        "user": self.git_user(c.committer_login),
                    },
                }
            }

        def review(r) -> dict:
            return {
                # Int is 32-bit: ids past 2**31 fail as on GitHub, which added fullDatabaseId
                # (BigInt, serialized as a string) for them.
                "databaseId": r.id,
                "fullDatabaseId": str(r.id),
                "body": r.body,
                "state": r.state,
                "submittedAt": _iso(r.submitted_at),
                "author": self.actor(r.user),
            }

        def issue(rid: str) -> dict:
            it: Issue | None = self.world.find_record(rid)
            assert it is not None
            return {
                "number": it.number,
                "title": it.title,
                "url": f"https://github.com/{it.repo}/issues/{it.number}",
                "repository": self.repo_dict(it.repo),
            }

        closing = sorted(pull.closes, key=lambda rid: (rid.rpartition("-")[0], int(rid.rpartition("-")[2])))
        return {
            "number": item.number,
            "commits": lambda info, first=None, after=None: _connection(
                "commits", pull.commits, commit, first, after
            ),
            "reviews": lambda info, first=None, after=None: _connection(
                "reviews", pull.reviews, review, first, after
            ),
            "closingIssuesReferences": lambda info, first=None, after=None: _connection(
                "closingIssuesReferences", closing, issue, first, after
            ),
        }


def _format_error(err: GraphQLError) -> dict:
    out: dict[str, Any] = dict(err.formatted)
    original = err.original_error
    if isinstance(original, GitHubGraphQLError):
        out = {"type": original.type, **out}
        out.pop("extensions", None)
    return out


def execute(
    world: World, query: str, variables: dict | None, *, rate: dict, operation_name: str | None = None
) -> dict:
    """Run ``query``; return GitHub's response body (errors included, never raised)."""
    rate = {
        **rate,
        "resetAt": _iso(rate["resetAt"])
        if isinstance(rate.get("resetAt"), datetime)
        else rate.get("resetAt"),
    }
    resolver = _Resolver(world)
    root = {"repository": resolver.repository, "rateLimit": rate}
    result = graphql_sync(
        SCHEMA, query, root_value=root, variable_values=variables or {}, operation_name=operation_name
    )
    body: dict[str, Any] = {}
    if result.errors:
        errors = [_format_error(e) for e in result.errors]
        if any(e.get("type") in _STATIC_ERRORS for e in errors):
            return {"errors": [e for e in errors if e.get("type") in _STATIC_ERRORS]}
        body["errors"] = errors
    if result.data is not None or not result.errors:
        body = {"data": result.data, **body}
    return body
