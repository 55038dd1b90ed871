"""`partnerships`: drive partnerships from a terminal.

`app` holds the Typer application and its error handling; each module below adds
its commands to it: `charters` (new, check, render, schema), `acting` (every command that sends
an Update), `identity` (login, audit), `views` (status, list, show, tasks, report, doctor, demo), drawn by
`render`.
"""

from partnerships.cli import acting, charters, identity, store, views, what_if  # noqa: F401 (what_if: registers what-if)
from partnerships.cli.app import app, main

__all__ = ["acting", "app", "charters", "identity", "main", "store", "views"]
