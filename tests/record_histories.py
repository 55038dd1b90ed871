"""Record the histories the replay tests check (`make histories`).

Runs the workflow tests that keep a history, with RECORD_HISTORIES=1, against a dev
server they start themselves. Until the first release the new histories replace the old
ones in the same commit (README: versioning).
"""

from __future__ import annotations

import os
import sys

import pytest

RECORDING_TESTS = [
    "tests/integration/test_lifecycle_workflow.py",
    "tests/integration/test_gate_decisions.py",
    "tests/integration/test_charter_signing.py",
    "tests/integration/test_verified_acts.py",
    "tests/integration/test_gate_governance.py",
]


def main() -> int:
    os.environ["RECORD_HISTORIES"] = "1"
    return int(pytest.main(["-q", *RECORDING_TESTS]))


if __name__ == "__main__":
    sys.exit(main())
