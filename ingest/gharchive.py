"""GH Archive events -> raw table rows (issues, pulls, comments, rejects).

Pure: no I/O, no clock. ``gharchive_source.py`` streams the hour files and writes the rows.
The one idea: an event's payload objects have the REST shapes, so the API crawl's row functions
(``records.py``) map them; this module only finds the objects in the three event formats GH
Archive has used, marks what a format could not supply, and applies the crawl's record filters.

Formats (by shape, never by date, so a mis-dated file still maps right):

- **2015 onwards (Events API).** ``repo.name`` is ``owner/name``, ``actor`` an object, payloads carry
  full REST objects (an issue with every field, a pull request with ``base.repo.default_branch``).
- **2011-02..2014-12 (Timeline API).** ``repository`` an object with ``owner`` and ``name``, ``actor``
  a login string with ``actor_attributes``; timestamps with a Pacific offset. ``IssuesEvent`` payloads
  hold the issue *id* and ``number`` only (``{"action": "opened", "issue": 8762913, "number": 44}``),
  ``IssueCommentEvent`` payloads ``{"issue_id": ..., "comment_id": ...}`` with the number in the event
  ``url`` (``.../issues/4504#issuecomment-11894342``); late-2014 payloads and ``PullRequestEvent``
  carry full objects. Id-only payloads become *skeleton* rows: the fields the event implies
  (number, state from the action, author and ``created_at`` for ``opened``, ``html_url``), the rest null.
- **2025-10-07 onwards (trimmed).** ``PullRequestEvent`` pull requests keep only ``url``, ``id``,
  ``number`` and ``head``/``base`` ``ref``/``sha``/``repo{id,url,name}``: no title, body, user,
  state, timestamps, labels or merge fields; ``author_association`` is gone from every object. Rows
  keep what is there (``head_sha``, ``base_sha``, refs, ``head_repo`` from the repo URL) with the rest
  null.

Partial rows (any of title, body, state, user, created_at, updated_at missing) have ``partial=True``,
so the API crawl refetches them (``api_source.RepoCrawler(partial=...)``). Rules that keep
"latest state per key wins" safe:

- ``crawled_at`` of a GH Archive row is the event's ``created_at``: the moment the archived payload
  was captured. It orders versions of equal ``updated_at`` and keeps re-runs byte-identical.
- A row whose payload has no ``updated_at`` gets ``updated_at = NULL`` -- never the event time. The
  event is stamped up to seconds after the change it reports, so an invented ``updated_at`` could
  outrank the complete row the API returns for that very change, forever (the enrichment would
  refetch it every crawl and still lose). With NULL, any complete row beats the partial one
  (readers sort NULL last), partial rows order among themselves by event time, and a partial row is
  the latest only while nothing better is known -- exactly the records the API must enrich.
- What a trimmed or id-only payload's event implies is kept: the state from the action
  (``opened``/``reopened`` -> open, ``closed`` -> closed; merged stays unknown), the author and
  ``created_at`` from an ``opened`` event's actor and time (so bot-opened pull requests are still
  dropped), ``closed_at`` from a ``closed`` event's time. These never order versions.
- Review states are upper-cased (``approved`` in events, ``APPROVED`` in the REST and GraphQL APIs).
- ``PullRequestReviewEvent``/``PullRequestReviewCommentEvent`` also yield the pulls and issues rows
  of their embedded pull request when it is complete (a fresher snapshot); a trimmed one adds nothing.
- Linked issues come from the title and body only (GH Archive has no commit messages); unknown
  (null) when both are missing.

Bots are dropped as the API crawl drops them (``filters.is_bot`` on the record's author; comments
on a bot's issue or PR as ``comments:parent_dropped``), counted ``<table>:<reason>``. A malformed
event becomes a ``rejects`` row, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ingest.config import REPO_RE
from ingest.filters import is_bot
from ingest.links import Links, find_links
from ingest.records import (
    BadRecord,
    issue_comment_row,
    issue_row,
    payload,
    pull_row,
    review_comment_row,
    review_row,
    ts,
)
from ingest.schema import TABLES, record_id

SOURCE = "gharchive"
EVENT_TYPES = ("IssuesEvent", "IssueCommentEvent", "PullRequestEvent", "PullRequestReviewEvent",
               "PullRequestReviewCommentEvent")
OUT_TABLES = ("issues", "pulls", "comments", "rejects")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# A payload object missing any of these is partial (trimmed, or an id-only Timeline payload).
_CORE = ("title", "body", "state", "user", "created_at", "updated_at")
_ACTION_STATE = {"opened": "open", "reopened": "open", "closed": "closed"}
_GONE = frozenset({"deleted", "transferred"})  # the record left the repository: not a state to store
_NUMBER_IN_URL = re.compile(r"/(?:issues|pull|pulls)/(\d+)(?:$|[/?#])")
_PLACEHOLDER_TS = "1970-01-01T00:00:00Z"
_NO_LINKS = Links((), ())  # lets records.py map an object without updated_at

Row = dict[str, Any]


class Mapped:
    """Rows of one event per table, and the drops by ``table:reason``."""

    __slots__ = ("rows", "dropped")

    def __init__(self) -> None:
        self.rows: list[tuple[str, Row]] = []
        self.dropped: list[str] = []


# -- raw-line prefilter (bytes, before JSON parsing) ---------------------------------------------------

class LineFilter:
    """Cheap look at a raw hour-file line: its event type and repository, without parsing JSON.

    Events API lines start ``{"id":"...","type":"PushEvent","actor":{...},"repo":{"id":N,"name":"o/r"``,
    so both are read by a few ``find`` calls. Other lines (the Timeline format, odd spacing) fall back
    to a regex for the wanted types and leave the repository to the parsed event.
    """

    def __init__(self, event_types: Iterable[str] = EVENT_TYPES):
        types = tuple(event_types)
        self.wanted = frozenset(t.encode() for t in types)
        self._any = re.compile(rb'"type"\s*:\s*"(' + b"|".join(re.escape(t.encode()) for t in types) + rb')"')

    def classify(self, line: bytes) -> tuple[bytes | None, int | None, bytes | None]:
        """``(event type, repo id, repo name)``; type None means "not a wanted event". Id and name are
        None when the line does not show them cheaply (the parsed event decides then)."""
        i = line.find(b'"type":"', 0, 96) if line.startswith(b'{"id":"') else -1
        if i >= 0:
            j = line.find(b'"', i + 8)
            etype = line[i + 8:j]
            if etype not in self.wanted:
                return None, None, None
            k = line.find(b'"repo":{"id":', j)
            if k < 0:
                return etype, None, None
            k += 13
            comma = line.find(b",", k)
            n = line.find(b'"name":"', comma)
            if comma < 0 or n < 0:
                return etype, None, None
            rid = line[k:comma]
            end = line.find(b'"', n + 8)
            return etype, int(rid) if rid.isdigit() else None, line[n + 8:end]
        m = self._any.search(line)
        return (m.group(1), None, None) if m else (None, None, None)


# -- event fields --------------------------------------------------------------------------------------

def event_repo(ev: dict[str, Any]) -> tuple[str | None, int | None]:
    """``(owner/name, repository id)`` in either format; name None when the event has no usable one."""
    r = ev.get("repo")
    name: Any = None
    rid: Any = None
    if isinstance(r, dict) and isinstance(r.get("name"), str):
        name, rid = r["name"], r.get("id")
    else:
        r = ev.get("repository")
        if isinstance(r, dict):
            owner = r.get("owner")
            owner = owner.get("login") if isinstance(owner, dict) else owner
            name = r.get("full_name") or (f"{owner}/{r.get('name')}" if owner and r.get("name") else None)
            rid = r.get("id")
    if not isinstance(name, str) or not REPO_RE.match(name):
        name = None
    return name, rid if isinstance(rid, int) and not isinstance(rid, bool) else None


def _actor(ev: dict[str, Any]) -> tuple[str | None, str | None]:
    a = ev.get("actor")
    if isinstance(a, dict):
        return a.get("login"), a.get("type")
    if isinstance(a, str):  # Timeline format: login string + actor_attributes
        attrs = ev.get("actor_attributes")
        return a, attrs.get("type") if isinstance(attrs, dict) else None
    return None, None


def _number_from_url(url: Any) -> int | None:
    m = _NUMBER_IN_URL.search(url) if isinstance(url, str) else None
    return int(m.group(1)) if m else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


# -- mapping -------------------------------------------------------------------------------------------

class _Event:
    """One event being mapped: its repository, time, actor, and the output."""

    __slots__ = ("ev", "repo", "at", "action", "actor", "actor_type", "drop_bots", "extra", "out")

    def __init__(self, ev: dict[str, Any], repo: str, at: datetime, drop_bots: bool, extra: frozenset[str]):
        self.ev = ev
        self.repo = repo
        self.at = at
        p = ev.get("payload")
        self.action = p.get("action") if isinstance(p, dict) else None
        self.actor, self.actor_type = _actor(ev)
        self.drop_bots = drop_bots
        self.extra = extra
        self.out = Mapped()

    def bot(self, login: str | None, user_type: str | None) -> bool:
        return self.drop_bots and is_bot(login, user_type, self.extra)

    def emit(self, table: str, row: Row) -> None:
        row["source"] = SOURCE
        row["crawled_at"] = self.at
        self.out.rows.append((table, row))

    def drop(self, key: str) -> None:
        self.out.dropped.append(key)

    def reject(self, table: str, key: Any, reason: str, js: Any) -> None:
        self.out.rows.append(("rejects", {
            "table": table, "repo": self.repo, "key": None if key is None else str(key), "reason": reason,
            "payload": payload(js), "source": SOURCE, "crawled_at": self.at,
        }))
        self.drop(f"{table}:reject_{reason}")

    # -- objects -> rows

    def _complete(self, obj: dict[str, Any]) -> bool:
        return all(k in obj for k in _CORE) and obj.get("updated_at") is not None

    def _fill_partial(self, row: Row, obj: dict[str, Any]) -> None:
        """What a partial object's event implies, and null (unknown) for what it lacks."""
        row["partial"] = True
        if obj.get("updated_at") is None:
            row["updated_at"] = None
        if obj.get("state") is None:
            row["state"] = _ACTION_STATE.get(self.action)
        if "user" not in obj:
            author = self.action == "opened" and self.actor
            row["author"] = self.actor if author else None
            row["author_type"] = self.actor_type if author else None
        if "labels" not in obj:
            row["labels"] = None
        if obj.get("created_at") is None and self.action == "opened":
            row["created_at"] = self.at
        if obj.get("closed_at") is None and "closed_at" not in obj and self.action == "closed":
            row["closed_at"] = self.at

    def issue(self, obj: dict[str, Any]) -> Row:
        complete = self._complete(obj)
        row = issue_row(self.repo, obj if obj.get("updated_at") is not None
                        else {**obj, "updated_at": _PLACEHOLDER_TS}, self.at)
        if complete:
            row["partial"] = False
        else:
            self._fill_partial(row, obj)
        return row

    def pull(self, obj: dict[str, Any]) -> Row:
        complete = self._complete(obj)
        base = obj.get("base") if isinstance(obj.get("base"), dict) else {}
        base_repo = base.get("repo") if isinstance(base.get("repo"), dict) else {}
        repository = self.ev.get("repository") if isinstance(self.ev.get("repository"), dict) else {}
        default_branch = (base_repo.get("default_branch") or base_repo.get("master_branch")
                          or repository.get("master_branch"))
        number = _int(obj.get("number"))
        title, body = obj.get("title"), obj.get("body")
        known_text = "title" in obj or "body" in obj
        if any(isinstance(t, str) and ("#" in t or "github.com/" in t) for t in (title, body)):
            links = find_links([title, body], self.repo, number,
                               base_is_default=base.get("ref") == default_branch if default_branch else False)
        else:  # no reference of any form can be in the text (the common case; find_links is not free)
            links = _NO_LINKS
        row = pull_row(self.repo, obj if obj.get("updated_at") is not None
                       else {**obj, "updated_at": _PLACEHOLDER_TS}, default_branch, links, self.at)
        if row["head_repo"] is None:
            head = obj.get("head") if isinstance(obj.get("head"), dict) else {}
            head_repo = head.get("repo") if isinstance(head.get("repo"), dict) else {}
            url = head_repo.get("url")  # trimmed payloads: {"id", "url", "name"} only
            if isinstance(url, str) and "/repos/" in url:
                row["head_repo"] = url.rsplit("/repos/", 1)[1]
        if complete:
            row["partial"] = False
        else:
            self._fill_partial(row, obj)
            if "merged" not in obj and "merged_at" not in obj:
                row["merged"] = None
            if not known_text:
                row["linked_issues"] = row["mentioned_issues"] = None
        return row

    def issue_of_pull(self, pr: dict[str, Any], prow: Row) -> Row:
        """The issues row of a pull request, as GitHub's /issues listing shows it."""
        return {
            "id": prow["id"], "repo": prow["repo"], "number": prow["number"], "title": prow["title"],
            "body": prow["body"], "state": prow["state"], "state_reason": None, "author": prow["author"],
            "author_type": prow["author_type"], "author_association": prow["author_association"],
            "labels": prow["labels"], "comments": pr.get("comments"), "locked": pr.get("locked"),
            "created_at": prow["created_at"], "updated_at": prow["updated_at"], "closed_at": prow["closed_at"],
            "is_pull_request": True, "html_url": pr.get("html_url"), "partial": prow["partial"],
        }

    def emit_pull(self, pr: dict[str, Any]) -> bool:
        """Pulls and issues rows of a pull request object; False when its author is a dropped bot."""
        prow = self.pull(pr)
        if self.bot(prow["author"], prow["author_type"]):
            self.drop("pulls:bot_author")
            self.drop("issues:bot_author")
            return False
        self.emit("pulls", prow)
        self.emit("issues", self.issue_of_pull(pr, prow))
        return True

    # -- event types

    def issues_event(self, p: dict[str, Any]) -> None:
        if self.action in _GONE:
            self.drop(f"issues:action_{self.action}")
            return
        obj = p.get("issue")
        if isinstance(obj, dict):
            row = self.issue(obj)
        elif _int(obj) is not None:  # Timeline format: the issue id and number only
            number = _int(p.get("number")) or _number_from_url(self.ev.get("url"))
            if number is None:
                raise BadRecord("missing_number")
            row = self.skeleton_issue(number)
        else:
            raise BadRecord("missing_issue")
        if self.bot(row["author"], row["author_type"]):
            self.drop("issues:bot_author")
            if row["is_pull_request"]:
                self.drop("pulls:bot_author")
            return
        self.emit("issues", row)

    def skeleton_issue(self, number: int) -> Row:
        opened = self.action == "opened"
        url = self.ev.get("url")
        return {
            "id": record_id(self.repo, number), "repo": self.repo, "number": number,
            "title": None, "body": None, "state": _ACTION_STATE.get(self.action), "state_reason": None,
            "author": self.actor if opened else None, "author_type": self.actor_type if opened else None,
            "author_association": None, "labels": None, "comments": None, "locked": None,
            "created_at": self.at if opened else None, "updated_at": None,
            "closed_at": self.at if self.action == "closed" else None,
            "is_pull_request": "/pull/" in url if isinstance(url, str) else False,
            "html_url": url.split("#", 1)[0] if isinstance(url, str) and "github.com/" in url else None,
            "partial": True,
        }

    def issue_comment_event(self, p: dict[str, Any]) -> None:
        if self.action in _GONE:
            self.drop(f"comments:action_{self.action}")
            return
        comment = p.get("comment")
        if not isinstance(comment, dict):
            cid = _int(p.get("comment_id"))
            if cid is None:
                raise BadRecord("missing_comment")
            self.skeleton_comment(cid)
            return
        parent = p.get("issue") if isinstance(p.get("issue"), dict) else None
        if "issue_url" not in comment:
            number = _int((parent or {}).get("number")) or _number_from_url(comment.get("html_url"))
            if number is None:
                raise BadRecord("missing_issue_url")
            comment = {**comment, "issue_url": f"https://api.github.com/repos/{self.repo}/issues/{number}"}
        crow = issue_comment_row(self.repo, comment, self.at)
        if parent is not None:
            try:
                irow = self.issue(parent)
            except BadRecord as exc:
                self.reject("issues", parent.get("number"), exc.reason, parent)
            else:
                if self.bot(irow["author"], irow["author_type"]):
                    self.drop("issues:bot_author")
                    if irow["is_pull_request"]:
                        self.drop("pulls:bot_author")
                    self.drop("comments:parent_dropped")
                    return
                self.emit("issues", irow)
        self.emit_comment(crow)

    def skeleton_comment(self, cid: int) -> None:
        number = _number_from_url(self.ev.get("url"))
        if number is None:
            raise BadRecord("missing_number")
        row = {
            "record_id": record_id(self.repo, number), "repo": self.repo, "number": number,
            "kind": "issue", "comment_id": cid, "author": self.actor, "author_type": self.actor_type,
            "author_association": None, "body": None, "review_state": None, "review_id": None,
            "in_reply_to": None, "path": None, "diff_hunk": None, "position": None, "line": None, "side": None,
            "commit_id": None, "created_at": self.at, "updated_at": None,
        }
        self.emit_comment(row)

    def emit_comment(self, row: Row) -> None:
        if self.bot(row["author"], row["author_type"]):
            self.drop("comments:bot_author")
            return
        self.emit("comments", row)

    def pull_request_event(self, p: dict[str, Any]) -> None:
        pr = p.get("pull_request")
        if not isinstance(pr, dict):
            raise BadRecord("missing_pull_request")
        if _int(pr.get("number")) is None and _int(p.get("number")) is not None:
            pr = {**pr, "number": p["number"]}
        self.emit_pull(pr)

    def _review_parent(self, p: dict[str, Any]) -> tuple[int | None, bool]:
        """The embedded pull request's number, and False when its author is a dropped bot. A
        complete pull request also yields its pulls and issues rows."""
        pr = p.get("pull_request")
        if not isinstance(pr, dict):
            return None, True
        number = _int(pr.get("number"))
        if self._complete(pr):
            try:
                return number, self.emit_pull(pr)
            except BadRecord as exc:
                self.reject("pulls", number, exc.reason, pr)
        return number, True

    def review_event(self, p: dict[str, Any]) -> None:
        review = p.get("review")
        if not isinstance(review, dict):
            raise BadRecord("missing_review")
        if self.action in _GONE:
            self.drop(f"comments:action_{self.action}")
            return
        number, keep = self._review_parent(p)
        number = number or _number_from_url(review.get("pull_request_url")) or _number_from_url(review.get("html_url"))
        if number is None:
            raise BadRecord("missing_number")
        if not keep:
            self.drop("comments:parent_dropped")
            return
        if not review.get("submitted_at"):
            self.drop("comments:pending_review")  # pending reviews are private drafts (API crawl: same)
            return
        row = review_row(self.repo, number, review, self.at)
        if isinstance(row["review_state"], str):
            row["review_state"] = row["review_state"].upper()
        self.emit_comment(row)

    def review_comment_event(self, p: dict[str, Any]) -> None:
        comment = p.get("comment")
        if not isinstance(comment, dict):
            raise BadRecord("missing_comment")
        if self.action in _GONE:
            self.drop(f"comments:action_{self.action}")
            return
        number, keep = self._review_parent(p)
        if "pull_request_url" not in comment:
            links = comment.get("_links") if isinstance(comment.get("_links"), dict) else {}
            href = (links.get("pull_request") or {}).get("href") if isinstance(links.get("pull_request"), dict) else None
            number = number or _number_from_url(href) or _number_from_url(comment.get("html_url")) \
                or _number_from_url(self.ev.get("url"))
            if number is None:
                raise BadRecord("missing_pulls_url")
            comment = {**comment, "pull_request_url": f"https://api.github.com/repos/{self.repo}/pulls/{number}"}
        if not keep:
            self.drop("comments:parent_dropped")
            return
        self.emit_comment(review_comment_row(self.repo, comment, self.at))


_HANDLERS = {
    "IssuesEvent": _Event.issues_event,
    "IssueCommentEvent": _Event.issue_comment_event,
    "PullRequestEvent": _Event.pull_request_event,
    "PullRequestReviewEvent": _Event.review_event,
    "PullRequestReviewCommentEvent": _Event.review_comment_event,
}
_TARGET = {"IssuesEvent": "issues", "IssueCommentEvent": "comments", "PullRequestEvent": "pulls",
           "PullRequestReviewEvent": "comments", "PullRequestReviewCommentEvent": "comments"}


def map_event(ev: Any, *, repo: str | None = None, drop_bots: bool = True, extra_bots: Iterable[str] = (),
              fallback_at: datetime = EPOCH, key: str | None = None) -> Mapped:
    """Rows of one GH Archive event. ``repo`` overrides the event's repository name (the canonical
    spelling chosen by the repository filter). A bad event yields one ``rejects`` row keyed by the
    event id (or ``key``), with ``crawled_at`` = the event time, else ``fallback_at``."""
    extra = extra_bots if isinstance(extra_bots, frozenset) else frozenset(e.lower() for e in extra_bots)
    if not isinstance(ev, dict):
        return reject_line(key, "not_an_object", ev, fallback_at)
    etype = ev.get("type")
    handler = _HANDLERS.get(etype)  # type: ignore[arg-type]
    ev_key = ev.get("id") if isinstance(ev.get("id"), str) else key
    name = repo or event_repo(ev)[0]
    try:
        at = ts(ev.get("created_at"), "created_at")
    except BadRecord:
        at = None
    if handler is None or name is None or at is None or not isinstance(ev.get("payload"), dict):
        reason = ("unsupported_type" if handler is None else "bad_repo" if name is None
                  else "bad_created_at" if at is None else "missing_payload")
        out = reject_line(ev_key, reason, ev, fallback_at, repo=name)
        return out
    e = _Event(ev, name, at, drop_bots, extra)
    try:
        handler(e, ev["payload"])
    except BadRecord as exc:
        e.out.rows = [r for r in e.out.rows if r[0] == "rejects"]  # nothing half-mapped
        e.reject(_TARGET[etype], ev_key, exc.reason, ev)
    return e.out


def reject_line(key: str | None, reason: str, raw: Any, at: datetime = EPOCH, repo: str | None = None) -> Mapped:
    """A ``rejects`` row for an event that could not be mapped at all (undecodable line, no repo)."""
    out = Mapped()
    out.rows.append(("rejects", {
        "table": "events", "repo": repo, "key": key, "reason": reason,
        "payload": raw.decode("utf-8", "replace")[:4000] if isinstance(raw, bytes) else payload(raw),
        "source": SOURCE, "crawled_at": at,
    }))
    out.dropped.append(f"events:reject_{reason}")
    return out


# -- versions (which of two rows of one key a reader keeps) -------------------------------------------

def _version_fn(table: str):  # noqa: ANN202 - a small closure per table
    spec = TABLES[table]
    cols = []
    for v in spec.version:
        cols.append((v[1:], True) if v.startswith("-") else (v, False))

    def version(row: Row) -> tuple:
        out: list[Any] = []
        for col, smallest_wins in cols:
            val = row.get(col)
            if smallest_wins:  # "-partial": null counts as false, false beats true
                out.append(not val)
            else:  # NULLS LAST
                out.append((val is not None, val if val is not None else 0))
        return tuple(out)

    return version


VERSION = {t: _version_fn(t) for t in OUT_TABLES}
KEY = {t: TABLES[t].key for t in OUT_TABLES}
