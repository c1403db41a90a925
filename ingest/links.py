"""Which issues a pull request closes, by GitHub's closing-keyword rules.

Pure: reads text, returns issue record ids. The one idea: reproduce what GitHub itself links,
so a BugFixer pair (issue, merged PR) is the pair GitHub shows, not every ``#N`` in the text.

GitHub's rules (docs "Linking a pull request to an issue"): a keyword close/closes/closed,
fix/fixes/fixed, resolve/resolves/resolved (any case, optionally followed by a colon) directly
followed by ``#N``, ``owner/repo#N`` or an issue URL; one keyword per reference; only when the
PR's base is the repository's default branch. Keywords in code spans, code blocks and HTML
comments are not rendered as references, so they are ignored here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.schema import record_id

_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)[^\n]*\n.*?(?:^[ \t]{0,3}\1[ \t]*$|\Z)", re.S | re.M)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}"
_REF = (
    rf"(?:https?://github\.com/(?P<url_repo>{_NAME})/issues/(?P<url_num>\d{{1,9}})\b"
    rf"|(?P<full_repo>{_NAME})#(?P<full_num>\d{{1,9}})\b"
    rf"|(?<![\w&/#])#(?P<num>\d{{1,9}})\b)"
)
_KEYWORD = r"(?<![\w-])(?P<kw>close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?:[ \t]*:[ \t]*|[ \t]+)"
_CLOSING = re.compile(_KEYWORD + _REF, re.I)
_ANY_REF = re.compile(
    rf"(?:https?://github\.com/(?P<url_repo>{_NAME})/(?:issues|pull)/(?P<url_num>\d{{1,9}})\b"
    rf"|(?<![\w/.-])(?P<full_repo>{_NAME})#(?P<full_num>\d{{1,9}})\b"
    rf"|(?<![\w&/#])#(?P<num>\d{{1,9}})\b)"
)


@dataclass(frozen=True)
class Links:
    closes: tuple[str, ...]  # issue record ids, sorted
    mentions: tuple[str, ...]  # other referenced ids, sorted


def strip_code(text: str) -> str:
    """Remove fenced blocks, inline code and HTML comments (GitHub renders no references there)."""
    text = _FENCE.sub("\n", text)
    text = _HTML_COMMENT.sub(" ", text)
    return _INLINE_CODE.sub(" ", text)


def _target(m: re.Match[str], repo: str) -> tuple[str, int] | None:
    if m.group("url_repo"):
        target, num = m.group("url_repo"), m.group("url_num")
    elif m.group("full_repo"):
        target, num = m.group("full_repo"), m.group("full_num")
    else:
        target, num = repo, m.group("num")
    n = int(num)
    if n <= 0:
        return None
    # GitHub treats owner/repo case-insensitively; normalise the current repo's spelling.
    if target.lower() == repo.lower():
        target = repo
    return target, n


def find_links(texts: Iterable[str | None], repo: str, number: int | None = None,
               base_is_default: bool = True) -> Links:
    """Closing and mentioned issue ids in a PR's title, body and commit messages."""
    closes: set[str] = set()
    mentions: set[str] = set()
    for text in texts:
        if not text:
            continue
        clean = strip_code(text)
        for m in _CLOSING.finditer(clean):
            t = _target(m, repo)
            if t:
                (closes if base_is_default else mentions).add(record_id(*t))
        for m in _ANY_REF.finditer(clean):
            t = _target(m, repo)
            if t:
                mentions.add(record_id(*t))
    if number is not None:
        own = record_id(repo, number)
        closes.discard(own)
        mentions.discard(own)
    return Links(tuple(sorted(closes)), tuple(sorted(mentions - closes)))
