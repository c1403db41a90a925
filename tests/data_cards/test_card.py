"""The data card of a release made by the real pipeline on acme/shop (git source -> dedup ->
decontam against the bundled SWE-bench Verified -> format -> export): YAML metadata the Hub reads,
counts and drops at each stage, the mixture, distributions, PNG histograms, the audit summary,
failed repositories, how to load; no token ever on it; bad input is one line."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import matplotlib.image
import pyarrow.parquet as pq
import pytest
import yaml

from data_cards.config import CardConfig
from data_cards.run import card_stage
from decontam.config import DecontamConfig
from decontam.run import decontam
from dedup.config import DedupConfig
from dedup.run import dedup
from format.config import ExportConfig, FormatConfig
from format.export_run import export_release
from format.run import format_stage
from ingest.errors import ConfigError
from ingest.run import _table
from tests.format.data import SECRETS, ingest_shop, row

TOKEN = "ghp_" + "CardLeak" * 5
T = datetime(2024, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("card")
    root, _ = ingest_shop(tmp)
    # Two more repositories in the crawl log: one filtered, one failed with a token in its error detail.
    root.write_parquet("raw/crawl_log/batch=c1/part-0.parquet", _table("crawl_log", [
        row("crawl_log", crawl_id="c1", repo="acme/shop", status="ok", records={"issues": 1},
            dropped={"comments:bot_author": 1}, requests=3, wait_s=0.0, started_at=T, finished_at=T),
        row("crawl_log", crawl_id="c1", repo="acme/tiny", status="filtered", reason="stars_below_min", requests=1,
            wait_s=0.0, started_at=T, finished_at=T),
        row("crawl_log", crawl_id="c1", repo="acme/broken", status="failed", reason="server_error",
            detail=f"500 after 5 tries (Authorization: token {TOKEN})", requests=5, wait_s=1.0, started_at=T,
            finished_at=T)]))
    dedup(root.url, DedupConfig())
    decontam(root.url, DecontamConfig(references=("bundled:swe-bench-verified", "bundled:swe-bench-lite")))
    format_stage(root.url, FormatConfig())
    dest = tmp / "release"
    export_release(root.url, str(dest), ExportConfig(epochs={"commitpack_v1": 2}, shard_size=2_000))
    return root, dest


def test_card_of_a_release(release, monkeypatch):
    root, dest = release
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    s = card_stage(root.url, CardConfig(top_n=5))
    text = open(s.path, encoding="utf-8").read()
    assert text == s.markdown
    head = text.split("---\n")[1]
    meta = yaml.safe_load(head)
    assert meta["license"] == "mit" and meta["size_categories"] == ["n<1K"]
    assert meta["task_categories"] == ["text-generation"] and meta["source_datasets"] == ["original"]
    assert {c["config_name"] for c in meta["configs"]} == {"bugfixer_v1", "testwriter_v1", "commitpack_v1"}
    m = __import__("json").loads((dest / "releases" / "v0001" / "manifest.json").read_text())
    tokens = sum(t["tokens"] for t in m["totals"].values())
    assert f"{tokens:,} tokens" in text
    for kind, mk in m["mixture"].items():
        assert re.search(rf"\| {kind} \| [^|]+ \| {mk['sequences']:,} \| {mk['documents']:,} \| {mk['tokens']:,} \|", text)
    assert "epochs commitpack_v1 x2" in text
    # Counts and drops at each stage.
    assert "Repositories: failed 1, filtered 1, ok 1." in text and "| stars_below_min | 1 |" in text
    assert "| comments:bot_author (record filter) | 1 |" in text
    assert "| acme/broken | server_error | 500 after 5 tries" in text
    assert "| issue | 1 | 0 | 0 |" in text and "| pull |" in text  # dedup documents by kind
    assert "| swe-bench-verified | 500 |" in text and "| swe-bench-lite | 300 |" in text
    assert "| bugfixer_v1 | file_added_or_removed |" in text or "| bugfixer_v1 | non_python_change |" in text
    # Distributions, plots, loading.
    assert "| acme/shop |" in text and "| MIT | 1 |" in text
    for name in s.plots:
        png = root.path(name)
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and matplotlib.image.imread(png).shape[0] > 100
        assert f"]({name.rsplit('/', 1)[1]})" in text
    assert 'datasets.load_dataset("parquet"' in text and "swe-curate export --verify" in text
    # No token anywhere on the card (the crawl log's detail held one).
    assert TOKEN not in text and SECRETS["github_token"] not in text and "<TOKEN>" in text
    # Same data, same card.
    assert card_stage(root.url, CardConfig(top_n=5)).markdown == text


def test_card_shows_what_decontam_found(release, tmp_path):
    root, dest = release
    # Flag a record as found for a Verified instance by the patch rule: the audit summary names it.
    audit = pq.read_table(root.path("decontam/audit/audit.parquet"))
    row = {f.name: None for f in audit.schema}
    row.update(record_id="acme__shop-12", kind="pull", repo="acme/shop", field="file:src/shop/cart.py", rule="patch",
               instance_id="django__django-11099", score=3.0, flagged=True, reference="swe-bench-verified",
               reference_sha256="x" * 64)
    import pyarrow as pa

    pq.write_table(pa.concat_tables([audit, pa.Table.from_pylist([row], schema=audit.schema)]),
                   root.path("decontam/audit/audit.parquet"))
    text = card_stage(root.url, CardConfig()).markdown
    assert "| patch | 1 | 1 |" in text and "| django__django-11099 | 1 | patch |" in text


def test_bad_input_is_one_line(release, tmp_path):
    root, _ = release
    with pytest.raises(ConfigError, match="--version v9: no such release"):
        card_stage(root.url, CardConfig(), "v9")
    with pytest.raises(ConfigError, match="no release made from it yet"):
        card_stage(str(tmp_path / "empty"), CardConfig())
    with pytest.raises(ConfigError, match="card.top_n"):
        CardConfig.from_dict({"top_n": 0}, "card")
