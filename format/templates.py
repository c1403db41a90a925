"""Every template of the stage, versioned: BugFixer / TestWriter localization and code edit
(Agentless-style prompts, as Kimi-Dev's mid-training rendered natural diffs) and PR commit packs.

Reads/writes nothing. The one idea: a template renders a prompt and a response separately (trainers
mask the loss on the prompt); the document text is their concatenation, and control tokens are not
part of it (the tokenizer wrapper appends ``<|endoftext|>``). Every prompt ends with a newline and
every response starts with a visible character, so the token ids of the text are the prompt's ids
followed by the response's. Changing any string here means a new version.
"""

from __future__ import annotations

from format.edits import Edit

TEMPLATES_VERSION = "agentless_v2"  # v2: commit packs pair each message with its own change
KINDS = ("bugfixer_v1", "testwriter_v1", "commitpack_v1")
SAMPLE_TYPES = {"bugfixer_v1": ("localization", "code_edit"), "testwriter_v1": ("localization", "code_edit"),
                "commitpack_v1": ("commit_pack",)}

_LOCALIZE = {
    "bugfixer_v1": (
        "Please look through the following GitHub problem description and Repository structure and provide a "
        "list of files that one would need to edit to fix the problem."),
    "testwriter_v1": (
        "Please look through the following GitHub problem description and Repository structure and provide a "
        "list of test files that one would need to edit or extend to add tests reproducing the problem."),
}

_LOCALIZE_TAIL = (
    "Please only provide the full path and return at most 5 files.\n"
    "The returned files should be separated by new lines ordered by most to least important and wrapped with ```\n"
    "For example:\n```\nfile1.py\nfile2.py\n```\n")

_EDIT_HEAD = {
    "bugfixer_v1": "Below are some code segments, each from a relevant file. One or more of these files may contain bugs.",
    "testwriter_v1": ("Below are some test files of the repository. Tests that reproduce the issue should be "
                      "added to one or more of these files."),
}
_EDIT_ASK = {
    "bugfixer_v1": ("Please first localize the bug based on the issue statement, and then generate *SEARCH/REPLACE* "
                    "edits to fix the issue."),
    "testwriter_v1": ("Please generate *SEARCH/REPLACE* edits to these test files that add tests reproducing the "
                      "issue: they should fail before the issue is fixed and pass after."),
}
_EDIT_FORMAT = (
    "Every *SEARCH/REPLACE* edit must use this format:\n"
    "1. The file path\n"
    "2. The start of search block: <<<<<<< SEARCH\n"
    "3. A contiguous chunk of lines to search for in the existing source code\n"
    "4. The dividing line: =======\n"
    "5. The lines to replace into the source code\n"
    "6. The end of the replace block: >>>>>>> REPLACE\n\n"
    "Please note that the *SEARCH/REPLACE* edit REQUIRES PROPER INDENTATION. Wrap each *SEARCH/REPLACE* edit in "
    "a code block as shown below.\n")


def problem_statement(title: str | None, body: str | None) -> str:
    """SWE-bench's problem statement: the title, a newline, the body."""
    return "\n".join(x for x in ((title or "").strip(), (body or "").strip()) if x)


def structure(paths: list[str]) -> str:
    """An indented tree (4 spaces a level, directories with a trailing ``/``) of ``paths``."""
    tree: dict = {}
    for p in sorted(paths):
        node = tree
        parts = p.split("/")
        for d in parts[:-1]:
            node = node.setdefault(d + "/", {})
        node[parts[-1]] = None
    out: list[str] = []

    def walk(node: dict, depth: int) -> None:
        # Directories first, then files, each sorted (as Agentless prints a repository).
        for name in sorted(node, key=lambda n: (node[n] is None, n)):
            out.append("    " * depth + name)
            if node[name] is not None:
                walk(node[name], depth + 1)

    walk(tree, 0)
    return "\n".join(out) + "\n" if out else ""


def localization_prompt(kind: str, problem: str, tree: str) -> str:
    return (f"{_LOCALIZE[kind]}\n\n### GitHub Problem Description ###\n{problem}\n\n###\n\n"
            f"### Repository Structure ###\n{tree}\n###\n\n{_LOCALIZE_TAIL}")


