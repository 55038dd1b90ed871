"""The floor for `partnerships list --phase PHASE --json`: the bare visibility query through the SDK.

python -m bench.bare_list --address HOST:PORT [--phase walk]    # prints the rows as JSON, like the CLI

The namespace is TEMPORAL_NAMESPACE's, as the CLI's is (default: "default").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from temporalio.client import Client

PHASES = ("crawl", "walk")


async def bare_rows(client: Client, phase: str = "walk") -> list[dict[str, str]]:
    query = f"PartnershipPhase = '{phase}' AND ExecutionStatus = 'Running'"
    return [{"workflow_id": e.id, "run_id": e.run_id} async for e in client.list_workflows(query)]


async def main(address: str, phase: str) -> None:
    client = await Client.connect(address, namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    sys.stdout.write(json.dumps(await bare_rows(client, phase), indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--phase", choices=PHASES, default="walk")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.address, arguments.phase))
