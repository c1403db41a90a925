"""Running a stage's partitions as Prefect tasks, shared by the dedup, decontam and format flows.

Reads/writes nothing. The one idea: tasks get a key and a partition number, never the run object
or frames; the run waits in ``RUNS`` under that key while its tasks run in this process.
"""

from __future__ import annotations

from typing import Any

RUNS: dict[str, Any] = {}


def map_partitions(run: Any, task: Any, partitions: int) -> list[Any]:
    """Register ``run``, submit ``task(key, index)`` for every partition, and return the results
    in partition order (the run is unregistered whatever happens)."""
    key = f"{type(run).__name__}:{id(run)}"
    RUNS[key] = run
    try:
        return [f.result() for f in [task.submit(key, i) for i in range(partitions)]]
    finally:
        RUNS.pop(key, None)
