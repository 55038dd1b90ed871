"""One step, one record: the store and the outbox stay exact when a step is recorded again,
when Slack is down, and when a store made by an older release is opened."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy
from temporalio.testing import ActivityEnvironment

from activities import Messenger, StepRecorder
from partnerships.adapters.config import Settings
from partnerships.adapters.console import ConsoleNotifier
from partnerships.adapters.email import EmailNotifier, EmailSettings
from partnerships.adapters.notifiers import SlackNotifier
from partnerships.adapters.store import NotificationRow, Store, make_engine
from partnerships.adapters.templates import MessageTexts, TaskList, load_task_templates, make_environment
from partnerships.domain.lifecycle import TaskKind, TimeScale
from partnerships.engine.contracts import CreateTasksInput, Recipient, SendNotificationInput, StepRecord, TaskContext
from tests.fake_slack import CHANNEL_ID, UI_URL, Failure, FakeSlack, web_client

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PARTNERSHIP = "partnership-acme-steps"
OWNERS = [Recipient(name="Dana", email="dana@ourco.example"), Recipient(name="Sam", email="sam@acme.example")]

# Everything here but the last test runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.every_store


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def recorder(settings: Settings, store: Store, slack: FakeSlack) -> tuple[StepRecorder, Messenger]:
    environment = make_environment(settings.templates_dir)
    messenger = Messenger(store, SlackNotifier(web_client(slack), CHANNEL_ID), MessageTexts(environment), UI_URL)
    tasks = TaskList(environment, load_task_templates(settings.templates_dir))
    return StepRecorder(store, tasks, messenger), messenger


def crawl_begins() -> StepRecord:
    """What the workflow records when both sides have signed: Crawl's tasks and two messages."""
    batch = f"{PARTNERSHIP}:crawl-kickoff-1"
    base = {
        "partner": "Acme Analytics",
        "slug": "acme-steps",
        "tier": 2,
        "phase": "crawl",
        "phase_label": "Crawl",
        "awaiting": "the end of Crawl",
        "slack_channel": None,
    }
    return StepRecord(
        partnership_id=PARTNERSHIP,
        chain_id="one-run",
        new_tasks=[
            CreateTasksInput(
                batch_key=batch,
                kind=TaskKind.CRAWL_KICKOFF,
                partnership_id=PARTNERSHIP,
                context=TaskContext(
                    partner="Acme Analytics",
                    slug="acme-steps",
                    phase_label="Crawl",
                    pilot_customers=2,
                    invited_customers=10,
                    metric="report build time",
                    quarter=0,
                    owners={"us": "dana@ourco.example", "partner": "sam@acme.example"},
                ),
                created_at=NOW,
                time_scale=TimeScale(),
            )
        ],
        notifications=[
            SendNotificationInput(
                key=f"{PARTNERSHIP}:charter-signed",
                kind="charter-ready",
                partnership_id=PARTNERSHIP,
                audience=OWNERS,
                context=base,
                sent_at=NOW,
            ),
            SendNotificationInput(
                key=f"{batch}:sent",
                kind="tasks",
                partnership_id=PARTNERSHIP,
                audience=OWNERS,
                context={**base, "task_kind": TaskKind.CRAWL_KICKOFF.value},
                sent_at=NOW,
                task_batch=batch,
            ),
        ],
    )


def posted_keys(slack: FakeSlack) -> list[str]:
    return [m["metadata"]["event_payload"]["key"] for m in slack.posted(CHANNEL_ID)]


def test_a_step_recorded_twice_writes_and_sends_everything_once(
    settings: Settings, store: Store, slack: FakeSlack
) -> None:
    steps, _ = recorder(settings, store, slack)
    step = crawl_begins()

    first = ActivityEnvironment().run(steps.record_step, step)
    again = ActivityEnvironment().run(steps.record_step, step)  # a retry after the worker died

    assert first.tasks and first.tasks == again.tasks
    assert len(store.tasks()) == len(first.tasks)
    assert posted_keys(slack) == [n.key for n in step.notifications]
    assert first.undelivered == again.undelivered == 0
    # The tasks message lists the tasks the same step created.
    listed = slack.posted(CHANNEL_ID)[1]["text"] + str(slack.posted(CHANNEL_ID)[1]["blocks"])
    assert all(task.title in listed for task in first.tasks)


def test_messages_slack_refuses_wait_in_the_outbox_and_go_out_in_order_later(
    settings: Settings, store: Store, slack: FakeSlack
) -> None:
    steps, messenger = recorder(settings, store, slack)
    step = crawl_begins()
    slack.fail_next("chat.postMessage", Failure("http500"))

    recorded = ActivityEnvironment().run(steps.record_step, step)

    # The store write went through; both messages wait, the second behind the first.
    assert recorded.tasks and len(store.tasks()) == len(recorded.tasks)
    assert recorded.undelivered == 2 and recorded.notifier_misconfigured is None
    assert posted_keys(slack) == []
    assert [n.status for n in store.notifications(PARTNERSHIP)] == ["pending", "pending"]
    # The first was tried (Slack may have posted it); the second never was, so its count is taken back.
    assert [n.attempts for n in store.notifications(PARTNERSHIP)] == [1, 0]

    sent = ActivityEnvironment().run(messenger.deliver_pending_notifications, PARTNERSHIP)

    assert sent == 2
    assert posted_keys(slack) == [n.key for n in step.notifications]
    assert [(n.status, n.attempts) for n in store.notifications(PARTNERSHIP)] == [("delivered", 2), ("delivered", 1)]
    assert ActivityEnvironment().run(messenger.deliver_pending_notifications, PARTNERSHIP) == 0


