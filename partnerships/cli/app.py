"""`partnerships`: drive partnerships from a terminal.

Commands parse, call `partnerships.service`, and print. A person's mistake gets
one line per problem and exit code 1, never a traceback (unless --debug).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from temporalio.client import Client
from temporalio.service import RPCError

from partnerships.adapters.config import Settings
from partnerships.adapters.temporal_client import TemporalUnreachable, make_client

if TYPE_CHECKING:
    from partnerships.engine.contracts import PartnershipStatus

# The store (sqlalchemy), templates and report renderer are imported inside the commands
# that use them: `list` and the Updates stay as quick to start as the bare SDK.

# Plain (click) help: it wraps to any terminal width, where Rich's panels cut long option names.
app = typer.Typer(
    help="Run crawl-walk-run partnerships on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
charter_app = typer.Typer(help="Write, check and render charters; print their JSON Schema.", no_args_is_help=True)
record_app = typer.Typer(
    help="Record evidence for a gate.\n\nCrawl pilot results, Walk adoption, a QBR scorecard.",
    no_args_is_help=True,
)
task_app = typer.Typer(help="Work on tasks.", no_args_is_help=True)
store_app = typer.Typer(help="The engine's store.\n\nThe read model of every partnership.", no_args_is_help=True)
app.add_typer(charter_app, name="charter")
app.add_typer(record_app, name="record")
app.add_typer(task_app, name="task")
app.add_typer(store_app, name="store")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_debug = {"on": False}

T = TypeVar("T")

Reference = Annotated[str, typer.Argument(help="Partnership slug or workflow id.", show_default=False)]
As = Annotated[
    str,
    typer.Option(
        "--as",
        help="Which person in the charter you are (your email); your key proves it.",
        envvar="PARTNERSHIPS_USER",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class UserError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _fail(problems: list[str]) -> None:
    for problem in problems:
        err.print(f"[red]error:[/red] {escape(problem)}")
    raise typer.Exit(1)


def handles_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn the errors a person can cause into one line each and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as error:
            if _debug["on"]:
                raise
            _fail(_explain(error))
            raise  # unreachable: _fail exits

    return wrapper


def _explain(error: Exception) -> list[str]:
    from partnerships.adapters.charter_file import CharterError, format_validation_error
    from partnerships.service import commands as service

    if isinstance(error, UserError | CharterError):
        return error.problems
    if isinstance(error, service.Refused):
        return error.problems
    if isinstance(error, ValidationError):
        return format_validation_error(error)
    if isinstance(error, TemporalUnreachable):
        return [f"{error}; is the server running? (`make server`, or set TEMPORAL_ADDRESS)"]
    if isinstance(error, RPCError):
        return [
            f"Temporal at {Settings().temporal_address} refused the call ({error.message.splitlines()[0][:160]}); "
            "is the server running? (`make server`, or set TEMPORAL_ADDRESS)"
        ]
    return [f"{type(error).__name__}: {error} (run with --debug for the traceback)"]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def connect() -> Client:
    return await make_client(Settings())


async def current_status(reference: str) -> PartnershipStatus:
    from partnerships.service import commands as service

    return await service.status(await connect(), reference)


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.", envvar="PARTNERSHIPS_DEBUG")] = False,
) -> None:
    _debug["on"] = debug


def main() -> None:
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal client's native threads can outlive a short command and crash the
    # interpreter's shutdown (sdk-python #300); everything is printed, so leave at once.
    os._exit(code)
