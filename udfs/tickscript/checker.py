"""Check TICKscripts for what ``kapacitor define`` rejects, with Kapacitor's own words.

The script is parsed (:mod:`udfs.tickscript.parser`) and evaluated the way Kapacitor's
``tick/eval.go`` evaluates it, tracking only what define time knows: the type of every
value and the Go type of every pipeline node. The UDF calls are checked against the
UDFs' declared options exactly as ``pipeline.UDFNode`` checks them (number of values,
then each value's type; values themselves, and repeated calls, are the UDF's business).
Every problem carries Kapacitor's message and the ``line``/``char`` it would print
(``../shared/fixtures/kapacitor-define-errors.md`` holds the recorded real cases).

Unlike Kapacitor, which stops at its first error, every independent problem is reported.

Examples
--------
>>> udfs = {"m": UDFDeclaration("m", {"size": ("INT",)})}
>>> report = check_script("stream\\n    |from()\\n    @m().size(10.0)\\n", udfs)
>>> print(report.problems[0].kapacitor)
invalid TICKscript: line 3 char 10: unexpected arg to size, got DOUBLE expected INT
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from udfs.tickscript import parser as ts
from udfs.tickscript.udfdefs import CHAIN_METHODS, UDFDeclaration, chain_node_type, registry_declarations
from udfs.tickscript.vars import VAR_TYPE_NAMES

__all__ = ["Problem", "ScriptReport", "UDFDeclaration", "check_file", "check_script"]

_WIRE = {"BOOL", "INT", "DOUBLE", "STRING", "DURATION"}
_KIND_OF_VAR_TYPE = {name: kind for kind, name in VAR_TYPE_NAMES.items()}


@dataclass(frozen=True)
class Problem:
    """One thing Kapacitor rejects: where, what, and the text ``kapacitor define`` prints."""

    line: int
    char: int
    message: str
    kapacitor: str

    def __str__(self) -> str:
        return f"{self.line}:{self.char}: {self.message}"


@dataclass
class ScriptReport:
    problems: list[Problem] = field(default_factory=list)
    task_type: str | None = None  # "stream" or "batch"
    dbrps: list[tuple[str, str]] = field(default_factory=list)
    #: Declared vars and their vars-JSON type (None: not overridable, e.g. a pipeline node).
    declared_vars: dict[str, str | None] = field(default_factory=dict)


@dataclass
class _Value:
    kind: str | None  # a wire/var kind, "REFERENCE", "NODE", "FUNC"; None = not known at define time
    go_type: str | None = None  # pipeline node type, e.g. "FromNode"
    udf: UDFDeclaration | None = None
    items: list[_Value] | None = None  # of a LIST, when known


_UNKNOWN = _Value(None)


class _Evaluator:
    def __init__(self, udfs: Mapping[str, UDFDeclaration], task_type: str, given_vars: Mapping[str, str],
                 template: bool) -> None:
        self.udfs, self.given_vars, self.template = udfs, given_vars, template
        source = "StreamNode" if task_type == "stream" else "BatchNode"
        self.scope: dict[str, _Value] = {"time": _Value("FUNC"), task_type: _Value("NODE", source)}
        self.report = ScriptReport(task_type=task_type)

    def problem(self, node: ts.Node, message: str, *, positional: bool = True) -> None:
        where = f"line {node.line} char {node.char}: " if positional else ""
        self.report.problems.append(Problem(node.line, node.char, message, f"invalid TICKscript: {where}{message}"))

    def statement(self, node: ts.Node) -> None:
        if isinstance(node, ts.DBRP):
            self.report.dbrps.append((node.db, node.rp))
        elif isinstance(node, ts.VarDecl):
            self.declaration(node)
        else:
            self.eval(node)

    def declaration(self, node: ts.VarDecl) -> None:
        if node.value is not None:
            value = self.eval(node.value)
        elif kind := _KIND_OF_VAR_TYPE.get(node.type_name or ""):
            value = _Value(kind)
            if not (self.template or node.name in self.given_vars):
                self.problem(node, f'missing value for var "{node.name}".', positional=False)
        else:
            self.problem(node, f'invalid var type "{node.type_name}"', positional=False)
            value = _UNKNOWN
        if node.name in self.scope:
            self.problem(node, f"attempted to redefine {node.name}, vars are immutable", positional=False)
            return
        self.scope[node.name] = value
        self.report.declared_vars[node.name] = VAR_TYPE_NAMES.get(value.kind or "")

    def eval(self, node: ts.Node | None) -> _Value:
        if isinstance(node, ts.Literal):
            return _Value(node.kind)
        if isinstance(node, ts.Ident):
            return self.lookup(node)
        if isinstance(node, ts.ListExpr):
            return _Value("LIST", items=[self.eval(item) for item in node.items])
        if isinstance(node, ts.Lambda):
            self.resolve_idents(node.expr)
            return _Value("LAMBDA")
        if isinstance(node, ts.Operation):
            return self.operation(node)
        if isinstance(node, ts.Call):
            for arg in node.args:
                self.eval(arg)
            if node.name not in self.scope:
                self.problem(node, f'no global function "{node.name}" defined')
            return _UNKNOWN
        if isinstance(node, ts.Chain):
            value = self.eval(node.root)
            for link in node.links:
                value = self.link(value, link)
            return value
        return _UNKNOWN

    def lookup(self, node: ts.Ident) -> _Value:
        if node.name in self.scope:
            return self.scope[node.name]
        # Kapacitor lists its scope map in Go's random order; this is the declaration order.
        names = ",".join(self.scope)
        self.problem(node, f'name "{node.name}" is undefined. Names in scope: {names}', positional=False)
        return _UNKNOWN

    def resolve_idents(self, node: ts.Node | None) -> None:
        """Inside a lambda only identifiers (vars) are resolved at define time."""
        if isinstance(node, ts.Ident):
            self.lookup(node)
        elif isinstance(node, ts.Operation):
            self.resolve_idents(node.left)
            self.resolve_idents(node.right)
        elif isinstance(node, ts.Call):
            for arg in node.args:
                self.resolve_idents(arg)

    def operation(self, node: ts.Operation) -> _Value:
        left = self.eval(node.left)
        if node.right is None:
            if node.op == "-" and left.kind in ("INT", "DOUBLE", "DURATION"):
                return left
            return _Value("BOOL") if node.op == "!" and left.kind == "BOOL" else _UNKNOWN
        right = self.eval(node.right)
        if node.op in ("AND", "OR", "==", "!=", "<", "<=", ">", ">=", "=~", "!~"):
            return _Value("BOOL")
        if left.kind == right.kind and left.kind in ("INT", "DOUBLE", "DURATION", "STRING"):
            return left if left.kind != "STRING" or node.op == "+" else _UNKNOWN
        if left.kind == "DURATION" and right.kind in ("INT", "DOUBLE") and node.op in ("*", "/"):
            return left
        return _UNKNOWN

    def link(self, obj: _Value, link: ts.Link) -> _Value:
        args = [self.eval(arg) for arg in link.args] if link.args is not None else None
        on = f"*pipeline.{obj.go_type}" if obj.go_type else None
        name = link.name
        if link.op == "|":
            if on and name in self.udfs and name not in CHAIN_METHODS:
                self.problem(link, f"no chaining method \"{name}\" on {on}, but dynamic method does exist. "
                                   f"Use '@' operator instead: 'node@{name}(..)'.")
                return _UNKNOWN
            return _Value("NODE", chain_node_type(name))
        if link.op == "@":
            if name in self.udfs:
                return _Value("NODE", "UDFNode", udf=self.udfs[name])
            if on and name in CHAIN_METHODS:
                self.problem(link, f"no dynamic method \"{name}\" on {on}, but chaining method does exist. "
                                   f"Use '|' operator instead: 'node|{name}(..)'.")
            elif on:
                self.problem(link, f'no method or property "{name}" on {on}')
            return _UNKNOWN
        if args is not None and obj.udf is not None:
            self.udf_option(obj.udf, link, args)
            return obj
        return obj if args is not None else _UNKNOWN

    def udf_option(self, udf: UDFDeclaration, link: ts.Link, args: list[_Value]) -> None:
        name = link.name
        if udf.options is None:  # a configured UDF whose Info is not known here
            return
        types = udf.options.get(name)
        if types is None:
            if name in CHAIN_METHODS:
                self.problem(link, f"no property method \"{name}\" on *pipeline.UDFNode, but chaining method "
                                   f"does exist. Use '|' operator instead: 'node|{name}(..)'.")
            elif name in self.udfs:
                self.problem(link, f"no property method \"{name}\" on *pipeline.UDFNode, but dynamic method "
                                   f"does exist. Use '@' operator instead: 'node@{name}(..)'.")
            else:
                self.problem(link, f'no method or property "{name}" on *pipeline.UDFNode')
            return
        if len(args) == 1 and args[0].kind == "LIST":
            # Kapacitor spreads a single list argument into the arguments (that is how
            # .groupBy(['a', 'b']) works), for UDF options too.
            if args[0].items is None:
                return
            args = args[0].items
        if len(args) != len(types):
            self.problem(link, f"unexpected number of args to {name}, got {len(args)} expected {len(types)}")
            return
        for arg, expected in zip(args, types, strict=True):
            if arg.kind is None:
                continue
            # Anything but the five wire types leaves the OptionValue's type at its zero value, BOOL.
            got = arg.kind if arg.kind in _WIRE else "BOOL"
            if got != expected:
                self.problem(link, f"unexpected arg to {name}, got {got} expected {expected}")
                return


def _task_type(statements: Iterable[ts.Node]) -> str | None:
    """``stream`` or ``batch``: the source the first pipeline starts from."""
    for statement in statements:
        node = statement.value if isinstance(statement, ts.VarDecl) else statement
        while isinstance(node, ts.Chain):
            node = node.root
        if isinstance(node, ts.Ident) and node.name in ("stream", "batch"):
            return node.name
    return None


def check_script(
    text: str,
    udfs: Mapping[str, UDFDeclaration] | None = None,
    *,
    template: bool = False,
    given_vars: Mapping[str, str] | None = None,
) -> ScriptReport:
    """Everything ``kapacitor define`` (or ``define-template`` when ``template``) rejects in ``text``.

    ``udfs`` are the UDFs Kapacitor knows (default: this package's registry);
    ``given_vars`` maps var names a vars file sets to their vars-JSON type.
    """
    if udfs is None:
        udfs = registry_declarations()
    try:
        program = ts.parse(text)
    except ts.TickSyntaxError as exc:
        return ScriptReport([Problem(exc.line, exc.char, str(exc), str(exc))])
    task_type = _task_type(program.statements)
    if task_type is None:
        message = "invalid task type: the script has no stream or batch pipeline"
        return ScriptReport([Problem(1, 1, message, message)])
    evaluator = _Evaluator(udfs, task_type, given_vars or {}, template)
    for statement in program.statements:
        evaluator.statement(statement)
    report = evaluator.report
    report.problems.sort(key=lambda p: (p.line, p.char))
    return report


def check_file(
    path: str | Path,
    udfs: Mapping[str, UDFDeclaration] | None = None,
    *,
    template: bool = False,
    given_vars: Mapping[str, str] | None = None,
) -> ScriptReport:
    """:func:`check_script` of a file."""
    text = Path(path).read_text(encoding="utf-8")
    return check_script(text, udfs, template=template, given_vars=given_vars)