def test_a_steps_messages_cost_the_store_two_commits_however_many_there_are(
    settings: Settings, store: Store, slack: FakeSlack
) -> None:
    # Writers queue for the store one at a time: each commit more is latency for every Update.
    steps, _ = recorder(settings, store, slack)
    step = crawl_begins()
    commits = []
    for engine in store.engines:
        sqlalchemy.event.listen(engine, "commit", lambda _connection: commits.append(1))

    ActivityEnvironment().run(steps.record_step, step)

    assert len(step.notifications) == 2 and posted_keys(slack) == [n.key for n in step.notifications]
    # The step's rows with the attempts counted; the deliveries marked.
    assert len(commits) == 2
    assert [(n.status, n.attempts) for n in store.notifications(PARTNERSHIP)] == [("delivered", 1), ("delivered", 1)]


def test_a_step_that_waits_behind_the_outbox_claims_nothing_and_reports_what_waits(
    settings: Settings, store: Store, slack: FakeSlack
) -> None:
    steps, _ = recorder(settings, store, slack)
    step = crawl_begins().model_copy(update={"deliver": False})

    recorded = ActivityEnvironment().run(steps.record_step, step)

    assert recorded.undelivered == 2 and posted_keys(slack) == []
    assert [(n.status, n.attempts) for n in store.notifications(PARTNERSHIP)] == [("pending", 0), ("pending", 0)]


def test_a_misconfigured_notifier_is_reported_and_its_messages_kept(
    settings: Settings, store: Store, slack: FakeSlack
) -> None:
    steps, _ = recorder(settings, store, slack)
    slack.fail_next("chat.postMessage", Failure("invalid_auth"))

    recorded = ActivityEnvironment().run(steps.record_step, crawl_begins())

    assert recorded.notifier_misconfigured is not None and "SLACK_BOT_TOKEN" in recorded.notifier_misconfigured
    assert [n.status for n in store.notifications(PARTNERSHIP)] == ["pending", "pending"]


def test_a_store_made_by_an_older_release_gains_the_new_columns(settings: Settings) -> None:
    engine = sqlalchemy.create_engine(settings.store_url)
    with engine.begin() as connection:
        # The notifications table as the first release made it: no context_json.
        connection.execute(
            sqlalchemy.text(
                "CREATE TABLE notifications (key VARCHAR PRIMARY KEY, partnership_id VARCHAR, kind VARCHAR,"
                " audience VARCHAR, subject VARCHAR, body VARCHAR, notifier VARCHAR, status VARCHAR,"
                " attempts INTEGER, created_at TIMESTAMP, delivered_at TIMESTAMP, delivery_ref VARCHAR)"
            )
        )
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO notifications VALUES ('old', 'p', 'tasks', 'a', 's', 'b', 'console', 'delivered', 1,"
                " '2026-01-01 00:00:00', NULL, NULL)"
            )
        )
    engine.dispose()

    store = Store(make_engine(settings.store_url))

    old = store.notification("old")
    assert old is not None and old.status == "delivered" and old.context_json is None
    assert old.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    columns = {c["name"] for c in sqlalchemy.inspect(store.engine).get_columns(NotificationRow.__tablename__)}
    assert "context_json" in columns
    # Its time columns hold no time zone: a new row's times are still UTC, whatever the server's zone.
    new = NotificationRow(
        key="new",
        partnership_id="p",
        kind="tasks",
        audience="a",
        subject="s",
        body="b",
        notifier="console",
        created_at=NOW,
    )
    assert store.insert_once(new)
    stored = store.notification("new")
    assert stored is not None and stored.created_at == NOW
    store.engine.dispose()


def test_a_person_in_two_roles_gets_one_email_and_the_step_is_written(settings: Settings, store: Store) -> None:
    """Dana is decision owner and reviewer: a message to everyone emails her once (it once broke
    the step on the outbox's unique key, and the wind-down then closed without its tasks)."""
    environment = make_environment(settings.templates_dir)
    email = EmailNotifier(EmailSettings(SMTP_HOST="127.0.0.1"))
    messenger = Messenger(store, ConsoleNotifier(io.StringIO()), MessageTexts(environment), UI_URL, email=email)
    step = crawl_begins()
    step.notifications[0].audience = [*OWNERS, OWNERS[0]]
    step.notifications = step.notifications[:1]
    StepRecorder(store, TaskList(environment, load_task_templates(settings.templates_dir)), messenger).write(step)
    rows = {(n.key, n.notifier, n.audience) for n in store.notifications(PARTNERSHIP)}
    key = f"{PARTNERSHIP}:charter-signed"
    assert rows == {
        (key, "console", "dana@ourco.example, sam@acme.example, dana@ourco.example"),
        (f"{key}:email:dana@ourco.example", "email", "dana@ourco.example"),
        (f"{key}:email:sam@acme.example", "email", "sam@acme.example"),
    }


# Several workers share a store only on PostgreSQL (a SQLite store belongs to one machine's worker).
@pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True)
def test_workers_opening_a_new_store_at_the_same_moment_all_start(settings: Settings) -> None:
    """Workers started together on an empty database each create the tables: one at a time."""
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            make_engine(settings.store_url).dispose()
        except BaseException as error:  # every failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(barrier.parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    store = Store(make_engine(settings.store_url))
    assert store.partnerships() == [] and store.notifications() == []
    store.engine.dispose()


def test_only_the_delivery_marks_skip_waiting_for_the_disk(store: Store) -> None:
    """However durable and quick writes alternate, only the quick ones skip the disk (on SQLite
    each kind has connections of its own; on PostgreSQL a transaction says so)."""

    def waits_for_disk(durable: bool) -> bool:
        with store.writing(durable=durable) as session:
            connection = session.connection()
            if store.engine.dialect.name == "sqlite":
                return connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            return connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"

    assert [waits_for_disk(d) for d in (False, True, False, True)] == [False, True, False, True]