def localization_response(paths: list[str]) -> str:
    return "```\n" + "".join(p + "\n" for p in paths) + "```"


def file_section(path: str, content: str) -> str:
    return f"```\n### {path}\n{content}{'' if content.endswith(chr(10)) or not content else chr(10)}```\n"


def code_edit_prompt(kind: str, problem: str, files: list[tuple[str, str]]) -> str:
    body = "".join(file_section(p, c) for p, c in files)
    example = render_edits([Edit("mathweb/flask/app.py", "from flask import Flask\n",
                                 "import math\nfrom flask import Flask\n")])
    return (f"We are currently solving the following issue within our repository. Here is the issue text:\n"
            f"--- BEGIN ISSUE ---\n{problem}\n--- END ISSUE ---\n\n{_EDIT_HEAD[kind]}\n\n"
            f"--- BEGIN FILE ---\n{body}--- END FILE ---\n\n{_EDIT_ASK[kind]}\n\n{_EDIT_FORMAT}"
            f"Here is an example:\n\n{example}\n\n"
            "If you would like to add the line '        print(x)', you must fully write that out, with all those "
            "spaces before the code!\n")


def discussion(comments: list[str]) -> str:
    """The issue discussion that may precede the edits (Kimi-Dev), one comment a paragraph."""
    kept = [c.strip() for c in comments if c and c.strip()]
    if not kept:
        return ""
    return "Discussion of the issue:\n\n" + "\n\n".join(kept) + "\n\nEdits:\n\n"


def render_edits(edits: list[Edit]) -> str:
    return "\n\n".join(f"```python\n### {e.path}\n<<<<<<< SEARCH\n{e.search}=======\n{e.replace}>>>>>>> REPLACE\n```"
                       for e in edits)


def code_edit_response(edits: list[Edit], comments: list[str] | None = None) -> str:
    return discussion(comments or []) + render_edits(edits)


class ParseError(ValueError):
    pass


def parse_edits(response: str) -> list[Edit]:
    """The SEARCH/REPLACE blocks of a code-edit response (the inverse of ``render_edits``; the stage
    rejects a sample whose response does not parse back to its own edits)."""
    start = response.find("```python\n### ")
    if start < 0:
        raise ParseError("no SEARCH/REPLACE block")
    lines = response[start:].split("\n")
    edits, i = [], 0
    while i < len(lines):
        if lines[i] != "```python":
            raise ParseError(f"expected a ```python line, got {lines[i][:60]!r}")
        if i + 2 >= len(lines) or not lines[i + 1].startswith("### ") or lines[i + 2] != "<<<<<<< SEARCH":
            raise ParseError("block header")
        path, i = lines[i + 1][4:], i + 3
        search: list[str] = []
        while i < len(lines) and lines[i] != "=======":
            search.append(lines[i])
            i += 1
        replace: list[str] = []
        i += 1
        while i < len(lines) and lines[i] != ">>>>>>> REPLACE":
            replace.append(lines[i])
            i += 1
        if i + 1 >= len(lines) or lines[i + 1] != "```":
            raise ParseError("unterminated block")
        edits.append(Edit(path, "".join(x + "\n" for x in search), "".join(x + "\n" for x in replace)))
        i += 2
        if i < len(lines):
            if lines[i] != "" or i + 1 >= len(lines):
                raise ParseError("text after a block")
            i += 1
    return edits


def commit_pack_prompt(title: str) -> str:
    return f"Pull request: {title.strip()}\n\n"


def file_diff(path: str, prev: str | None, hunks: str) -> str:
    old = prev or path
    return f"diff --git a/{old} b/{path}\n--- a/{old}\n+++ b/{path}\n{hunks.rstrip(chr(10))}\n"


def commit_pack_response(commits: list[tuple[str, list[tuple[str, str | None, str]]]]) -> str:
    """``commits``: (message, its files' (path, previous path or None, unified hunks) in path
    order), in commit order: each message, then its own change."""
    out = []
    for n, (message, patches) in enumerate(commits, 1):
        out.append(f"--- commit {n} ---\n{message.strip()}\n\n" + "".join(file_diff(*p) for p in patches))
    return "\n".join(out)
