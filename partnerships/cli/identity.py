"""Who you are to the engine: `login` makes or adopts your key, `keys` changes the keys a
partnership holds, `audit` re-checks everyone's acts.

A command that acts signs its request with your key; the workflow accepts it only when the
charter lists that key for the person the request names (`--as`). See the README's
"Who can act, and how".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from partnerships.adapters.config import Settings
from partnerships.cli.app import As, JsonFlag, Reference, UserError, app, connect, handles_errors, out, run_async

if TYPE_CHECKING:
    from temporalio.client import WorkflowHistory

    from partnerships.adapters.keys import SigningKey


def key_file(settings: Settings) -> Path:
    from partnerships.adapters.keys import default_key_file

    return settings.key_file or default_key_file()


def your_key(settings: Settings) -> SigningKey:
    """The key this terminal signs with; one line saying what to do when there is none."""
    from partnerships.adapters.keys import KeyProblem, SigningKey

    path = key_file(settings)
    if not path.exists():
        raise UserError(
            [f"key: no key at {path}; run `partnerships login` and put the key it prints in the charter beside you"]
        )
    try:
        return SigningKey.load(path)
    except KeyProblem as problem:
        raise UserError([f"key: {problem}"]) from None


@app.command()
@handles_errors
def login(
    adopt: Annotated[
        Path | None,
        typer.Option("--adopt", help="Use this existing ed25519 private key (e.g. ~/.ssh/id_ed25519) instead."),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Where to keep the key (default ~/.config/partnerships/id_ed25519)."),
    ] = None,
    comment: Annotated[str, typer.Option("--comment", help="A note at the end of the public key line.")] = "",
) -> None:
    """Make (or adopt) your signing key.

    Prints the public key line to put in charters."""
    from partnerships.adapters.keys import KeyProblem, SigningKey
    from partnerships.engine.proofs import key_fingerprint

    settings = Settings()
    path = key or key_file(settings)
    try:
        if adopt is not None:
            signing = SigningKey.load(adopt)
            where = f"adopted {adopt}"
            if key is not None or settings.key_file is not None:
                where += f"; set PARTNERSHIPS_KEY_FILE={adopt} to sign with it"
            elif not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                path.symlink_to(adopt.resolve())
                where += f" (linked from {path})"
        elif path.exists():
            signing = SigningKey.load(path)
            where = f"already there: {path}"
        else:
            signing = SigningKey.generate(comment)
            signing.save(path)
            where = f"created {path} (readable only by you)"
    except KeyProblem as problem:
        raise UserError([f"key: {problem}"]) from None
    out.print(f"[green]✓[/green] {escape(where)}")
    out.print(f"  fingerprint {key_fingerprint(signing.public_line)}")
    out.print("  Put this line under `keys:` beside your email in each charter you act on:")
    print(signing.public_line)


@app.command()
@handles_errors
def audit(
    reference: Reference,
    history: Annotated[
        Path | None, typer.Option("--history", help="Audit a saved history (JSON) instead of the server's.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-check every act on a partnership from its history.

    Who, when, through which door, with which key."""
    import json

    from temporalio.client import WorkflowHistory

    from partnerships.service import audit as audits
    from partnerships.service.commands import workflow_id_of

    if history is not None:
        try:
            runs = [WorkflowHistory.from_json(workflow_id_of(reference), history.read_text(encoding="utf-8"))]
        except (OSError, ValueError) as error:
            raise UserError([f"history: {history} cannot be read as a workflow history ({error})"]) from None
    else:
        runs = run_async(_fetch(reference))
    acts = audits.audit(runs)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "at": a.at.isoformat(),
                        "act": a.update,
                        "by": a.actor,
                        "door": a.door,
                        "signed_with": a.signed_with,
                        "holds": a.holds,
                        "problems": a.problems,
                    }
                    for a in acts
                ],
                indent=2,
            )
        )
    else:
        table = Table("when (UTC)", "act", "by", "door", "signed with", "proof")
        for a in acts:
            verdict = "[green]holds[/green]" if a.holds else f"[red]FAILS[/red]: {escape('; '.join(a.problems))}"
            table.add_row(f"{a.at:%Y-%m-%d %H:%M:%S}", a.update, escape(a.actor), a.door, a.signed_with, verdict)
        out.print(table)
        failed = sum(not a.holds for a in acts)
        out.print(f"{len(acts)} acts, {failed} whose proof fails")
    if any(not a.holds for a in acts):
        raise typer.Exit(2)


async def _fetch(reference: str) -> list[WorkflowHistory]:
    from partnerships.service import audit as audits

    return await audits.histories(await connect(), reference)


keys_app = typer.Typer(help="Add or revoke a person's keys.\n\nEach change is a signed act, in the record.")
app.add_typer(keys_app, name="keys")
KeyLine = Annotated[str, typer.Argument(help="The public key line, as `partnerships login` prints it.")]
For = Annotated[
    str | None, typer.Option("--for", help="Whose keys change (default: yours). Others' only as our decision owner.")
]


@keys_app.command("add")
@handles_errors
def keys_add(reference: Reference, key_line: KeyLine, who: As, person: For = None) -> None:
    """Add a key (a new laptop).

    Signed with a key the partnership already holds."""
    from partnerships.cli.acting import send_update
    from partnerships.domain.lifecycle import KeyChangeRequest
    from workflows import PartnershipWorkflow

    send_update(
        reference, PartnershipWorkflow.change_keys, KeyChangeRequest(by=who, person=person or who, add=key_line)
    )


@keys_app.command("revoke")
@handles_errors
def keys_revoke(reference: Reference, key_line: KeyLine, who: As, person: For = None) -> None:
    """Revoke a key (lost, or someone left).

    It signs nothing on this partnership from now on."""
    from partnerships.cli.acting import send_update
    from partnerships.domain.lifecycle import KeyChangeRequest
    from workflows import PartnershipWorkflow

    send_update(
        reference, PartnershipWorkflow.change_keys, KeyChangeRequest(by=who, person=person or who, revoke=key_line)
    )
