"""InfluxDB 1.x line protocol: text lines to :class:`Record` and back.

A line is ``measurement[,tag=value...] field=value[,field=value...] [timestamp]``.
The rules are influxd 1.x's, checked against a real influxd 1.6, quirks included:

- a backslash escapes ``,`` and space in a measurement (influxd also drops it before
  ``=`` and ``"``), ``,`` ``=`` and space in tag keys and values, and ``,`` ``=``
  ``"`` and space in field keys; any other backslash is a literal character;
- a tag value may start with an unescaped ``=`` (``k==v`` is tag ``k`` = ``"=v"``);
- field values: ``1``, ``-1.5``, ``.5``, ``1e3`` are floats, ``1i`` an int64,
  ``"..."`` a string (only ``\\"`` and ``\\\\`` are escapes; it may span lines),
  ``t T true True TRUE f F false False FALSE`` booleans; NaN and inf are refused;
- a repeated field key keeps the last value; a repeated tag key is an error;
- the timestamp is an optional integer in the given precision; a line without one
  gets ``default_time`` (influxd uses the time the request arrives).

Two deliberate differences: a ``\\r`` before the newline is dropped, so CRLF files
parse; and text after a string's closing quote (``v="a"b``), which influxd stores as
``a"``, is an error.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator

from udfs.io.records import FieldValue, Record

__all__ = ["PRECISIONS", "LineProtocolError", "format_record", "parse_line", "parse_lines", "precision_factor"]

#: Nanoseconds per unit of each precision accepted by influxd's ``/write?precision=``.
PRECISIONS: dict[str, int] = {
    "ns": 1, "n": 1, "us": 1_000, "u": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}  # fmt: skip

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# influxd reserves the two extreme int64 values, so its valid times are one narrower.
_TIME_MIN, _TIME_MAX = _INT64_MIN + 2, _INT64_MAX - 1
# influxd caps string fields at 64 KiB; an open quote never closed within that much
# text is a stray quote, not a multi-line string.
_MAX_RECORD_CHARS = 64 * 1024 + 1024

_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT = re.compile(r"-?[0-9]{1,19}i")
_TIME = re.compile(r"-?[0-9]+")
_BOOLS = dict.fromkeys(("t", "T", "true", "True", "TRUE"), True)
_BOOLS.update(dict.fromkeys(("f", "F", "false", "False", "FALSE"), False))

# influxd ends a measurement or tag at a separator whose previous character is not a
# backslash, but scans the field section in escape pairs; both are mirrored here.
_MEASUREMENT_END = re.compile(r"(?<!\\)[ ,]")
_TAG_END = re.compile(r"(?<!\\)[ ,=]")
_FIELD_KEY = re.compile(r"(?:[^\\=, ]|\\.)*", re.S)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_BARE_VALUE = re.compile(r"[^, ]*")
_UNESCAPE_STRING = re.compile(r'\\([\\"])')


class _Name:
    """How one kind of name is escaped: what gets a backslash, what influxd unescapes."""

    def __init__(self, what: str, escaped: str, unescaped: str, bad_first: str) -> None:
        self.what = what
        self.bad_first = bad_first  # skipped as whitespace or read as a comment
        self.escape = re.compile(f"[{re.escape(escaped)}]")
        self.unescape = re.compile(f"\\\\([{re.escape(unescaped)}])")
        self.special = re.compile(f"[\\\\\\n{re.escape(escaped)}]")
        # A backslash before a character influxd unescapes, or before the separator
        # that follows the name, cannot survive a round trip; neither can a newline.
        self.unrepresentable = re.compile(f"\\\\(?:[{re.escape(unescaped)}]|$)|\\n")

    def parse(self, text: str) -> str:
        return self.unescape.sub(r"\1", text) if "\\" in text else text

    def format(self, name: str, *, first: bool = True) -> str:
        if name and not self.special.search(name) and not (first and name[0] in self.bad_first):
            return name
        if not name or self.unrepresentable.search(name) or (first and name[0] in self.bad_first):
            raise ValueError(f"{self.what} {name!r} cannot be written in line protocol")
        return self.escape.sub(r"\\\g<0>", name)


_MEASUREMENT = _Name("measurement", " ,", ' ,="', "#\t\0")
_TAG_KEY = _Name("tag key", " ,=", " ,=", "")
_TAG_VALUE = _Name("tag value", " ,=", " ,=", "")
_FIELD = _Name("field key", " ,=", ' ,="', "\t\0")


class LineProtocolError(ValueError):
    """A line that is not valid line protocol; ``lineno`` counts from 1."""

    def __init__(self, lineno: int, reason: str, line: str = "") -> None:
        self.lineno, self.reason, self.line = lineno, reason, line
        shown = line.rstrip("\r\n")
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        super().__init__(f"line {lineno}: {reason}" + (f" in {shown!r}" if shown else ""))


class _Invalid(Exception):
    """Why a line is invalid, before its line number is known."""


class _OpenString(_Invalid):
    """A string field still open at the end of the text: it may go on on the next line."""


def precision_factor(precision: str) -> int:
    """Nanoseconds per unit of ``precision`` (a key of :data:`PRECISIONS`); ValueError names the choices."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; use one of {sorted(PRECISIONS)}") from None


