"""Config validation happens before work and names the key without echoing secrets."""

import pytest

from flows.config import load_config
from ingest.config import CrawlConfig, read_repos_file
from ingest.errors import ConfigError


def test_defaults_and_overrides():
    cfg = CrawlConfig()
    assert cfg.min_stars == 5 and cfg.per_page == 100 and "MIT" in cfg.licenses
    cfg2 = cfg.with_overrides("crawl", min_stars=0, repos=("a/b",), search=None)
    assert cfg2.min_stars == 0 and cfg2.repos == ("a/b",) and cfg2.search is None


@pytest.mark.parametrize("data,needle", [
    ({"min_stars": "many"}, "crawl.min_stars"),
    ({"per_page": 101}, "crawl.per_page"),
    ({"repos": ["not-a-repo"]}, "not an owner/name"),
    ({"api_url": "ftp://example.org"}, "crawl.api_url"),
    ({"pull_files": "some"}, "crawl.pull_files"),
])
def test_bad_values_are_one_line(data, needle):
    with pytest.raises(ConfigError) as e:
        CrawlConfig.from_dict(data, "crawl")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_token_in_config_is_refused_without_echo():
    with pytest.raises(ConfigError) as e:
        CrawlConfig.from_dict({"token": "ghp_do_not_print_me"}, "crawl")
    assert "ghp_do_not_print_me" not in str(e.value) and "GITHUB_TOKEN" in str(e.value)


def test_load_config_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[crawl]\nmin_stars = 50\nlicenses = ["MIT"]\n')
    assert load_config(p).crawl.min_stars == 50
    p.write_text("[crawl\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    p.write_bytes(b"\xff[crawl]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)
    p.write_text("[dedupe]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[dedupe\]"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


def test_repos_file(tmp_path):
    p = tmp_path / "repos.txt"
    p.write_text("# popular\nacme/widgets\n\nacme/gizmo  # trailing comment\n")
    assert read_repos_file(str(p)) == ("acme/widgets", "acme/gizmo")
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_repos_file(str(p))
    p.write_text("acme/widgets\nnope\n")
    with pytest.raises(ConfigError, match=r"repos.txt:2: not an owner/name"):
        read_repos_file(str(p))
