"""Logging: plain text by default, one JSON object per line with LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import warnings

from .domain.clock import iso

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": iso(record.created),  # the API's timestamp format, e.g. 2024-01-01T12:00:00.123Z
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            out.update(kind="http.request", client=client, method=method, path=path, status=status)
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str, fmt: str) -> None:
    """The serving process's logging (process-wide: only `paymock serve` calls this)."""
    # Neither format shows where a call was made or its thread/process: don't collect them (the
    # logging HOWTO's "Optimization"). ~25% less CPU per line; a create logs two lines at INFO.
    logging._srcfile = None  # type: ignore[attr-defined]  # documented there
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12+: the task's name
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # warnings.warn output (e.g. dependencies' deprecations) goes through the handler too, so with
    # LOG_FORMAT=json every line on stderr is JSON
    logging.captureWarnings(True)
    # Connexion 3.3 imports starlette.testclient, which warns under Starlette 1.x when it loads; it
    # says nothing about paymock and would be the first line a sidecar user reads.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Connexion logs every 4xx at WARNING; they are answers, not server problems.
    logging.getLogger("connexion").setLevel(max(logging.getLevelName(level), logging.ERROR))
