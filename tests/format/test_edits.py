"""SEARCH/REPLACE construction and the strict applier: uniqueness, context growth, rejection."""

from __future__ import annotations

import random

import pytest

from format.edits import Edit, EditError, apply, make_edits, validate
from format.templates import ParseError, parse_edits, render_edits

BASE = "def f():\n    return 1\n\n\ndef g():\n    return 1\n"


def test_ambiguous_search_is_rejected_and_the_unique_one_accepted():
    post = BASE.replace("def g():\n    return 1", "def g():\n    return 2")
    with pytest.raises(EditError) as exc:
        validate(BASE, post, [Edit("m.py", "    return 1\n", "    return 2\n")])  # occurs twice
    assert exc.value.reason == "ambiguous_search"
    with pytest.raises(EditError) as exc:
        apply(BASE, [Edit("m.py", "    return 3\n", "    return 2\n")])
    assert exc.value.reason == "search_not_found"
    right = [Edit("m.py", "def g():\n    return 1\n", "def g():\n    return 2\n")]
    validate(BASE, post, right)
    # make_edits finds exactly that: the changed line grows upward until it is unique
    assert make_edits("m.py", BASE, post) == right


def test_pure_insertion_and_deletion_get_context_for_a_unique_search():
    post = BASE + "\n\ndef h():\n    pass\n"
    edits = make_edits("m.py", BASE, post)
    assert all(e.search for e in edits)
    assert edits == [Edit("m.py", "def g():\n    return 1\n", "def g():\n    return 1\n\n\ndef h():\n    pass\n")]
    validate(BASE, post, edits)
    gone = BASE.replace("def f():\n    return 1\n\n\n", "")
    edits = make_edits("m.py", BASE, gone)
    validate(BASE, gone, edits)
    assert all(BASE.count(e.search) == 1 for e in edits)


def test_overlapping_edits_and_a_wrong_post_image_are_rejected():
    with pytest.raises(EditError) as exc:
        apply(BASE, [Edit("m.py", "def f():\n    return 1\n", "x\n"), Edit("m.py", "    return 1\n\n\ndef g", "y")])
    assert exc.value.reason in ("overlapping_edits", "ambiguous_search")
    with pytest.raises(EditError) as exc:
        validate(BASE, BASE.replace("f", "F"), [Edit("m.py", "def f():\n", "def F():\n")])
    assert exc.value.reason == "post_image_mismatch"
    with pytest.raises(EditError) as exc:
        make_edits("m.py", BASE, BASE.rstrip("\n") + " + 1")  # no newline at the end of the post-image
    assert exc.value.reason == "no_newline_at_eof"


def test_random_files_round_trip():
    """Edits of random line-level changes to repetitive files always apply and render/parse back."""
    rng = random.Random(7)
    pool = ["    return x\n", "\n", "def f():\n", "    pass\n", "    x = 1\n", "# comment\n", "    return None\n"]
    for _ in range(300):
        a = [rng.choice(pool) for _ in range(rng.randint(3, 40))]
        b = list(a)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            k = rng.randrange(len(b) + 1)
            if op < 0.4:
                b.insert(k, rng.choice(pool + ["    y = 2\n"]))
            elif op < 0.7 and k < len(b):
                del b[k]
            elif k < len(b):
                b[k] = "    z = 3\n"
        base, post = "".join(a), "".join(b)
        if base == post:
            continue
        edits = make_edits("r.py", base, post, context=rng.randint(0, 2))
        validate(base, post, edits)
        assert all(base.count(e.search) >= 1 for e in edits)
        assert parse_edits(render_edits(edits)) == edits


def test_parse_rejects_malformed_responses():
    with pytest.raises(ParseError):
        parse_edits("no blocks here")
    with pytest.raises(ParseError):
        parse_edits("```python\n### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")
