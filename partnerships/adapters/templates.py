"""Editable templates in `charters/`: charter renderings, task lists, notification texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, Field

from partnerships.domain.lifecycle import TaskKind, TaskRef
from partnerships.engine.contracts import CreateTasksInput
from partnerships.engine.ports import NewTask


class TaskTemplate(BaseModel):
    key: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    description: str = ""
    owner: str = Field(pattern=r"^(us|partner)$")
    due_in_weeks: float = Field(ge=0, le=52)


def make_environment(templates_dir: Path) -> Environment:
    # Sandboxed: templates are edited by users of the tool, not by its developers.
    return SandboxedEnvironment(
        loader=FileSystemLoader(templates_dir),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def load_task_templates(templates_dir: Path) -> dict[TaskKind, list[TaskTemplate]]:
    raw = yaml.safe_load((templates_dir / "tasks.yaml").read_text(encoding="utf-8"))
    return {TaskKind(kind): [TaskTemplate.model_validate(t) for t in tasks] for kind, tasks in raw.items()}


class TaskList:
    """Tasks from `charters/tasks.yaml`, their titles and descriptions rendered with Jinja2."""

    def __init__(self, environment: Environment, templates: dict[TaskKind, list[TaskTemplate]]) -> None:
        self._environment = environment
        self._templates = templates
        # Compiled once: compiling a title or description took longer than writing the step's rows.
        self._compiled: dict[str, Template] = {}

    def _render(self, text: str, context: dict[str, Any]) -> str:
        template = self._compiled.get(text)
        if template is None:
            template = self._compiled[text] = self._environment.from_string(text)
        return template.render(context).strip()

    def tasks_for(self, request: CreateTasksInput) -> list[NewTask]:
        context = request.context.model_dump()
        made = []
        for condition in request.conditions:
            ref = TaskRef(
                id=condition.id,
                kind=request.kind,
                title=condition.title,
                owner=condition.owner,
                due_at=condition.due_at,
            )
            description = (
                f"A condition of the go at the {request.context.phase_label} gate: "
                "the next gate fails while it is open."
            )
            made.append(
                NewTask(
                    ref=ref,
                    partnership_id=request.partnership_id,
                    description=description,
                    created_at=request.created_at,
                )
            )
        for template in self._templates.get(request.kind, []):
            ref = TaskRef(
                id=f"{request.batch_key}:{template.key}",
                kind=request.kind,
                title=self._render(template.title, context),
                owner=request.context.owners[template.owner],
                due_at=request.created_at + request.time_scale.weeks(template.due_in_weeks),
            )
            description = self._render(template.description, context)
            made.append(
                NewTask(
                    ref=ref,
                    partnership_id=request.partnership_id,
                    description=description,
                    created_at=request.created_at,
                )
            )
        return made


class MessageTexts:
    """Message texts from `charters/messages/<kind>.md.j2`: the first line is the subject."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    def render(self, kind: str, facts: dict[str, Any], link: str) -> tuple[str, str]:
        text = self._environment.get_template(f"messages/{kind}.md.j2").render(**facts, link=link)
        subject, _, body = text.strip().partition("\n")
        return subject.strip(), body.strip()
