"""Settings come from the environment, by the variable names the README lists, and nowhere else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from partnerships.adapters.config import Settings
from partnerships.adapters.email import EmailSettings, SmtpSecurity
from partnerships.adapters.links import LinkSettings
from partnerships.adapters.slack.settings import SlackSettings
from partnerships.cli import app


def test_each_setting_is_read_from_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_TLS", "true")
    monkeypatch.setenv("PARTNERSHIPS_METRICS_PORT", "9464")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://engine@db/partnerships")
    monkeypatch.setenv("SMTP_SECURITY", "tls")
    monkeypatch.setenv("PARTNERSHIPS_LINK_HOURS", "24")
    monkeypatch.setenv("SLACK_PORT", "3100")

    settings = Settings()

    assert settings.temporal_address == "temporal.internal:7233"
    assert settings.temporal_tls is True
    assert settings.metrics_port == 9464
    assert settings.store_url == "postgresql+psycopg://engine@db/partnerships"
    assert EmailSettings().security is SmtpSecurity.TLS
    assert LinkSettings().hours == 24
    assert SlackSettings().port == 3100


def test_a_value_given_in_code_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "from-the-environment:7233")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")

    assert Settings(TEMPORAL_ADDRESS="given:7233").temporal_address == "given:7233"
    assert not SlackSettings(SLACK_BOT_TOKEN=None).enabled


def test_names_are_case_sensitive_as_the_environment_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("temporal_address", "lower-case:7233")

    assert Settings().temporal_address == "127.0.0.1:7233"


def test_secrets_never_show_in_the_settings_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "tmprl-s3cr3t")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s1gning-s3cr3t")
    monkeypatch.setenv("PARTNERSHIPS_LINK_SECRET", "l1nk-s3cr3t-of-16-or-more")

    shown = " ".join(repr(s) + str(s.model_dump()) for s in (Settings(), SlackSettings(), LinkSettings()))

    assert "s3cr3t" not in shown


def test_a_bad_value_is_refused_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNERSHIPS_METRICS_PORT", "0")

    with pytest.raises(ValidationError) as refused:
        Settings()

    assert [error["loc"] for error in refused.value.errors()] == [("PARTNERSHIPS_METRICS_PORT",)]


def test_the_cli_reports_a_bad_setting_in_one_line_without_a_traceback() -> None:
    result = CliRunner().invoke(app, ["list", "--json"], env={"PARTNERSHIPS_LOG_FORMAT": "yaml"})

    assert result.exit_code != 0
    problem_lines = [line for line in result.output.splitlines() if "PARTNERSHIPS_LOG_FORMAT" in line]
    assert len(problem_lines) == 1 and "'text' or 'json'" in problem_lines[0]
    assert "Traceback" not in result.output
