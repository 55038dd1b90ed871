"""Every side effect of the engine: the store, tasks and notifications."""

from activities.notifications import Messenger
from activities.records import RecordKeeping
from activities.tasks import TaskDesk

__all__ = ["Messenger", "RecordKeeping", "TaskDesk"]
