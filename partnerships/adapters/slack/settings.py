"""Slack configuration, from the environment only: tokens never live in files or logs."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from partnerships.adapters.config import FromEnvironment

DEFAULT_PORT = 3000
EVENTS_PATH = "/slack/events"


class SlackSettings(FromEnvironment):
    """Which Slack workspace and channel the engine talks to, and how Slack reaches it.

    The bot token turns Slack notifications on. The app token selects Socket Mode;
    without it the app serves Slack's HTTP request URLs, verified with the signing secret.
    """

    bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    channel: str | None = Field(None, validation_alias="SLACK_CHANNEL")
    api_url: str | None = Field(None, validation_alias="SLACK_API_URL")
    port: int = Field(DEFAULT_PORT, validation_alias="SLACK_PORT")
    # The private key the app signs clicks with after checking Slack's signature: the Slack
    # door's word, which partnerships started with its public key take (`partnerships login --key FILE`).
    door_key_file: Path | None = Field(None, validation_alias="PARTNERSHIPS_SLACK_DOOR_KEY_FILE")
    # Where the Slack app runs elsewhere: its door's public key, for `partnerships start` here.
    door_key_line: str | None = Field(None, validation_alias="PARTNERSHIPS_SLACK_DOOR_PUBLIC_KEY")

    def door_public_key(self) -> str | None:
        """The door's public key line: configured, or read from its key file; None without one."""
        from partnerships.adapters.keys import door_public_key

        return door_public_key(self.door_key_line, self.door_key_file)

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None and bool(self.bot_token.get_secret_value())

    @property
    def base_url(self) -> str | None:
        """The Web API's address; tests point it at a local fake. Always ends with a slash."""
        if not self.api_url:
            return None
        return self.api_url if self.api_url.endswith("/") else f"{self.api_url}/"
