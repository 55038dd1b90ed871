"""`partnerships store rebuild`: the read model written again from Temporal's histories."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from partnerships.adapters.config import Settings
from partnerships.cli.app import connect, handles_errors, out, run_async, store_app


@store_app.command("rebuild")
@handles_errors
def rebuild(
    only: Annotated[str | None, typer.Option("--only", help="Only this partnership (slug or workflow id).")] = None,
) -> None:
    """Write the store again from Temporal (safe twice).

    Partnerships, gate reviews, tasks and the outbox."""
    from activities import Messenger, StepRecorder
    from partnerships.adapters.store import Store, make_engine
    from partnerships.adapters.templates import MessageTexts, TaskList, load_task_templates, make_environment
    from partnerships.service import commands as service
    from partnerships.service import rebuild as rebuilding

    settings = Settings()
    store = Store(make_engine(settings.store_url))
    environment = make_environment(settings.templates_dir)
    ui_url = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
    messenger = Messenger(store, rebuilding.NothingSent(), MessageTexts(environment), ui_url)
    recorder = StepRecorder(store, TaskList(environment, load_task_templates(settings.templates_dir)), messenger)

    async def go() -> rebuilding.Rebuilt:
        workflow_id = service.workflow_id_of(only) if only else None
        return await rebuilding.rebuild(await connect(), store, recorder, only=workflow_id)

    result = run_async(go())
    out.print(
        f"[green]✓[/green] rebuilt {len(result.partnerships)} partnership(s) from {result.runs} run(s): "
        f"{result.steps} step(s) written, {result.settled_messages} message(s) marked delivered (not sent again)"
    )
    for problem in result.problems:
        out.print(f"[yellow]skipped:[/yellow] {escape(problem)}")
