"""TICKscript source -> syntax tree, positioned the way Kapacitor reports errors.

Follows Kapacitor's own parser (``tick/ast/parser.go`` in 1.5 - 1.8, over the tokens of
:mod:`udfs.tickscript.lexer`) closely enough that a script parsed here is one Kapacitor parses,
and a node's ``line``/``char`` are what
Kapacitor prints as ``line L char C``: the 1-based line and the 1-based *byte* column of
the node's first character (for a method call, of its name). Facts that surprise:
numbers have no exponent (``1e3`` is a syntax error), a duration is one number and one
unit (``1h30m`` is two tokens: a syntax error), ``'...'`` is a string, ``"..."`` a field
reference.

Examples
--------
>>> chain = parse("stream|from()@mad().size(10)").statements[0]
>>> [(link.op, link.name, link.char) for link in chain.links]
[('|', 'from', 8), ('@', 'mad', 15), ('.', 'size', 21)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from udfs.params.durations import parse_duration
from udfs.tickscript.lexer import Source, TickSyntaxError, Token, tokenize

__all__ = [
    "Call", "Chain", "DBRP", "Ident", "Lambda", "Link", "ListExpr", "Literal", "Node", "Operation",
    "Program", "TickSyntaxError", "VarDecl", "parse",
]


@dataclass
class Node:
    line: int
    char: int


@dataclass
class Literal(Node):
    kind: str  # STRING INT DOUBLE BOOL DURATION REGEX STAR REFERENCE
    value: Any = None


@dataclass
class Ident(Node):
    name: str = ""


@dataclass
class ListExpr(Node):
    items: list[Node] = field(default_factory=list)


@dataclass
class Lambda(Node):
    expr: Node | None = None


@dataclass
class Operation(Node):
    """A unary (``right`` is None) or binary operator."""

    op: str = ""
    left: Node | None = None
    right: Node | None = None


@dataclass
class Call(Node):
    """A global function call, ``time(1m)`` or ``sigma("value")`` inside a lambda."""

    name: str = ""
    args: list[Node] = field(default_factory=list)


@dataclass
class Link(Node):
    """One ``|name(...)``, ``@name(...)``, ``.name(...)`` or ``.name``; positioned at ``name``."""

    op: str = ""
    name: str = ""
    args: list[Node] | None = None


@dataclass
class Chain(Node):
    root: Node | None = None
    links: list[Link] = field(default_factory=list)


@dataclass
class VarDecl(Node):
    name: str = ""
    value: Node | None = None  # ``var x = value``
    type_name: str | None = None  # ``var x string`` (a template var without a default)


@dataclass
class DBRP(Node):
    db: str = ""
    rp: str = ""


@dataclass
class Program:
    statements: list[Node]


_PRECEDENCE = {"OR": 0, "AND": 1, "==": 2, "!=": 2, "=~": 2, "!~": 2, ">": 3, ">=": 3, "<": 3, "<=": 3,
               "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}



_PRIMARY = ("number", "string", "duration", "identifier", "TRUE", "FALSE", "==", "(", "-", "!")


class _Parser:
    """Recursive descent over the tokens, in the shape of Kapacitor's ``tick/ast/parser.go``."""

    def __init__(self, src: Source) -> None:
        self.src, self.toks, self.i = src, tokenize(src), 0

    def peek(self, ahead: int = 0) -> Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def unexpected(self, tok: Token, *expected: str) -> TickSyntaxError:
        return self.src.error(tok.index, tok.name, ",".join(f'"{e}"' for e in expected))

    def expect(self, kind: str) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise self.unexpected(tok, kind)
        return tok

    def program(self) -> Program:
        statements = []
        while self.peek().kind != "EOF":
            statements.append(self.statement())
        return Program(statements)

    def statement(self) -> Node:
        tok = self.peek()
        if tok.kind == "var":
            self.next()
            name = self.expect("identifier")
            if self.peek().kind == "=":
                self.next()
                return VarDecl(tok.line, tok.char, name.text, value=self.expression())
            return VarDecl(tok.line, tok.char, name.text, type_name=self.expect("identifier").text)
        if tok.kind == "dbrp":
            self.next()
            db = self.expect("reference")
            self.expect(".")
            rp = self.expect("reference")
            return DBRP(tok.line, tok.char, _unquote(db.text), _unquote(rp.text))
        return self.expression()

    def expression(self) -> Node:
        tok = self.peek()
        if tok.kind == "identifier" and self.peek(1).kind == "(":
            term = self.call(self.expression)
            return self.chain(term) if self.peek().kind in ".|@" else self.precedence(term, 0)
        if tok.kind == "identifier" and self.peek(1).kind in (".", "|", "@", "var", "identifier"):
            self.next()
            return self.chain(Ident(tok.line, tok.char, tok.text))
        if tok.kind == "lambda":
            self.next()
            return Lambda(tok.line, tok.char, self.precedence(self.primary(), 0))
        if tok.kind == "[":
            return self.string_list()
        return self.precedence(self.primary(), 0)

    def chain(self, root: Node) -> Node:
        links = []
        while (op := self.peek()).kind in (".", "|", "@"):
            self.next()
            name = self.expect("identifier")
            args = None
            if op.kind == "|" or self.peek().kind == "(":
                self.expect("(")
                args = self.parameters(self.expression)
                self.expect(")")
            links.append(Link(name.line, name.char, op.kind, name.text, args))
        return Chain(root.line, root.char, root, links) if links else root

    def parameters(self, parameter: Any) -> list[Node]:
        args: list[Node] = []
        while self.peek().kind != ")":
            args.append(parameter())
            if self.peek().kind != ",":
                break
            self.next()
        return args

    def call(self, parameter: Any) -> Call:
        name = self.expect("identifier")
        self.expect("(")
        args = self.parameters(parameter)
        self.expect(")")
        return Call(name.line, name.char, name.text, args)

    def string_list(self) -> ListExpr:
        start = self.expect("[")
        items: list[Node] = []
        while self.peek().kind != "]":
            tok = self.next()
            if tok.kind == "identifier":
                items.append(Ident(tok.line, tok.char, tok.text))
            elif tok.kind in ("string", "*"):
                items.append(_literal(tok))
            else:
                raise self.unexpected(tok, "identifier", "string", "*")
            if self.peek().kind != ",":
                break
            self.next()
        self.expect("]")
        return ListExpr(start.line, start.char, items)

    def precedence(self, lhs: Node, min_precedence: int) -> Node:
        while (op := self.peek()).kind == "op" and _PRECEDENCE.get(op.text, -1) >= min_precedence:
            self.next()
            rhs = self.primary()
            while (look := self.peek()).kind == "op" and _PRECEDENCE.get(look.text, -1) > _PRECEDENCE[op.text]:
                rhs = self.precedence(rhs, _PRECEDENCE[look.text])
            lhs = Operation(op.line, op.char, op.text, lhs, rhs)
        return lhs

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.next()
            inner = self.precedence(self.primary(), 0)
            self.expect(")")
            return inner
        if tok.kind == "identifier":
            if self.peek(1).kind == "(":
                return self.call(lambda: self.precedence(self.primary(), 0))
            self.next()
            return Ident(tok.line, tok.char, tok.text)
        if tok.kind == "op" and tok.text in "-!":
            self.next()
            return Operation(tok.line, tok.char, tok.text, self.primary())
        if tok.kind in ("number", "string", "TRUE", "FALSE", "duration", "regex", "*", "reference"):
            self.next()
            return _literal(tok)
        raise self.unexpected(tok, *_PRIMARY)


def _unquote(text: str) -> str:
    if text.startswith("'''"):
        return text[3:-3]
    quote = text[0]
    return text[1:-1].replace("\\" + quote, quote)


def _literal(tok: Token) -> Literal:
    kind, text = tok.kind, tok.text
    if kind == "number":
        value: Any = float(text) if "." in text else int(text)
        return Literal(tok.line, tok.char, "DOUBLE" if "." in text else "INT", value)
    if kind == "duration":
        return Literal(tok.line, tok.char, "DURATION", parse_duration(text))
    if kind in ("TRUE", "FALSE"):
        return Literal(tok.line, tok.char, "BOOL", kind == "TRUE")
    if kind == "*":
        return Literal(tok.line, tok.char, "STAR")
    if kind == "regex":
        return Literal(tok.line, tok.char, "REGEX", text[1:-1].replace("\\/", "/"))
    return Literal(tok.line, tok.char, "STRING" if kind == "string" else "REFERENCE", _unquote(text))


def parse(text: str) -> Program:
    """The syntax tree of a TICKscript; raise :class:`TickSyntaxError` where Kapacitor's parser would."""
    return _Parser(Source(text)).program()
