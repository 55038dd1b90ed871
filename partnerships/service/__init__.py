"""What every door (CLI, Slack app, demo, tests) does to partnerships, over a Temporal client.

`commands` starts, updates and queries workflows; `portfolio_query` lists them from
Temporal's visibility; `record` merges a workflow's state with the store's history;
`report` loads the portfolio report's facts; `doctor` checks the configuration.
Kept empty so `partnerships list` loads only the portfolio query.
"""
