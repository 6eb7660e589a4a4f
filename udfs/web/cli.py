"""``udfs web``: serve the analysis API and page (uvicorn)."""

from __future__ import annotations

import ipaddress
import os
import socket

import click

__all__ = ["web"]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def _size(text: str) -> int:
    units = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
    stripped = text.strip().lower()
    number = stripped.rstrip("kmgib")
    unit = stripped[len(number):]
    if not number.isdigit() or unit not in units:
        raise click.BadParameter(f"{text!r}: expected bytes like 20MB or 512KiB", param_hint="--max-upload")
    return int(number) * units[unit]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything beyond loopback needs --token.")
@click.option("--port", default=8100, show_default=True, type=int)
@click.option("--token", default=None, envvar="UDFS_WEB_TOKEN", show_envvar=True,
              help="Require 'Authorization: Bearer TOKEN' on every API call (the page asks for it).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Analyses running at once, each in its own process.")
@click.option("--max-queued", default=16, show_default=True, type=click.IntRange(0, 10000),
              help="Analyses waiting for a worker; more are refused with 429.")
@click.option("--job-timeout", default="5m", show_default=True,
              help="A job still running after this is stopped and reported failed.")
@click.option("--max-upload", default="20MB", show_default=True, help="Largest upload accepted (413 beyond).")
@click.option("--influx", "influx_urls", multiple=True, metavar="URL",
              help="An InfluxDB the page/API may query (repeatable); requests cannot name any other.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def web(host: str, port: int, token: str | None, workers: int, max_queued: int, job_timeout: str,
        max_upload: str, influx_urls: tuple[str, ...], log_level: str) -> None:
    """Serve the analysis as an HTTP API (OpenAPI docs at /docs) with a page at /.

    Upload a CSV or line-protocol file, or query a configured InfluxDB, choose detectors
    and their options and a consensus rule, and get the plot and the table.
    """
    from udfs.params.durations import parse_duration

    if not is_loopback(host) and not token:
        raise click.UsageError(f"--host {host} is reachable from other machines: give --token "
                               "(or UDFS_WEB_TOKEN)")
    try:
        timeout = parse_duration(job_timeout) / 1e9
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--job-timeout") from None
    if timeout <= 0:
        raise click.BadParameter("must be > 0s", param_hint="--job-timeout")
    import uvicorn

    from udfs.web.app import Settings, create_app

    settings = Settings(token=token, max_upload_bytes=_size(max_upload), workers=workers, max_queued=max_queued,
                        job_timeout=timeout, influx_urls=influx_urls)
    os.environ.pop("UDFS_WEB_TOKEN", None)  # keep it out of worker processes' environment
    click.echo(f"udfs web: http://{host}:{port}/ (API docs at /docs)", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
