"""Built-in GitHub simulator: a seeded world (``world``) served over HTTP like GitHub (``server``).

Used by the offline demo and by every crawler test. ``World.generate(WorldSpec.demo())`` builds the world;
``SimulatorServer(world).start()`` serves it on 127.0.0.1; ``world.keys()`` / ``world.expected_links()``
state what a complete crawl must hold.
"""

from ingest.simulator.server import FaultConfig, SimulatorServer
from ingest.simulator.world import MutationReport, World, WorldSpec

__all__ = ["FaultConfig", "MutationReport", "SimulatorServer", "World", "WorldSpec"]
