"""prefect.yaml and ``swe-curate serve`` declare the same deployments (names, entrypoint, crons,
stages), and every deployment's stages are a valid ``[run] stages``."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.config import RunConfig
from flows.deployments import NIGHTLY, WEEKLY

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_matches_serve():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert set(deps) == {NIGHTLY[0], WEEKLY[0]}
    for name, cron, stages, _ in (NIGHTLY, WEEKLY):
        d = deps[name]
        assert d["entrypoint"] == "flows/pipeline.py:pipeline_flow"
        assert [s["cron"] for s in d["schedules"]] == [cron]
        assert d["parameters"]["overrides"]["run"]["stages"] == stages
        RunConfig(stages=tuple(stages))  # valid
        module, fn = d["entrypoint"].split(":")
        assert (ROOT / module).exists() and f"def {fn}(" in (ROOT / module).read_text()
