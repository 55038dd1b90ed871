"""The doors configured on this machine, which a partnership started here will trust."""

from __future__ import annotations

from partnerships.adapters.links import LinkSettings
from partnerships.adapters.slack.settings import SlackSettings
from partnerships.engine.proofs import Doors


def configured_doors(slack: SlackSettings | None = None, links: LinkSettings | None = None) -> Doors:
    """The Slack app's and the link door's public keys, from their key files or public-key settings."""
    slack_key = (slack or SlackSettings()).door_public_key()
    link_key = (links or LinkSettings()).door_key()
    return Doors(slack=[slack_key] if slack_key else [], link=[link_key] if link_key else [])
