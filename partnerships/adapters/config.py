"""Configuration from the environment, read once per process, never inside workflows."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_QUEUE = "partnerships"
EMBEDDED_TEMPORAL_ADDRESS = "127.0.0.1:7233"
EMBEDDED_UI_URL = "http://127.0.0.1:8233"


class FromEnvironment(BaseModel):
    """Settings read from the environment variables their fields' aliases name; keyword arguments win.

    A plain pydantic model over `os.environ` rather than pydantic-settings: it validates the
    same, and every command starts about 80 ms sooner without pydantic-settings' dotenv, cloud
    and command-line sources, which nothing here uses (the bench's `list` figure counts start-up).
    Names are case-sensitive, as the environment is.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def __init__(self, **values: Any) -> None:
        # Only the variables the fields name: a variable spelt like a field (`data_dir`) is not one.
        present = {name: os.environ[name] for name in type(self).environment_names() if name in os.environ}
        super().__init__(**{**present, **values})

    @classmethod
    @functools.cache
    def environment_names(cls) -> frozenset[str]:
        """The variables this class reads: its fields' aliases (a class's fields never change)."""
        names: set[str] = set()
        for field in cls.model_fields.values():
            alias = field.validation_alias
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
            names.update(choice for choice in choices if isinstance(choice, str))
        return frozenset(names)


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "partnerships"


class Settings(FromEnvironment):
    """Where the engine finds Temporal, its store and its templates.

    Defaults describe the embedded setup (`temporal server start-dev` on this
    machine, SQLite in the user's data folder); docker-compose sets the rest.
    """

    temporal_address: str = Field(EMBEDDED_TEMPORAL_ADDRESS, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_api_key: SecretStr | None = Field(None, validation_alias="TEMPORAL_API_KEY")
    temporal_tls_cert: Path | None = Field(None, validation_alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: Path | None = Field(None, validation_alias="TEMPORAL_TLS_KEY")
    temporal_tls: bool = Field(False, validation_alias="TEMPORAL_TLS")
    temporal_ui_url: str = Field(EMBEDDED_UI_URL, validation_alias="TEMPORAL_UI_URL")
    task_queue: str = Field(TASK_QUEUE, validation_alias="PARTNERSHIPS_TASK_QUEUE")
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias="PARTNERSHIPS_DATA_DIR")
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    templates_dir: Path = Field(REPO_ROOT / "charters", validation_alias="PARTNERSHIPS_TEMPLATES_DIR")
    # The private key your acts are signed with (`partnerships login` makes one); by default
    # id_ed25519 in ~/.config/partnerships (or $XDG_CONFIG_HOME/partnerships).
    key_file: Path | None = Field(None, validation_alias="PARTNERSHIPS_KEY_FILE")
    # The worker's Prometheus metrics and health endpoints (/metrics, /healthz, /readyz): off when unset.
    metrics_port: int | None = Field(None, ge=1, le=65535, validation_alias="PARTNERSHIPS_METRICS_PORT")
    metrics_host: str = Field("127.0.0.1", validation_alias="PARTNERSHIPS_METRICS_HOST")
    log_format: Literal["text", "json"] = Field("text", validation_alias="PARTNERSHIPS_LOG_FORMAT")

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'partnerships.db'}"

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.temporal_ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
