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
        assert d["entrypoint"] == "flows.pipeline.pipeline_flow"  # a module path (see prefect.yaml)
        assert [s["cron"] for s in d["schedules"]] == [cron]
        assert d["parameters"]["overrides"]["run"]["stages"] == stages
        RunConfig(stages=tuple(stages))  # valid
        module, fn = d["entrypoint"].rsplit(".", 1)
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.exists() and f"def {fn}(" in path.read_text()


def test_serve_builds_both_deployments_with_their_crons():
    from flows.deployments import deployments

    deps = deployments("/srv/corpus", "/etc/pipeline.toml", weekly="0 4 * * 6", timezone="Europe/Paris")
    got = {d.name: d for d in deps}
    assert set(got) == {NIGHTLY[0], WEEKLY[0]}
    nightly, weekly = got[NIGHTLY[0]], got[WEEKLY[0]]
    assert [s.schedule.cron for s in nightly.schedules] == [NIGHTLY[1]]
    assert [(s.schedule.cron, s.schedule.timezone) for s in weekly.schedules] == [("0 4 * * 6", "Europe/Paris")]
    assert nightly.entrypoint == "flows.pipeline.pipeline_flow"
    assert nightly.parameters == {"data_root": "/srv/corpus", "config_path": "/etc/pipeline.toml",
                                  "overrides": {"run": {"stages": NIGHTLY[2]}}}
    # Parameters are paths and stage lists: no token or credential ever becomes a parameter.
    assert all("token" not in str(d.parameters).lower() for d in deps)
