"""Create tasks from the editable templates in `charters/tasks.yaml`, and close them."""

from __future__ import annotations

from jinja2 import Environment
from sqlmodel import Session, select
from temporalio import activity

from partnerships.contracts import ActivityName, CloseTasksInput, CreatedTasks, CreateTasksInput
from partnerships.domain.lifecycle import TaskKind, TaskRef
from partnerships.store import Store, TaskRow
from partnerships.templates import TaskTemplate


class TaskDesk:
    def __init__(self, store: Store, environment: Environment, templates: dict[TaskKind, list[TaskTemplate]]):
        self._store = store
        self._environment = environment
        self._templates = templates

    def task_rows(self, request: CreateTasksInput) -> list[tuple[TaskRef, TaskRow]]:
        """The batch's tasks as the templates make them; ids are the batch key and the template key."""
        context = request.context.model_dump()
        made = []
        for template in self._templates.get(request.kind, []):
            owner = request.context.owners[template.owner]
            task = TaskRef(
                id=f"{request.batch_key}:{template.key}",
                kind=request.kind,
                title=self._environment.from_string(template.title).render(context).strip(),
                owner=owner,
                due_at=request.created_at + request.time_scale.weeks(template.due_in_weeks),
            )
            row = TaskRow(
                id=task.id,
                partnership_id=request.partnership_id,
                kind=request.kind.value,
                title=task.title,
                description=self._environment.from_string(template.description).render(context).strip(),
                owner=owner,
                created_at=request.created_at,
                due_at=task.due_at,
            )
            made.append((task, row))
        return made

    @activity.defn(name=ActivityName.CREATE_TASKS)
    def create_tasks(self, request: CreateTasksInput) -> CreatedTasks:
        made = self.task_rows(request)
        for _, row in made:
            self._store.insert_once(row)
        return CreatedTasks(tasks=[task for task, _ in made])

    @activity.defn(name=ActivityName.CLOSE_TASKS)
    def close_tasks(self, request: CloseTasksInput) -> int:
        with self._store.writing() as session:
            changed = close_task_rows(session, request)
            session.commit()
            return changed


def close_task_rows(session: Session, request: CloseTasksInput) -> int:
    """Close the open ones among the named tasks; a task already closed keeps how it was closed."""
    rows = session.exec(select(TaskRow).where(TaskRow.id.in_(request.task_ids)))  # type: ignore[attr-defined]
    changed = 0
    for row in rows:
        if row.status == "open":
            row.status, row.closed_at, row.closed_by = request.status, request.at, request.by
            session.add(row)
            changed += 1
    return changed
