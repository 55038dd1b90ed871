"""The partnership rules: charter, gates and lifecycle. Pure Python, no infrastructure."""
