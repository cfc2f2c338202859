"""The agent's log: one structured line per action, as key=value pairs (logfmt) or JSON.

`log_event("apply", kind="HTTPRoute", name="x", result="configured")` writes
`time=... level=info event=apply kind=HTTPRoute name=x result=configured`. Values of keys
that look like credentials are never written.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "impgateway.agent"
_REDACTED_KEYS = ("token", "secret", "password", "authorization", "api_key")
_FIELDS = "_agent_fields"

logger = logging.getLogger(LOGGER_NAME)


def _safe(key: str, value: Any) -> Any:
    if any(part in key.lower() for part in _REDACTED_KEYS) and value not in (None, "", "set",
                                                                             "unset"):
        return "[redacted]"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _logfmt_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text == "" or any(char in text for char in ' ="\\') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text


class StructuredFormatter(logging.Formatter):
    """Formats records as logfmt or JSON lines with time, level, event and the fields."""

    def __init__(self, output: str = "logfmt") -> None:
        super().__init__()
        self.output = output

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, _FIELDS, None) or {}
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
        }
        if fields:
            entry.update(fields)
        else:
            entry["logger"] = record.name
            entry["msg"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if self.output == "json":
            return json.dumps(entry, ensure_ascii=False, default=str)
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in entry.items())


def configure(output: str = "logfmt", level: str = "INFO") -> None:
    """Send the agent's records (and warnings of the libraries) to stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter(output))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logger.setLevel(level)
    logger.propagate = True


def log_event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Write one structured line: `event=<event>` then the fields, in the order given."""
    if not logger.isEnabledFor(level):
        return
    payload = {"event": event, **{key: _safe(key, value) for key, value in fields.items()}}
    # The message is the line itself, for handlers that do not use StructuredFormatter.
    message = " ".join(f"{key}={_logfmt_value(value)}" for key, value in payload.items())
    logger.log(level, "%s", message, extra={_FIELDS: payload})


def warn_event(event: str, **fields: Any) -> None:
    """A structured line at warning level: something failed and will be tried again."""
    log_event(event, level=logging.WARNING, **fields)
