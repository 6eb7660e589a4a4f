"""Which tasks lost their UDF without Kapacitor stopping them, read from Kapacitor's log.

When a UDF goes away while no point comes (a killed process UDF, a stopped ``udfs
serve``), Kapacitor 1.5.7 keeps the task ``executing: true`` with no error; only its
log says so, ``timeout`` after the UDF's last keepalive::

    {"lvl":"error","msg":"encountered error","task":"cpu","node":"mirror2",
     "err":"keepalive timedout, last keepalive received was: ..."}

The task's next point then fails and is lost. :class:`KeepaliveTimeouts` follows
``GET /kapacitor/v1preview/logs`` in a thread and remembers such tasks, so that the
watchdog restarts them before a point is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from udfs.io.kapacitor import KapacitorAPI, KapacitorError

__all__ = ["KeepaliveTimeouts"]

log = logging.getLogger("udfs.watchdog")

_RECONNECT = 2.0  # seconds between two attempts to open the log stream


class KeepaliveTimeouts:
    """Tasks whose UDF stopped answering keepalives, as Kapacitor's log reports them.

    ``note(entry)`` takes one log entry (a dict of Kapacitor's JSON log line); ``take()``
    returns the tasks noted since the last call, with the error text, and forgets them.
    ``follow(api, stop)`` feeds it from Kapacitor's log stream until ``stop`` is set.

    >>> timeouts = KeepaliveTimeouts()
    >>> timeouts.note({"msg": "encountered error", "task": "cpu", "err": "keepalive timedout, last ..."})
    >>> timeouts.note({"msg": "UDF log", "task": "cpu", "text": "keepalive timedout"})
    >>> timeouts.take()
    {'cpu': 'keepalive timedout, last ...'}
    >>> timeouts.take()
    {}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._noted: dict[str, str] = {}

    def note(self, entry: dict[str, object]) -> None:
        task, error = entry.get("task"), entry.get("err")
        if (entry.get("msg") == "encountered error" and isinstance(task, str) and isinstance(error, str)
                and error.startswith("keepalive timedout")):
            with self._lock:
                self._noted[task] = error

    def take(self) -> dict[str, str]:
        with self._lock:
            noted, self._noted = self._noted, {}
        return noted

    def follow(self, api: KapacitorAPI, stop: threading.Event, *,
               sleep: Callable[[float], object] | None = None) -> None:
        """Read Kapacitor's log until ``stop`` is set, reconnecting when the stream ends or fails.

        Gives up (with one log line) if Kapacitor has no log API (HTTP 404, before 1.4).
        """
        wait = sleep or stop.wait
        failure: str | None = None
        while not stop.is_set():
            try:
                for entry in api.logs(idle_timeout=60.0):
                    failure = None
                    self.note(entry)
                    if stop.is_set():
                        return
            except KapacitorError as exc:
                if exc.status == 404:
                    log.warning("Kapacitor at %s has no log API (/kapacitor/v1preview/logs, 1.4+): a UDF gone "
                                "while no point comes is noticed only at the task's next point", api.url)
                    return
                if str(exc) != failure:
                    log.debug("%s; trying again", exc)
                    failure = str(exc)
            except (TimeoutError, OSError, ValueError):
                pass  # idle for a minute, or the stream broke: open it again
            wait(_RECONNECT)

    def start(self, api: KapacitorAPI, stop: threading.Event) -> threading.Thread:
        """:meth:`follow` in a daemon thread."""
        thread = threading.Thread(target=self.follow, args=(api, stop), name="udfs-watchdog-log", daemon=True)
        thread.start()
        return thread
