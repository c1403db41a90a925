"""The pipeline's deployments: a nightly crawl-and-process and a weekly release, on cron schedules.

Reads: nothing (the flows read the data root and config when they run). Writes: deployments and
their schedules to the Prefect API (``PREFECT_API_URL``: ``prefect server start`` for the UI). The
one idea: the deployments served here are the ones ``prefect.yaml`` declares for a work pool (same
names, entrypoint, parameters and crons), so ``swe-curate serve`` and ``prefect deploy`` + a
``process`` worker run the same thing; parameters are paths, never secrets (tokens come from the
environment of the process that runs the flow).
"""

from __future__ import annotations

from typing import Any

# (name, default cron, stages, description) — keep in step with prefect.yaml.
NIGHTLY = ("crawl-and-process", "0 2 * * *", ["crawl", "dedup", "decontam", "format"],
           "Incremental crawl (only what changed since the cursors), then dedup, decontam and format of it.")
WEEKLY = ("release", "0 6 * * 0", ["dedup", "decontam", "format", "export", "card"],
          "A release of everything crawled so far and its data card (stages already up to date are skipped).")


def deployments(data_root: str, config_path: str | None, nightly: str | None = None, weekly: str | None = None,
                timezone: str = "UTC") -> list[Any]:
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.pipeline import pipeline_flow

    out = []
    for (name, cron, stages, description), override in ((NIGHTLY, nightly), (WEEKLY, weekly)):
        out.append(pipeline_flow.to_deployment(
            name=name, schedules=[Cron(override or cron, timezone=timezone)], description=description,
            parameters={"data_root": data_root, "config_path": config_path,
                        "overrides": {"run": {"stages": stages}}},
            tags=["swe-curate"],
            # flows.pipeline.pipeline_flow, imported as a module: loading flows/pipeline.py as a script
            # would put flows/ first on the path, where flows/dedup.py etc. shadow the stage packages.
            entrypoint_type=EntrypointType.MODULE_PATH))
    return out


def serve(data_root: str, config_path: str | None, nightly: str | None = None, weekly: str | None = None,
          timezone: str = "UTC", console: Any = None) -> int:
    """Serve both deployments from this process until interrupted (each scheduled run is a
    subprocess of it)."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL

    if console is not None:
        api = PREFECT_API_URL.value()
        console.print(f"serving deployments {NIGHTLY[0]!r} ({nightly or NIGHTLY[1]}) and {WEEKLY[0]!r} "
                      f"({weekly or WEEKLY[1]}), {timezone}, over {data_root}; Prefect API: "
                      + (api or "none set, an ephemeral one (set PREFECT_API_URL to see them in the UI)"))
    prefect_serve(*deployments(data_root, config_path, nightly, weekly, timezone), print_starting_message=False)
    return 0
