"""Every side effect of the engine: the store, tasks and notifications."""

from activities.notifications import Messenger
from activities.records import RecordKeeping
from activities.steps import StepRecorder
from activities.tasks import TaskDesk

__all__ = ["Messenger", "RecordKeeping", "StepRecorder", "TaskDesk"]
