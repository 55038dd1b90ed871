"""Errors every door (CLI, Slack, tests) shows to people as they are."""

from __future__ import annotations


class Refused(Exception):
    """A request the engine turned down. The message is for people: one line per problem."""
