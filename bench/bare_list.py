"""The floor for `partnerships list --phase walk --json`: the bare visibility query through the SDK.

python -m bench.bare_list --address HOST:PORT     # prints the rows as JSON, like the CLI

The namespace is TEMPORAL_NAMESPACE's, as the CLI's is (default: "default").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from temporalio.client import Client

QUERY = "PartnershipPhase = 'walk' AND ExecutionStatus = 'Running'"


async def bare_rows(client: Client) -> list[dict[str, str]]:
    return [{"workflow_id": e.id, "run_id": e.run_id} async for e in client.list_workflows(QUERY)]


async def main(address: str) -> None:
    client = await Client.connect(address, namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    sys.stdout.write(json.dumps(await bare_rows(client), indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    asyncio.run(main(parser.parse_args().address))