def _time(token: str, factor: int) -> int:
    if not _TIME.fullmatch(token):
        raise _Invalid(f"bad timestamp {token!r}: expected an integer")
    value = int(token) if len(token) <= 20 else _INT64_MAX + 1  # int() is slow on huge text
    if not (_INT64_MIN <= value <= _INT64_MAX and _TIME_MIN <= (ns := value * factor) <= _TIME_MAX):
        raise _Invalid(f"timestamp {token} is out of range")
    return ns


def _value(key: str, raw: str) -> FieldValue:
    if raw[0] in "0123456789.-":
        if raw[-1] == "i":
            if _INT.fullmatch(raw) and _INT64_MIN <= int(raw[:-1]) <= _INT64_MAX:
                return int(raw[:-1])
        elif _FLOAT.fullmatch(raw) and not math.isinf(value := float(raw)):
            return value
        raise _Invalid(f"invalid number {raw!r} for field {key!r}")
    if (flag := _BOOLS.get(raw)) is None:
        raise _Invalid(f'invalid value {raw!r} for field {key!r}: not a number, 1i, "string" or boolean')
    return flag


def _parse_plain(text: str, default_time: int, factor: int) -> Record:
    """The common case, with no backslash, quote or tab: plain splits suffice."""
    tokens = [token for token in text.split(" ") if token]
    if len(tokens) < 2:
        raise _Invalid("missing fields")
    measurement, *pairs = tokens[0].split(",")
    if not measurement:
        raise _Invalid("missing measurement")
    tags: dict[str, str] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not key:
            raise _Invalid("missing tag key")
        if not value:
            raise _Invalid(f"missing tag value for tag key {key!r}")
        if "=" in value[1:]:
            raise _Invalid(f"invalid tag {pair!r}: unescaped '=' in the value")
        if key in tags:
            raise _Invalid(f"duplicate tag key {key!r}")
        tags[key] = value
    fields: dict[str, FieldValue] = {}
    for pair in tokens[1].split(","):
        key, _, raw = pair.partition("=")
        if not key:
            raise _Invalid("missing field key")
        if not raw:
            raise _Invalid(f"missing field value for field key {key!r}")
        fields[key] = _value(key, raw)
    if len(tokens) > 3:
        raise _Invalid("unexpected text after the timestamp")
    ns = _time(tokens[2], factor) if len(tokens) == 3 else default_time
    return Record(ns, measurement, tags, fields)


