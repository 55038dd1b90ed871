"""Editable templates in `charters/`: charter renderings, task lists, notification texts."""

from __future__ import annotations

from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, Field

from partnerships.domain.lifecycle import TaskKind


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
