"""Pure rules, views and recorded-history replays: no server, no store (seconds)."""
