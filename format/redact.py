"""Redaction of developer signatures and secrets in every emitted text.

Reads/writes nothing. The one idea: each rule replaces what it finds with a typed placeholder
(``<EMAIL>``, ``<PASSWORD>``, ``<SECRET>``...) and counts it; rules run in a fixed order (whole
private keys and signature trailers before the addresses inside them), and the output is a fixed
point (redacting it again changes nothing), which the stage checks for every sequence. Code is
redacted with the same rules, before edits are computed, so edits apply to what the prompt shows.
GitHub handles (``@login``) are redacted only in commit messages: in code ``@name`` is a decorator.
"""

from __future__ import annotations

import re
from collections import Counter

REDACT_RULES = "redact_v1"

_TRAILERS = r"(?:Signed-off-by|Co-authored-by|Reviewed-by|Acked-by|Tested-by|Reported-by|Suggested-by|Helped-by)"

# (placeholder type, pattern, replacement); order matters.
_RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
                               r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S),
     "<PRIVATE_KEY>"),
    ("signature", re.compile(rf"(?im)^([ \t>]*{_TRAILERS}):[ \t]*(?!<SIGNATURE>$)\S.*$"), r"\1: <SIGNATURE>"),
    ("url_password", re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}://[^\s:/@<>\"']{1,256}):(?!<PASSWORD>@)"
                                r"[^\s/@<>\"']{1,256}@"), r"\1:<PASSWORD>@"),
    ("aws_key", re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "<AWS_KEY>"),
    ("token", re.compile(
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}|glpat-[A-Za-z0-9_-]{20,}"
        r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}"
        r"|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}"
        r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"), "<TOKEN>"),
    ("secret_assignment", re.compile(
        r"(?i)((?:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|password|passwd"
        r"|aws_secret_access_key|private[_-]?key)[\"']?\s*[:=]\s*[\"'])(?!<)([^\"'\s]{8,200})([\"'])"),
     r"\1<SECRET>\3"),
    ("email", re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                         r"\.[A-Za-z]{2,24}\b"), "<EMAIL>"),
]
_HANDLE = ("handle", re.compile(r"(?<![\w@./<>:-])@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(?![\w@-])"),
           "<HANDLE>")


def redact(text: str, counts: Counter[str] | None = None, handles: bool = False) -> str:
    """``text`` with every rule applied; ``counts`` gains one per replacement, by type."""
    rules = [*_RULES, _HANDLE] if handles else _RULES
    for name, pattern, repl in rules:
        text, n = pattern.subn(repl, text)
        if n and counts is not None:
            counts[name] += n
    return text


def residue(text: str, handles: bool = False) -> bool:
    """True when something in ``text`` would still be redacted."""
    return redact(text, None, handles) != text
