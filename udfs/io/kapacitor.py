"""A small client of Kapacitor's HTTP API v1: tasks, templates, their state; basic auth.

What ``udfs tasks install``, ``udfs watchdog`` and ``udfs health --kapacitor-url`` ask
Kapacitor. Credentials come from ``user:password@`` in the URL or are given apart
(``--username``/``--password``, ``KAPACITOR_USERNAME``/``KAPACITOR_PASSWORD``); they are
sent as HTTP basic auth on every request, as Kapacitor's own CLI does, and never appear
in a message (the URL is shown without them).

Examples
--------
>>> KapacitorAPI("http://admin:s%40crt@kapacitor:9092/").url
'http://kapacitor:9092'
>>> KapacitorAPI("http://admin:s%40crt@kapacitor:9092/").username
'admin'
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["API", "KapacitorAPI", "KapacitorError", "TaskState", "api_from_options", "connection_options"]

API = "/kapacitor/v1"
_PAGE = 500  # tasks per list request; Kapacitor's own default limit is 100


class KapacitorError(RuntimeError):
    """Kapacitor could not be reached or refused a request; the text says which and why.

    ``status`` is the HTTP status when Kapacitor answered (None when it could not be
    reached), ``reason`` its own error text.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class TaskState:
    """One task as ``GET /kapacitor/v1/tasks`` reports it."""

    id: str
    status: str  # "enabled" or "disabled"
    executing: bool
    error: str  # the last error Kapacitor saved for the task ("" after a clean start)
    type: str = ""  # "stream" or "batch"
    script: str = ""  # only when asked for

    @property
    def failed(self) -> bool:
        """Enabled but not executing: Kapacitor stopped it (its UDF went away, say) and will not restart it."""
        return self.status == "enabled" and not self.executing


