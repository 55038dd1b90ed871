"""Every side effect of the engine: a step written to the store, and the outbox delivered."""

from activities.notifications import Messenger
from activities.steps import StepRecorder

__all__ = ["Messenger", "StepRecorder"]
