"""``--log-format json``: one JSON object per log line, for log shippers.

Examples
--------
>>> import logging
>>> record = logging.LogRecord("udfs.mad", logging.WARNING, __file__, 1, "skipped %d", (3,), None)
>>> line = JsonFormatter(label="mad").format(record)
>>> import json; {k: json.loads(line)[k] for k in ("level", "logger", "udf", "message")}
{'level': 'warning', 'logger': 'udfs.mad', 'udf': 'mad', 'message': 'skipped 3'}
"""

from __future__ import annotations

import json
import logging
import os
import time

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time (RFC 3339, UTC), level, logger, message...

    Multi-line messages (tracebacks) stay inside the one JSON string, so a line is
    always one event.
    """

    def __init__(self, *, label: str = "udfs") -> None:
        super().__init__()
        self._label = label

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        document = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "udf": self._label,
            "pid": os.getpid(),
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)
