"""acme/shop: a small real git repository built with the git CLI, ingested by the git source, plus the
issue, comment and repository rows a crawl would add. Each PR exercises one path of the format stage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ingest.config import GitConfig
from ingest.run import _table, ingest_git
from ingest.schema import TABLES
from ingest.store import DataRoot
from tests.ingest.test_git_source import Repo

T0 = datetime(2024, 3, 1, tzinfo=UTC)

# Planted secrets and signatures: none of them may reach an emitted text.
SECRETS = {
    "email": "dana.maintainer@shop-example.org",
    "github_token": "ghp_" + "Zq3" * 12,
    "aws_key": "AKIA" + "QWERTYUIOPASDFGH",
    "url_password": "hunter2sekret",
    "private_key_body": "MIIEowIBAAKCAQEAsecretkeymaterial",
    "comment_password": "s3cr3t-passw0rd",
    "signoff_email": "bob@coder.example.com",
    "code_email": "owner@shop.example.com",
    "handle": "@carol-dev",
}

CART = '''"""Shopping cart. Maintainer: owner@shop.example.com"""


def subtotal(items):
    total = 0
    for price, qty in items:
        total += price * qty
    return total


def total(items, discount=0):
    total = 0
    for price, qty in items:
        total += price * qty
    return total


# The literal <|endoftext|> below is text, never a control token.
MARKER = "<|endoftext|>"
'''
CART_FIXED = CART.replace("    return total\n\n\n# The", "    return total - discount\n\n\n# The")
ATTEST = "def attest(x):\n    return bool(x)\n"
ATTEST_FIXED = "def attest(x):\n    return x is not None\n"
TEST_CART = "from shop.cart import total\n\n\ndef test_total():\n    assert total([(2, 3)]) == 6\n"
TEST_CART_FIXED = TEST_CART + "\n\ndef test_total_discount():\n    assert total([(2, 3)], discount=1) == 5\n"
PRICE = "RATE = 1\n\n\ndef price(x):\n    return x * RATE\n"
BLOCKS = "".join(f"def f{i}(x):\n    y = x + {i}\n    return y\n\n\n" for i in range(8))
BLOCKS_6 = BLOCKS
for _i in range(6):
    BLOCKS_6 = BLOCKS_6.replace(f"    y = x + {_i}\n", f"    y = x + {_i * 10 + 7}\n")

ISSUE_BODY = (
    "The cart total ignores the discount argument.\n\n"
    f"Reported by {SECRETS['email']}; my token is {SECRETS['github_token']} and the key {SECRETS['aws_key']}.\n"
    f"Mirror: https://deploy:{SECRETS['url_password']}@mirror.shop.example.net/simple\n"
    f"-----BEGIN RSA PRIVATE KEY-----\n{SECRETS['private_key_body']}\n-----END RSA PRIVATE KEY-----\n"
    "Also `<think>` and <|im_start|> appear in logs.")
COMMENT = f"Reproduced. The staging config has password = \"{SECRETS['comment_password']}\" but that is unrelated."


def build_shop(path: Path) -> tuple[Repo, dict[str, str]]:
    r = Repo(path)
    c = {}
    c["c0"] = r.commit("Initial import", {
        "src/shop/cart.py": CART, "src/shop/attestation.py": ATTEST, "src/shop/price.py": PRICE,
        "src/shop/blocks.py": BLOCKS, "src/shop/a.py": "A = 1\n", "src/shop/b.py": "B = 1\n",
        "src/shop/c.py": "C = 1\n", "tests/test_cart.py": TEST_CART, "tests/conftest.py": "import pytest\n",
        "README.md": "# shop\n", "docs/notes.txt": "notes\n"})
    r.git("checkout", "-q", "-b", "fix-total")
    c["a1"] = r.commit(f"Apply the discount in total\n\nFixes #7\n\nSigned-off-by: Bob Coder <{SECRETS['signoff_email']}>",
                       {"src/shop/cart.py": CART_FIXED, "tests/test_cart.py": TEST_CART_FIXED})
    c["a2"] = r.commit(f"Stricter attestation, thanks {SECRETS['handle']}", {"src/shop/attestation.py": ATTEST_FIXED})
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "--no-ff", "fix-total", "-m", "Merge pull request #12 from bob/fix-total\n\nFix cart totals")
    c["m12"] = r.sha("HEAD")
    r.git("branch", "-D", "fix-total")
    c["s13"] = r.commit("Document pricing (#13)", {"README.md": "# shop\n\nPrices.\n", "docs/notes.txt": "n2\n",
                                                   "src/shop/price.py": PRICE.replace("RATE = 1", "RATE = 2")})
    c["s14"] = r.commit("Add helpers (#14)", {"src/shop/helpers.py": "H = 1\n",
                                              "src/shop/price.py": PRICE.replace("RATE = 1", "RATE = 3")})
    c["s15"] = r.commit("Touch many modules (#15)", {"src/shop/a.py": "A = 2\n", "src/shop/b.py": "B = 2\n",
                                                     "src/shop/c.py": "C = 2\n",
                                                     "src/shop/price.py": PRICE.replace("RATE = 1", "RATE = 4")})
    c["s16"] = r.commit("Rework blocks (#16)", {"src/shop/blocks.py": BLOCKS_6})
    return r, c


def row(table: str, **kw) -> dict:
    base = {f.name: None for f in TABLES[table].schema}
    base.update(source="api", crawled_at=T0)
    base.update(kw)
    return base


def ingest_shop(tmp: Path) -> tuple[DataRoot, dict[str, str]]:
    repo, commits = build_shop(tmp / "clones" / "shop")
    root = DataRoot(tmp / "data")
    summary = ingest_git(root.url, GitConfig.from_dict({}, "git"), [f"acme/shop={repo.path}"])
    assert summary.outcomes[0].status == "ok", summary.outcomes
    root.write_parquet("raw/issues/batch=t/part-0.parquet", _table("issues", [row(
        "issues", id="acme__shop-7", repo="acme/shop", number=7, title="Cart total ignores discounts",
        body=ISSUE_BODY, state="closed", is_pull_request=False, updated_at=T0, partial=False)]))
    root.write_parquet("raw/comments/batch=t/part-0.parquet", _table("comments", [
        row("comments", record_id="acme__shop-7", repo="acme/shop", number=7, kind="issue", comment_id=1,
            author="erin", author_type="User", body=COMMENT, created_at=T0, updated_at=T0),
        row("comments", record_id="acme__shop-7", repo="acme/shop", number=7, kind="issue", comment_id=2,
            author="ci-bot", author_type="Bot", body="Build passed.", created_at=T0, updated_at=T0)]))
    root.write_parquet("raw/repos/batch=t/part-0.parquet", _table("repos", [
        row("repos", repo="acme/shop", license="MIT", stars=100)]))
    return root, commits
