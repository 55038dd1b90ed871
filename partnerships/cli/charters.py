"""`partnerships charter …`: write a new one from the template, check, render, print the schema."""

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
    """Validate a charter: every problem, one line each.

    Then the framework's warnings."""
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
    """Render a charter as Markdown.

    With the template in charters/charter.md.j2."""
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


@charter_app.command("new")
@handles_errors
def charter_new(
    file: Annotated[Path, typer.Argument(help="Where to write the new charter (a .yaml file).", show_default=False)],
    tier: Annotated[
        int | None,
        typer.Option(
            help="The tier: 1 integration (self-serve), 2 partnership (joint development), "
            "3 strategic (co-development). Without it the template asks.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a commented charter template to fill in.

    Fill in every <FILL IN …>, then `partnerships charter check FILE`."""
    from partnerships.adapters.charter_reference import SCHEMA_NAME, charter_template
    from partnerships.domain.vocabulary import Tier

    if tier is not None and tier not in {int(t) for t in Tier}:
        raise UserError([f"--tier: {tier} is not a tier ({', '.join(str(int(t)) for t in Tier)})"])
    if not file.parent.is_dir():
        raise UserError([f"{file.parent}: no such directory"])
    try:
        with file.open("w" if force else "x", encoding="utf-8") as written:
            written.write(charter_template(tier))
    except FileExistsError:
        raise UserError([f"{file}: already exists; choose another name, or --force to overwrite it"]) from None
    except OSError as error:
        raise UserError([f"{file}: cannot be written ({error.strerror or type(error).__name__})"]) from None
    out.print(
        f"wrote {escape(str(file))}: fill in every <FILL IN …>, then `partnerships charter check {escape(str(file))}`"
    )
    schema = file.parent / SCHEMA_NAME
    if not schema.is_file():
        out.print(f"  editors check it as you type with `partnerships charter schema -o {escape(str(schema))}`")


@charter_app.command("schema")
@handles_errors
def charter_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    model: Annotated[
        bool,
        typer.Option(
            "--model",
            help="The model's own schema: a charter after people.yaml has filled in its people "
            "(by default: the file as written, where a person may be an email alone).",
        ),
    ] = False,
) -> None:
    """Print the charter's JSON Schema, for editors.

    A charter whose first line is `# yaml-language-server: $schema=./charter.schema.json`
    gets completion and checks in editors that read it."""
    from partnerships.adapters.charter_reference import file_schema, schema_text
    from partnerships.domain.charter import Charter

    text = schema_text(Charter.model_json_schema() if model else file_schema())
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError([f"{output}: cannot be written ({error.strerror or type(error).__name__})"]) from None
    out.print(f"wrote {escape(str(output))}")


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
