"""The engine on a real Temporal dev server, a real SQLite store and a local Slack stand-in."""
