"""``udfs check-tick`` and ``udfs tasks install``: TICKscripts checked, then defined in Kapacitor.

Imported by ``udfs.cli`` at start-up, so only click (and the light Kapacitor options) is imported at the top.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from udfs.io.kapacitor import api_from_options, connection_options

__all__ = ["check_tick", "tasks"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _udf_options(func: Any) -> Any:
    func = click.option("--kapacitor-conf", type=_FILE, metavar="FILE",
                        help="Only the UDFs this kapacitor.conf configures ([udf.functions.NAME]) exist.")(func)
    return click.option("--udf-info", type=_FILE, metavar="JSON",
                        help="Options of UDFs from other packages: {NAME: {wants, provides, options}}.")(func)


def _known_udfs(kapacitor_conf: Path | None, udf_info: Path | None) -> Any:
    from udfs.tickscript.udfdefs import known_udfs

    try:
        return known_udfs(kapacitor_conf=kapacitor_conf, udf_info=udf_info)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--udf-info") from None


def _load_vars(path: Path | None) -> dict[str, Any] | None:
    from udfs.tickscript.vars import VarsError, load_vars

    try:
        return load_vars(path) if path else None
    except VarsError as exc:
        raise click.BadParameter(str(exc), param_hint="--vars") from None


def _scripts(paths: tuple[Path, ...]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.rglob("*.tick")) if path.is_dir() else [path])
    return found


@click.command("check-tick")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; the exit status says it all.")
@click.option("-v", "--verbose", is_flag=True, help="Also print 'FILE: ok' for each script without errors.")
@click.option("--template", is_flag=True, help="Check as templates: `var x TYPE` without a value is allowed.")
@click.option("--vars", "vars_file", type=_FILE, metavar="FILE",
              help="A Kapacitor vars JSON file the script(s) will be given; checked against their vars.")
@_udf_options
def check_tick(paths: tuple[Path, ...], quiet: bool, verbose: bool, template: bool, vars_file: Path | None,
               kapacitor_conf: Path | None, udf_info: Path | None) -> None:
    """Report what `kapacitor define` would reject in TICKscripts, in Kapacitor's words.

    PATHS are .tick files or directories (searched for *.tick). One line per problem,
    FILE:LINE:CHAR: message, with LINE and CHAR as Kapacitor counts them. Exits 1 if
    any script has a problem. UDF calls are checked against this package's UDFs
    unless --kapacitor-conf/--udf-info say otherwise.
    """
    from udfs.tickscript.checker import check_file
    from udfs.tickscript.vars import check_vars, var_types

    udfs = _known_udfs(kapacitor_conf, udf_info)
    vars_doc = _load_vars(vars_file)
    failed = False
    for script in _scripts(paths):
        report = check_file(script, udfs, template=template, given_vars=var_types(vars_doc) if vars_doc else None)
        lines = [f"{script}:{problem}" for problem in report.problems]
        if vars_doc is not None and report.task_type:
            lines += [f"{script}: {vars_file}: {reason}" for reason in check_vars(vars_doc, report.declared_vars)]
        failed = failed or bool(lines)
        if not quiet:
            for line in lines:
                click.echo(line)
            if verbose and not lines:
                click.echo(f"{script}: ok")
    sys.exit(1 if failed else 0)


@click.group("tasks")
def tasks() -> None:
    """Define Kapacitor tasks and templates from TICKscripts (Kapacitor's HTTP API)."""


@tasks.command("install")
@click.argument("scripts", nargs=-1, required=True, type=_FILE)
@connection_options()
@click.option("--dbrp", metavar="DB.RP",
              help="Database.retention policy the task reads; only for scripts without a dbrp statement "
                   "(default then: telegraf.autogen).")
@click.option("--template", is_flag=True,
              help="Define each script as a template (id: file name); with --vars, also a task from it.")
@click.option("--vars", "vars_file", type=_FILE, metavar="FILE", help="Kapacitor vars JSON for the task(s).")
@click.option("--id", "task_id", metavar="ID", help="Task id (one script only; default: the file name).")
@click.option("--enable/--no-enable", default=True, show_default=True,
              help="Enable the task; an existing task is reloaded with the new definition.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for each request.")
@_udf_options
def install_cmd(scripts: tuple[Path, ...], kapacitor_url: str, kapacitor_username: str | None,
                kapacitor_password: str | None, dbrp: str | None, template: bool,
                vars_file: Path | None, task_id: str | None, enable: bool, timeout: float,
                kapacitor_conf: Path | None, udf_info: Path | None) -> None:
    """Define (and enable) tasks or templates from TICKscripts.

    Every script is checked first (as `udfs check-tick` does); if any would be refused,
    nothing is installed. The task type comes from the script (stream or batch).
    """
    from udfs.io.kapacitor import KapacitorError
    from udfs.tickscript.client import InstallError, install, parse_dbrp, plan_install

    if task_id and len(scripts) > 1:
        raise click.BadParameter("--id names one task; give one script", param_hint="--id")
    try:
        dbrp_pair = parse_dbrp(dbrp) if dbrp else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--dbrp") from None
    udfs = _known_udfs(kapacitor_conf, udf_info)
    vars_doc = _load_vars(vars_file)
    plans, refused = [], []
    for script in scripts:
        try:
            plans.append(plan_install(script, udfs=udfs, template=template, vars_doc=vars_doc, dbrp=dbrp_pair,
                                      task_id=task_id, enable=enable))
        except InstallError as exc:
            refused.append(str(exc))
    if refused:
        raise click.ClickException("nothing installed; Kapacitor would refuse:\n" + "\n".join(refused))
    api = api_from_options(kapacitor_url, kapacitor_username, kapacitor_password, timeout=timeout)
    for plan in plans:
        try:
            for line in install(api, plan):
                click.echo(line)
        except KapacitorError as exc:
            raise click.ClickException(f"{plan.script}: {exc}") from None