class KapacitorAPI:
    """A minimal client of Kapacitor's HTTP API v1 (tasks and templates)."""

    def __init__(self, url: str = "http://localhost:9092", *, username: str | None = None,
                 password: str | None = None, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a Kapacitor URL: {url!r} (expected e.g. http://localhost:9092)")
        in_url_user = urllib.parse.unquote(parts.username) if parts.username is not None else None
        in_url_password = urllib.parse.unquote(parts.password) if parts.password is not None else None
        netloc = parts.netloc.rpartition("@")[2]
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.username = username if username is not None else in_url_user
        self.password = password if password is not None else in_url_password
        self.timeout = timeout

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if has_body else {}
        if self.username is not None:
            token = f"{self.username}:{self.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        return headers

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        """``(status, decoded JSON body or None)``; 404 is returned, other failures raise KapacitorError."""
        import urllib.error
        import urllib.request  # here: `udfs health` imports this module on every container health check

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + API + path, data=data, method=method,
                                     headers=self._headers(data is not None))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return response.status, _json_or_none(response.read())
        except urllib.error.HTTPError as exc:
            document = _json_or_none(exc.read())
            if exc.code == 404:
                return 404, document
            reason = document.get("error") if isinstance(document, dict) else None
            what = f"Kapacitor refused {method} {API}{path.partition('?')[0]} (HTTP {exc.code})"
            if exc.code in (401, 403):
                raise KapacitorError(f"{what}: {reason or exc.reason}; {self._auth_hint(exc.code)}",
                                     status=exc.code, reason=reason) from None
            raise KapacitorError(f"{what}: {reason or exc.reason}", status=exc.code, reason=reason) from None
        except urllib.error.URLError as exc:
            why = "connection refused" if isinstance(exc.reason, ConnectionRefusedError) else str(exc.reason)
            raise KapacitorError(
                f"cannot reach Kapacitor at {self.url} ({why}); is kapacitord running? "
                "Point --kapacitor-url (or KAPACITOR_URL) at its HTTP API."
            ) from None
        except (TimeoutError, ConnectionError) as exc:
            why = f"did not answer {method} {path} within {self.timeout:g}s" if isinstance(exc, TimeoutError) \
                else f"dropped the connection during {method} {path} ({exc})"
            raise KapacitorError(f"Kapacitor at {self.url} {why}") from None

    def _auth_hint(self, code: int) -> str:
        if self.username is None:
            return ("this Kapacitor requires authentication: give --username and --password "
                    "(or KAPACITOR_USERNAME and KAPACITOR_PASSWORD, or user:password@ in the URL)")
        if code == 401:
            return f"the credentials of user {self.username!r} were refused"
        return f"user {self.username!r} may not do this"

    # Tasks -------------------------------------------------------------------------

    def tasks(self, *, pattern: str | None = None, with_script: bool = False) -> list[TaskState]:
        """Every task (all pages), optionally only those whose id matches Kapacitor's glob ``pattern``."""
        return list(self._iter_tasks(pattern, with_script))

    def _iter_tasks(self, pattern: str | None, with_script: bool) -> Iterator[TaskState]:
        fields = ["status", "executing", "error", "type", *(["script"] if with_script else [])]
        offset = 0
        while True:
            query: list[tuple[str, str]] = [("fields", name) for name in fields]
            query += [("limit", str(_PAGE)), ("offset", str(offset)), ("script-format", "raw")]
            if pattern:
                query.append(("pattern", pattern))
            status, document = self.request("GET", "/tasks?" + urllib.parse.urlencode(query))
            if status == 404 or not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
                raise KapacitorError(f"{self.url}{API}/tasks did not answer with a task list; is this Kapacitor?",
                                     status=status)
            page = document["tasks"]
            for entry in page:
                yield TaskState(
                    id=str(entry.get("id", "")), status=str(entry.get("status", "")),
                    executing=bool(entry.get("executing")), error=str(entry.get("error") or ""),
                    type=str(entry.get("type") or ""), script=str(entry.get("script") or ""),
                )
            if len(page) < _PAGE:
                return
            offset += len(page)

    def logs(self, *, idle_timeout: float = 60.0, **tags: str) -> Iterator[dict[str, Any]]:
        """Follow Kapacitor's log (``GET /kapacitor/v1preview/logs``, 1.4+): one dict per line as it comes.

        ``tags`` filter the lines (``task="cpu"``). Ends when Kapacitor closes the stream; raises
        KapacitorError when it cannot be opened, TimeoutError after ``idle_timeout`` s without a line.
        """
        import urllib.error
        import urllib.request

        query = f"?{urllib.parse.urlencode(tags)}" if tags else ""
        req = urllib.request.Request(f"{self.url}/kapacitor/v1preview/logs{query}",
                                     headers={**self._headers(False), "Accept": "application/json"})
        try:
            response = urllib.request.urlopen(req, timeout=idle_timeout)
        except urllib.error.HTTPError as exc:
            what = f"Kapacitor refused GET /kapacitor/v1preview/logs (HTTP {exc.code})"
            hint = f"; {self._auth_hint(exc.code)}" if exc.code in (401, 403) else ""
            raise KapacitorError(what + hint, status=exc.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise KapacitorError(f"cannot follow the log of Kapacitor at {self.url} "
                                 f"({getattr(exc, 'reason', exc)})") from None
        with response:
            for raw in response:
                line = raw.strip()
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # not one of Kapacitor's JSON lines
                if isinstance(entry, dict):
                    yield entry

    def set_status(self, task_id: str, status: str) -> dict[str, Any]:
        """PATCH the task's status ("enabled"/"disabled"); Kapacitor's answer (the task), KapacitorError if refused."""
        code, document = self.request("PATCH", f"/tasks/{urllib.parse.quote(task_id)}", {"status": status})
        if code == 404:
            raise KapacitorError(f"Kapacitor has no task {task_id!r} (it was deleted?)", status=404)
        return document if isinstance(document, dict) else {}

    def exists(self, kind: str, ident: str) -> bool:
        return self.request("GET", f"/{kind}/{ident}")[0] != 404

    def define_template(self, template_id: str, *, task_type: str, script: str) -> str:
        fields = {"type": task_type, "script": script}
        if self.exists("templates", template_id):
            self._ok("PATCH", f"/templates/{template_id}", fields)
            return "updated (its tasks are reloaded by Kapacitor)"
        self._ok("POST", "/templates", {"id": template_id, **fields})
        return "created"

    def define_task(self, task_id: str, fields: Mapping[str, Any], *, enable: bool) -> str:
        if self.exists("tasks", task_id):
            if not enable:
                self._ok("PATCH", f"/tasks/{task_id}", fields)
                return "updated (status unchanged; a running task keeps its old definition until re-enabled)"
            self._ok("PATCH", f"/tasks/{task_id}", {**fields, "status": "disabled"})
            self._ok("PATCH", f"/tasks/{task_id}", {"status": "enabled"})
            return "updated, reloaded and enabled"
        self._ok("POST", "/tasks", {"id": task_id, **fields, "status": "enabled" if enable else "disabled"})
        return "created and enabled" if enable else "created (disabled)"

    def _ok(self, method: str, path: str, body: Mapping[str, Any]) -> None:
        status, _ = self.request(method, path, body)
        if status == 404:
            raise KapacitorError(f"Kapacitor answered {method} {API}{path} with 404 (not found)", status=404)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return {"error": raw.decode(errors="replace").strip()[:500]}


def connection_options(*, url_default: str | None = "http://localhost:9092", url_envvar: str | None = "KAPACITOR_URL",
                       prefix: str = "", url_help: str | None = None) -> Callable[[Any], Any]:
    """The options naming a Kapacitor and its credentials: ``--kapacitor-url``, ``--{prefix}username``,
    ``--{prefix}password`` (parameters ``kapacitor_url``, ``kapacitor_username``, ``kapacitor_password``).

    Build the client with :func:`api_from_options`.
    """
    envvar_text = f" (also from {url_envvar})" if url_envvar else ""
    helps = {
        "url": url_help or f"Kapacitor's HTTP API{envvar_text}; user:password@ in it is used as basic auth.",
        "user": "User for Kapacitor's basic auth ([http] auth-enabled); also from KAPACITOR_USERNAME.",
        "password": "Password for --{}username; also from KAPACITOR_PASSWORD (better: it stays out of `ps`).",
    }

    def decorate(function: Any) -> Any:
        function = click.option(f"--{prefix}password", "kapacitor_password", envvar="KAPACITOR_PASSWORD",
                                default=None, metavar="PASSWORD", help=helps["password"].format(prefix))(function)
        function = click.option(f"--{prefix}username", "kapacitor_username", envvar="KAPACITOR_USERNAME",
                                default=None, metavar="USER", help=helps["user"])(function)
        return click.option("--kapacitor-url", "kapacitor_url", envvar=url_envvar, default=url_default,
                            show_default=url_default is not None, metavar="URL", help=helps["url"])(function)

    return decorate


def api_from_options(url: str, username: str | None, password: str | None, *, timeout: float = 10.0) -> KapacitorAPI:
    """The client for what :func:`connection_options` parsed; a bad URL is a usage error naming the option."""
    try:
        return KapacitorAPI(url, username=username, password=password, timeout=timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--kapacitor-url") from None