def _parse_escaped(text: str, default_time: int, factor: int) -> Record:
    """Any line: scans separators the way influxd does, escapes and quotes included."""
    size = len(text)
    if text[0] == ",":
        raise _Invalid("missing measurement")
    if (stop := _MEASUREMENT_END.search(text, 1)) is None:
        raise _Invalid("missing fields")
    measurement, pos = _MEASUREMENT.parse(text[: stop.start()]), stop.start()
    tags: dict[str, str] = {}
    while text[pos] == ",":
        pos += 1
        if pos >= size or text[pos] in " ,=":
            raise _Invalid("missing tag key")
        if (stop := _TAG_END.search(text, pos + 1)) is None or stop.group() != "=":
            raise _Invalid("missing tag value: a tag key without '='")
        key, pos = _TAG_KEY.parse(text[pos : stop.start()]), stop.end()
        if pos >= size or text[pos] in " ,":
            raise _Invalid(f"missing tag value for tag key {key!r}")
        if (stop := _TAG_END.search(text, pos + 1)) is None:
            raise _Invalid("missing fields")
        if stop.group() == "=":
            raise _Invalid(f"invalid tag value for tag key {key!r}: unescaped '='")
        if key in tags:
            raise _Invalid(f"duplicate tag key {key!r}")
        tags[key], pos = _TAG_VALUE.parse(text[pos : stop.start()]), stop.start()
    pos = len(text) - len(text[pos:].lstrip(" \t\0"))
    if pos >= size:
        raise _Invalid("missing fields")
    fields: dict[str, FieldValue] = {}
    while True:
        key_match = _FIELD_KEY.match(text, pos)
        assert key_match is not None  # the pattern matches the empty string too
        end = key_match.end()
        if end == pos:
            raise _Invalid("missing field key")
        key = _FIELD.parse(text[pos:end])
        if end + 1 >= size or text[end] != "=" or text[end + 1] in " ,":
            raise _Invalid(f"missing field value for field key {key!r}")
        if text[end + 1] == '"':
            if (string := _STRING.match(text, end + 1)) is None:
                raise _OpenString(f"unbalanced quotes in the value of field {key!r}")
            fields[key], pos = _UNESCAPE_STRING.sub(r"\1", string.group(1)), string.end()
            if pos < size and text[pos] not in " ,":
                raise _Invalid(f"unexpected text after the closing quote of field {key!r}")
        else:
            bare = _BARE_VALUE.match(text, end + 1)
            assert bare is not None  # the pattern matches the empty string too
            raw = bare.group()
            fields[key], pos = _value(key, raw), end + 1 + len(raw)
        if pos >= size or text[pos] == " ":
            break
        pos += 1
    token, _, after = text[pos:].lstrip(" \t\0").partition(" ")
    if after.strip(" "):
        raise _Invalid("unexpected text after the timestamp")
    return Record(_time(token, factor) if token else default_time, measurement, tags, fields)


def _parse_text(line: str, default_time: int, factor: int) -> Record | None:
    text = line[:-1] if line.endswith("\n") else line
    text = text[:-1] if text.endswith("\r") else text
    text = text.lstrip(" \t\0")
    if not text or text[0] == "#":
        return None
    if "\\" in text or '"' in text or "\t" in text or "\0" in text:
        return _parse_escaped(text, default_time, factor)
    return _parse_plain(text, default_time, factor)


def _now(factor: int) -> int:
    return time.time_ns() // factor * factor


def parse_line(
    line: str, *, lineno: int = 1, default_time: int | None = None, precision: str = "ns"
) -> Record | None:
    """Parse one line; ``None`` for a blank line or a ``#`` comment.

    ``default_time`` (ns) is the time of a line without a timestamp; by default the
    current time truncated to ``precision``, as influxd does.

    Examples
    --------
    >>> parse_line('cpu,host=a\\\\ b usage=0.5,n=3i,ok=t,msg="hi" 1700000000', precision="s")
    Record(time=1700000000000000000, measurement='cpu', tags={'host': 'a b'}, fields={'usage': 0.5, 'n': 3, 'ok': True, 'msg': 'hi'})
    >>> parse_line("# a comment") is None
    True
    >>> parse_line("cpu usage=abc", lineno=7)
    Traceback (most recent call last):
    ...
    udfs.io.lineprotocol.LineProtocolError: line 7: invalid value 'abc' for field 'usage': not a number, 1i, "string" or boolean in 'cpu usage=abc'
    """  # noqa: E501
    factor = precision_factor(precision)
    try:
        return _parse_text(line, _now(factor) if default_time is None else default_time, factor)
    except _Invalid as exc:
        raise LineProtocolError(lineno, str(exc), line) from None


