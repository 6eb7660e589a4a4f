"""Define Kapacitor tasks and templates from TICKscripts through Kapacitor's HTTP API v1.

What ``kapacitor define`` / ``define-template`` do, without the ``kapacitor`` CLI:
``POST /kapacitor/v1/tasks`` (``id``, ``type``, ``dbrps``, ``script``, ``status``, ``vars``)
or ``PATCH /kapacitor/v1/tasks/ID`` when the task exists; ``POST``/``PATCH
/kapacitor/v1/templates`` for templates, and tasks made from one (``template-id`` +
``vars``). Kapacitor does not reload a running task whose definition is patched, so an
existing task is patched disabled and then enabled again.

A script is installed only if :func:`udfs.tickscript.checker.check_script` finds nothing Kapacitor
would refuse. Kapacitor refuses ``dbrps`` for a script with its own ``dbrp`` statement
("cannot specify dbrp in both implicitly and explicitly"), so those are not sent then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from udfs.io.kapacitor import KapacitorAPI, KapacitorError
from udfs.tickscript.checker import check_script
from udfs.tickscript.udfdefs import UDFDeclaration
from udfs.tickscript.vars import check_vars, var_types

__all__ = [
    "InstallError", "KapacitorAPI", "KapacitorError", "TaskPlan", "install", "parse_dbrp", "plan_install",
    "retarget_dbrp", "vars_dbrp",
]

DEFAULT_DBRP = ("telegraf", "autogen")
_VALID_ID = re.compile(r"[-._\w]+")


class InstallError(ValueError):
    """A script that must not be installed (the text lists every reason)."""


def parse_dbrp(text: str) -> tuple[str, str]:
    """``telegraf.autogen`` or ``"tele.graf"."autogen"`` -> ``("telegraf", "autogen")``."""
    match = re.fullmatch(r'(?:"([^"]+)"|([^".]+))\.(?:"([^"]+)"|([^"]+))', text.strip())
    if not match:
        raise ValueError(f"bad dbrp {text!r}: expected DATABASE.RETENTION_POLICY, e.g. telegraf.autogen")
    return match.group(1) or match.group(2), match.group(3) or match.group(4)


@dataclass
class TaskPlan:
    """What to define in Kapacitor for one script."""

    script: Path
    task_type: str
    text: str
    template_id: str | None  # define a template under this id
    task_id: str | None  # define a task under this id (from the template when template_id is set)
    dbrps: list[tuple[str, str]]  # the task's; sent only when the script has no dbrp statement
    send_dbrps: bool
    vars: dict[str, Any] | None
    enable: bool


def plan_install(
    script: Path,
    *,
    udfs: Mapping[str, UDFDeclaration],
    template: bool = False,
    vars_doc: dict[str, Any] | None = None,
    dbrp: tuple[str, str] | None = None,
    task_id: str | None = None,
    enable: bool = True,
) -> TaskPlan:
    """Check ``script`` (and the vars for it) and decide what to define; InstallError if it must not be."""
    text = script.read_text(encoding="utf-8")
    given = var_types(vars_doc) if vars_doc else {}
    report = check_script(text, udfs, template=template and vars_doc is None, given_vars=given)
    reasons = [f"{script}:{problem}" for problem in report.problems]
    if vars_doc is not None and report.task_type:
        reasons += [f"{script}: vars: {reason}" for reason in check_vars(vars_doc, report.declared_vars)]
    if report.dbrps and dbrp and dbrp not in report.dbrps:
        reasons.append(f"{script}: the script's dbrp statement says {_dbrps_text(report.dbrps)}, --dbrp says "
                       f"{_dbrps_text([dbrp])}; Kapacitor refuses both (edit the script or drop --dbrp)")
    wanted_db, wanted_rp = vars_dbrp(vars_doc)
    if report.dbrps and (wanted_db or wanted_rp):
        # The vars move |from()/|query() to another database; the dbrp statement must follow,
        # or Kapacitor feeds the task nothing (or refuses the query) without a word.
        target = (wanted_db or report.dbrps[0][0], wanted_rp or report.dbrps[0][1])
        if target not in report.dbrps:
            if template:
                reasons.append(
                    f"{script}: the vars read {_dbrps_text([target])} but the template's dbrp statement says "
                    f"{_dbrps_text(report.dbrps)}, and a task made from a template keeps its dbrp: Kapacitor "
                    "would feed it nothing. Install without --template (the task's dbrp then follows the "
                    "vars), or edit the script's dbrp line")
            else:
                text = retarget_dbrp(text, *target)
                report.dbrps = [target]
    stem = script.name.removesuffix(".tick")
    ident = task_id or stem
    if not _VALID_ID.fullmatch(ident):
        reasons.append(f"{script}: {ident!r} is not a valid Kapacitor id (letters, digits, '-', '.', '_'); use --id")
    if reasons:
        raise InstallError("\n".join(reasons))
    assert report.task_type is not None  # a script without one has a problem
    return TaskPlan(
        script=script, task_type=report.task_type, text=text,
        template_id=stem if template else None,
        task_id=None if template and vars_doc is None else ident,
        dbrps=report.dbrps or [dbrp or DEFAULT_DBRP], send_dbrps=not report.dbrps,
        vars=vars_doc, enable=enable,
    )


def retarget_dbrp(text: str, db: str, rp: str) -> str:
    """``text`` with its ``dbrp`` statement(s) replaced by one that names ``db``.``rp``.

    A script without a dbrp statement is returned unchanged (its dbrps are sent with the
    task instead). Only the statement lines change, so Kapacitor's line numbers stay.
    """
    from udfs.tickscript.parser import DBRP, parse

    lines = text.splitlines(keepends=True)
    statements = [s for s in parse(text).statements if isinstance(s, DBRP)]
    for number, statement in enumerate(statements):
        old = lines[statement.line - 1]
        ending = old[len(old.rstrip("\r\n")):]
        lines[statement.line - 1] = (f"dbrp {_quoted(db)}.{_quoted(rp)}" if number == 0 else "") + ending
    return "".join(lines)


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def vars_dbrp(vars_doc: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The ``db`` and ``rp`` string vars of a vars document (None where not set)."""
    found: list[str | None] = []
    for name in ("db", "rp"):
        var = (vars_doc or {}).get(name)
        value = var.get("value") if isinstance(var, Mapping) and var.get("type") == "string" else None
        found.append(value if isinstance(value, str) and value else None)
    return found[0], found[1]


def _dbrps_text(dbrps: list[tuple[str, str]]) -> str:
    return ", ".join(f'"{db}"."{rp}"' for db, rp in dbrps)


def install(api: KapacitorAPI, plan: TaskPlan) -> list[str]:
    """Define what ``plan`` says; one line per thing defined, saying what happened."""
    done = []
    task_fields: dict[str, Any] = {}
    if plan.template_id:
        outcome = api.define_template(plan.template_id, task_type=plan.task_type, script=plan.text)
        done.append(f"template {plan.template_id} ({plan.task_type}): {outcome}")
        task_fields["template-id"] = plan.template_id
    else:
        task_fields.update(type=plan.task_type, script=plan.text)
    if plan.task_id is None:
        return done
    if plan.send_dbrps:
        task_fields["dbrps"] = [{"db": db, "rp": rp} for db, rp in plan.dbrps]
    if plan.vars:
        task_fields["vars"] = plan.vars
    outcome = api.define_task(plan.task_id, task_fields, enable=plan.enable)
    done.append(f"task {plan.task_id} ({plan.task_type}, {_dbrps_text(plan.dbrps)}): {outcome}")
    return done
