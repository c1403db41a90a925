"""The test / code split of a PR's files, and which files a sample may use.

Reads/writes nothing. The one idea: one path rule decides test vs code for every kind (the rule
ingest records in ``pull_files.is_test``, recomputed here so API and git rows agree): a path is a
test when a directory component is a test directory (``tests/``, ``testing/``...) or the file name
follows a runner convention (``test_*.py``, ``*_test.py``, ``conftest.py``). Whole components are
matched, so ``attestation.py``, ``contest/`` and ``latest.py`` are code.
"""

from __future__ import annotations

import posixpath

from ingest.filters import TEST_RULE, is_test_path

SPLIT_RULE = TEST_RULE  # recorded in every sequence's rules


def is_test(path: str) -> bool:
    return is_test_path(path)


def extension(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def is_python(path: str) -> bool:
    return extension(path) == ".py"


def split(paths: list[str]) -> tuple[list[str], list[str]]:
    """(code, test) Python paths, each sorted."""
    py = sorted(p for p in paths if is_python(p))
    return [p for p in py if not is_test(p)], [p for p in py if is_test(p)]
