"""How a process logs: readable lines by default, one JSON object per line with PARTNERSHIPS_LOG_FORMAT=json.

A JSON line holds the time (UTC), level, logger and message, plus the workflow's and
activity's ids when the SDK's loggers attached them. Only those fields are written: a log
record's other attributes (anything passed in `extra`) never reach the output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What the SDK's workflow and activity loggers put in `extra`, and the names they are written under.
_WORKFLOW_FIELDS = {"workflow_id": "workflow_id", "run_id": "run_id", "workflow_type": "workflow_type"}
_UPDATE_FIELDS = {"update_id": "update_id", "update_name": "update_name"}
_ACTIVITY_FIELDS = {
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        workflow = getattr(record, "temporal_workflow", None)
        if isinstance(workflow, Mapping):
            entry.update(_picked(workflow, _WORKFLOW_FIELDS))
            entry.update(_picked(workflow, _UPDATE_FIELDS))
        activity = getattr(record, "temporal_activity", None)
        if isinstance(activity, Mapping):
            entry.update(_picked(activity, _ACTIVITY_FIELDS))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def _picked(details: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    return {name: details[key] for key, name in fields.items() if details.get(key) is not None}


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """The root logger writes to stderr in `log_format` ("text" or "json"); warnings are logged too."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
