"""`partnerships charter …`: check and render charters."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from partnerships.adapters.config import Settings
from partnerships.cli.app import UserError, charter_app, handles_errors, out

if TYPE_CHECKING:
    from partnerships.domain.charter import Charter


@charter_app.command("check")
@handles_errors
def charter_check(file: Annotated[Path, typer.Argument(help="Charter YAML file.")]) -> None:
    """Validate a charter: every problem at once, one line per field; then the framework's warnings."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.domain.charter import charter_warnings

    charter = load_charter(file)
    out.print(
        f"[green]✓[/green] {file}: a valid charter for [bold]{charter.partner.name}[/bold] "
        f"(tier {int(charter.tier)}, {charter.leverage_strength.value} leverage, workflow {charter.workflow_id})"
    )
    out.print(f"  content hash {charter.content_hash()} (what both sides sign)")
    _check_slack_ids(charter)
    for warning in charter_warnings(charter):
        style = "bold red" if warning.loud else "yellow"
        out.print(f"[{style}]warning:[/{style}] {warning.field}: {escape(warning.message)}")


@charter_app.command("render")
@handles_errors
def charter_render(
    file: Annotated[Path, typer.Argument(help="Charter YAML file.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Render a charter as Markdown with the template in charters/charter.md.j2."""
    from partnerships.adapters.charter_file import load_charter
    from partnerships.domain.charter import charter_warnings

    charter = load_charter(file)
    from partnerships.adapters.templates import make_environment

    environment = make_environment(Settings().templates_dir)
    text = environment.get_template("charter.md.j2").render(c=charter, warnings=charter_warnings(charter))
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


def _check_slack_ids(charter: Charter) -> None:
    """With Slack configured, each Slack id of our workspace must be its person's (users.lookupByEmail)."""
    from partnerships.adapters.slack.directory import slack_id_problems
    from partnerships.adapters.slack.notifier import make_web_client
    from partnerships.adapters.slack.settings import SlackSettings

    slack = SlackSettings()
    if not slack.enabled:
        return
    problems, notes = slack_id_problems(charter, make_web_client(slack))
    for note in notes:
        out.print(f"[dim]note:[/dim] {escape(note)}")
    if problems:
        raise UserError(problems)
