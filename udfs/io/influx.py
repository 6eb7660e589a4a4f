"""Write records to an InfluxDB 1.x server and read them back, with the ``influxdb`` client.

Writes go as line protocol in nanoseconds, in batches; a batch that fails because
the server cannot be reached or answers 5xx is retried with exponential backoff,
one the server refuses (4xx: bad data, no such database, auth) is not. Every failure
surfaces as an :class:`InfluxError` naming the server's URL (never its password).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError
from influxdb.line_protocol import quote_ident
from tqdm import tqdm

from udfs.io.lineprotocol import format_record
from udfs.io.records import FieldValue, Record

__all__ = ["DEFAULT_PORT", "InfluxError", "InfluxQueryError", "InfluxTarget", "InfluxWriteError"]

#: The port of a URL that names none: InfluxDB's own default, not HTTP's.
DEFAULT_PORT = 8086


class InfluxError(RuntimeError):
    """Talking to InfluxDB failed; the message names the server's URL."""


class InfluxWriteError(InfluxError):
    """Records could not be written."""


class InfluxQueryError(InfluxError):
    """A query could not be run."""


def _reason(exc: Exception) -> str:
    """The useful part of a client error: the server's message or the socket error."""
    if isinstance(exc, (InfluxDBClientError, InfluxDBServerError)):
        content = getattr(exc, "content", None) or str(exc)
        try:
            content = json.loads(content)["error"]
        except (ValueError, TypeError, KeyError):
            pass
        code = getattr(exc, "code", None)
        return f"HTTP {code}: {content}" if code else str(content)
    # requests buries "[Errno 111] Connection refused" deep inside its message.
    found = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))
    return found.group().strip() if found else f"{type(exc).__name__}: {exc}"


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass(frozen=True)
class InfluxTarget:
    """One database on one InfluxDB 1.x server.

    ``url`` is the server's base URL, ``http(s)://host[:port][/path prefix]``, without
    credentials (give them as ``username``/``password``, or in :meth:`from_url`).

    Examples
    --------
    >>> target = InfluxTarget.from_url("http://reader:s3cret@db.example:8086/telemetry")
    >>> target
    InfluxTarget(url='http://db.example:8086', database='telemetry', username='reader', timeout=30.0)
    >>> InfluxTarget.from_url("https://db.example/influx/telemetry").url
    'https://db.example:8086/influx'
    >>> InfluxTarget.from_url("http://localhost", database="anomalies").database
    'anomalies'
    """

    url: str
    database: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise ValueError(f"expected an http(s)://host[:port] URL without credentials, got {self.url!r}")
        if not self.database:
            raise ValueError("the database name is empty")

    @classmethod
    def from_url(cls, url: str, database: str | None = None, **options: Any) -> InfluxTarget:
        """A target from ``http(s)://[user:password@]host[:port][/prefix]/database``.

        The last path segment is the database; ``database`` is used when the URL names
        none. The port defaults to :data:`DEFAULT_PORT`. ``options`` go to the class.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s)://host[:port]/database URL, got {url!r}")
        prefix, _, name = parts.path.strip("/").rpartition("/")
        if not (name := unquote(name) or database or ""):
            raise ValueError(f"no database in {url!r}: end the URL with /DATABASE or pass database=")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        base = f"{parts.scheme}://{host}:{parts.port or DEFAULT_PORT}" + (f"/{prefix}" if prefix else "")
        if parts.username is not None:
            options.setdefault("username", unquote(parts.username))
            options.setdefault("password", unquote(parts.password or ""))
        return cls(base, name, **options)

    def client(self) -> InfluxDBClient:
        """A new ``influxdb`` client for this target (it does not retry by itself)."""
        parts = urlsplit(self.url)
        return InfluxDBClient(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORT,
            path=parts.path,
            username=self.username,
            password=self.password,
            database=self.database,
            ssl=parts.scheme == "https",
            verify_ssl=parts.scheme == "https",
            timeout=self.timeout,
            retries=1,
        )

    def write_records(
        self,
        records: Iterable[Record],
        *,
        batch_size: int = 5000,
        retries: int = 3,
        backoff: float = 0.5,
        create_database: bool = True,
        progress: bool = True,
        retention_policy: str | None = None,
    ) -> int:
        """Write records (any iterable, read lazily); return how many were written.

        A batch is tried ``1 + retries`` times, waiting ``backoff * 2**attempt`` seconds
        in between, when the server cannot be reached or fails (5xx). ``progress``
        shows a tqdm bar on stderr. A record line protocol cannot carry raises
        ``ValueError`` (see :func:`~udfs.io.lineprotocol.format_record`).
        """
        if batch_size < 1 or retries < 0 or backoff < 0:
            raise ValueError("batch_size must be >= 1, retries and backoff >= 0")
        client = self.client()
        written = 0
        try:
            if create_database:  # a no-op when it exists
                self._with_retries(
                    "create the database", lambda: client.create_database(self.database), retries, backoff
                )
            total = len(records) if isinstance(records, Sized) else None
            bar = tqdm(total=total, unit="pt", file=sys.stderr, disable=not progress, desc=self.database)
            with bar:
                for batch in _batches(map(format_record, records), batch_size):
                    send = partial(
                        client.write_points,
                        batch,
                        time_precision="n",
                        database=self.database,
                        retention_policy=retention_policy,
                        protocol="line",
                    )
                    self._with_retries("write", send, retries, backoff)
                    written += len(batch)
                    bar.update(len(batch))
        finally:
            client.close()
        return written

    def _with_retries(self, action: str, call: Callable[[], object], retries: int, backoff: float) -> None:
        where = f"InfluxDB at {self.url} (database {self.database!r})"
        for attempt in range(retries + 1):
            try:
                call()
                return
            except InfluxDBClientError as exc:  # 4xx: the same request would fail again
                raise InfluxWriteError(f"{where} refused to {action}: {_reason(exc)}") from None
            except (requests.RequestException, InfluxDBServerError) as exc:
                if attempt == retries:
                    tries = f"{retries + 1} attempts" if retries else "1 attempt"
                    raise InfluxWriteError(
                        f"could not {action} at {where} after {tries}: {_reason(exc)}"
                    ) from None
                time.sleep(backoff * 2**attempt)

    def query_records(self, query: str) -> list[Record]:
        """Run an InfluxQL query in the target database; its rows as records.

        Times come back in ns. Columns that are tag keys become tags (as do the tags of
        ``GROUP BY``), the others fields, with the types ``SHOW FIELD KEYS`` reports, so
        a float field holding ``1.0`` comes back as ``1.0`` although the JSON says ``1``.
        Computed columns (``mean``, aliases) keep their JSON type. Query one measurement at
        a time: across measurements InfluxQL casts a field to a single type (or drops rows).
        """
        client = self.client()
        try:
            records: list[Record] = []
            schemas: dict[str, tuple[dict[str, str], set[str]]] = {}
            for result in self._query(client, query):
                for series in result.get("series", []):
                    name = series.get("name", "")
                    if name not in schemas:
                        schemas[name] = self._schema(client, name)
                    records.extend(_series_records(series, *schemas[name]))
            return records
        finally:
            client.close()

    def _query(self, client: InfluxDBClient, query: str) -> list[dict[str, Any]]:
        try:
            answer = client.query(query, epoch="ns", database=self.database)
        except InfluxDBClientError as exc:
            raise InfluxQueryError(f"InfluxDB at {self.url} refused {query!r}: {_reason(exc)}") from None
        except (requests.RequestException, InfluxDBServerError) as exc:
            raise InfluxQueryError(f"cannot reach InfluxDB at {self.url}: {_reason(exc)}") from None
        return [result.raw for result in (answer if isinstance(answer, list) else [answer])]

    def _schema(self, client: InfluxDBClient, measurement: str) -> tuple[dict[str, str], set[str]]:
        """Field types and tag keys of a measurement, to tell tags from fields in rows."""
        ident = quote_ident(measurement)
        types: dict[str, str] = {}
        tags: set[str] = set()
        for result in self._query(client, f"SHOW FIELD KEYS FROM {ident}; SHOW TAG KEYS FROM {ident}"):
            for series in result.get("series", []):
                for row in series["values"]:
                    if series["columns"][:2] == ["fieldKey", "fieldType"]:
                        types[row[0]] = row[1]
                    else:
                        tags.add(row[0])
        return types, tags


def _series_records(series: dict[str, Any], types: dict[str, str], tag_keys: set[str]) -> Iterator[Record]:
    columns: list[str] = series["columns"]
    if "time" not in columns:
        raise InfluxQueryError(f"the result for {series.get('name')!r} has no time column: not a SELECT?")
    group_tags = {key: value for key, value in (series.get("tags") or {}).items() if value}
    for row in series.get("values") or []:
        tags = dict(group_tags)
        fields: dict[str, FieldValue] = {}
        for column, value in zip(columns, row, strict=True):
            if column == "time" or value is None or (value == "" and column in tag_keys):
                continue
            if column in tag_keys and column not in types:
                tags[column] = value
            elif types.get(column) == "float" and type(value) is int:
                fields[column] = float(value)  # JSON dropped the ".0"
            else:
                fields[column] = value
        if fields:
            yield Record(row[columns.index("time")], series.get("name", ""), tags, fields)