def parse_lines(
    lines: Iterable[str],
    *,
    default_time: int | None = None,
    precision: str = "ns",
    on_error: Callable[[LineProtocolError], None] | None = None,
) -> Iterator[Record]:
    """Parse lines (a file, a list) lazily; a string field may span several lines.

    A bad line raises :class:`LineProtocolError` with its line number, which ends the
    iteration; pass ``on_error`` to be handed each error instead and go on (it may
    still raise to stop). Lines without a timestamp all get the same time:
    ``default_time``, or the time of the call.

    Examples
    --------
    >>> text = ['m v=1 1', '', 'm v="two', 'lines" 2', 'm v=x 3', 'm v=4i 4']
    >>> errors = []
    >>> [(r.time, r.fields["v"]) for r in parse_lines(text, on_error=errors.append)]
    [(1, 1.0), (2, 'two\\nlines'), (4, 4)]
    >>> [e.lineno for e in errors]
    [5]
    """
    factor = precision_factor(precision)
    default_time = _now(factor) if default_time is None else default_time
    pending: str | None = None  # the lines of a string field still open, joined
    first = 0
    for lineno, line in enumerate(lines, 1):
        if pending is not None:
            if '"' not in line and len(pending) + len(line) < _MAX_RECORD_CHARS:
                pending += line if line.endswith("\n") else line + "\n"
                continue  # a line without a quote cannot close the string
            line = pending + line
        else:
            first = lineno
        pending = None
        try:
            record = _parse_text(line, default_time, factor)
        except _OpenString as exc:
            if len(line) < _MAX_RECORD_CHARS:
                pending = line if line.endswith("\n") else line + "\n"
                continue
            error = LineProtocolError(first, str(exc), line)
        except _Invalid as exc:
            error = LineProtocolError(first, str(exc), line)
        else:
            if record is not None:
                yield record
            continue
        if on_error is None:
            raise error
        on_error(error)
    if pending is not None:
        error = LineProtocolError(first, "unbalanced quotes: a string field is never closed", pending)
        if on_error is None:
            raise error
        on_error(error)


def _format_value(key: str, value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"field {key!r}: InfluxDB cannot store {value!r}")
        return float.__repr__(value)  # the shortest text that reads back exactly
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"field {key!r}: {value} does not fit in an int64")
        return f"{value}i"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if hasattr(value, "item"):  # a numpy scalar: format the Python value it holds
        return _format_value(key, value.item())
    raise TypeError(f"field {key!r}: unsupported value type {type(value).__name__}")


def format_record(record: Record, *, precision: str = "ns") -> str:
    """The line protocol line (no newline) that :func:`parse_line` reads back as ``record``.

    Tags are sorted, fields keep their order, ints get an ``i``. Raises ``ValueError``
    for what line protocol cannot carry: no fields, an empty name or tag value, a
    newline in a name, a backslash ending a name or before a character influxd
    unescapes, NaN or inf, or a time that is not a whole number of ``precision``.

    Examples
    --------
    >>> r = Record(1_500_000_000, "disk free", {"path": "/a,b", "dev": "x=y"}, {"n": 1, "ok": False})
    >>> format_record(r)
    'disk\\\\ free,dev=x\\\\=y,path=/a\\\\,b n=1i,ok=false 1500000000'
    >>> format_record(r, precision="ms")
    'disk\\\\ free,dev=x\\\\=y,path=/a\\\\,b n=1i,ok=false 1500'
    >>> parse_line(format_record(r)) == r
    True
    """
    factor = precision_factor(precision)
    if not _TIME_MIN <= record.time <= _TIME_MAX:
        raise ValueError(f"time {record.time} ns is outside InfluxDB's range")
    if record.time % factor:
        raise ValueError(f"time {record.time} ns is not a whole number of {precision!r}; round it first")
    if not record.fields:
        raise ValueError(f"a point needs at least one field: {record!r}")
    parts = [_MEASUREMENT.format(record.measurement)]
    for key in sorted(record.tags):
        parts.append(f",{_TAG_KEY.format(key)}={_TAG_VALUE.format(record.tags[key])}")
    sep = " "
    for i, (key, value) in enumerate(record.fields.items()):
        parts.append(f"{sep}{_FIELD.format(key, first=i == 0)}={_format_value(key, value)}")
        sep = ","
    parts.append(f" {record.time // factor}")
    return "".join(parts)
