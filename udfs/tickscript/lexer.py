"""TICKscript source -> tokens, as Kapacitor's lexer (``tick/ast/lex.go``) cuts them.

Positions are Kapacitor's: ``line`` is 1-based, ``char`` the 1-based *byte* column
(``pos - LastIndex(text[:pos], "\\n")`` in Kapacitor). Token kinds are Kapacitor's token
names (``identifier``, ``(`` ...), so a parse error names tokens the way Kapacitor does.
Whether ``/`` starts a regex or divides, and ``*`` is a star or multiplies, depends on
the previous token, as in Kapacitor's ``tryLexBinaryOperator`` state.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Source", "TickSyntaxError", "Token", "tokenize"]


class TickSyntaxError(ValueError):
    """A script Kapacitor's parser rejects; ``str()`` is Kapacitor's kind of message."""

    def __init__(self, line: int, char: int, message: str) -> None:
        super().__init__(message)
        self.line, self.char = line, char


@dataclass(frozen=True)
class Token:
    kind: str  # Kapacitor's token name ("identifier", "(", ...); "op" for operators
    text: str
    index: int
    line: int
    char: int

    @property
    def name(self) -> str:
        return self.text if self.kind in ("op", "*") else self.kind


_KEYWORDS = {"TRUE": "TRUE", "FALSE": "FALSE", "var": "var", "dbrp": "dbrp", "AND": "op", "OR": "op"}
_PUNCT = {"(": "(", ")": ")", "[": "[", "]": "]", ",": ",", "|": "|", "@": "@"}
_DURATION_UNITS = "uµsmhdw"
# Tokens after which '/' divides and '*' multiplies (Kapacitor's tryLexBinaryOperator state).
_OPERAND_END = {"identifier", "reference", "duration", "number", "string", "TRUE", "FALSE", ")"}


class Source:
    """The script text, with Kapacitor's positions and parse errors for it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def position(self, index: int) -> tuple[int, int]:
        # Kapacitor: line = 1 + newlines before; char = byte offset from the line start + 1.
        start = self.text.rfind("\n", 0, index) + 1
        return self.text.count("\n", 0, index) + 1, len(self.text[start:index].encode()) + 1

    def error(self, index: int, what: str, expected: str = "") -> TickSyntaxError:
        line, char = self.position(index)
        start = max(self.text.rfind("\n", 0, index) + 1, index - 10)
        stop = self.text.find("\n", index, index + 10)
        snippet = self.text[start:stop if stop >= 0 else index + 10]
        message = f'parser: unexpected {what} line {line} char {char} in "{snippet}".'
        return TickSyntaxError(line, char, f"{message} expected: {expected}" if expected else message)


def _scan_quoted(src: Source, i: int, quote: str, what: str) -> int:
    """Index just past the closing ``quote`` of a literal opening at ``i``; backslash escapes it."""
    text, j = src.text, i + 1
    while j < len(text):
        if text[j] == "\\" and text.startswith(quote, j + 1):
            j += 2
        elif text.startswith(quote, j):
            return j + len(quote)
        else:
            j += 1
    raise src.error(i, what)


def tokenize(src: Source) -> list[Token]:
    text, n, i = src.text, len(src.text), 0
    out: list[Token] = []

    def add(kind: str, start: int, end: int) -> None:
        out.append(Token(kind, text[start:end], start, *src.position(start)))

    while i < n:
        c, operand = text[i], bool(out) and out[-1].kind in _OPERAND_END
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            i = n if (j := text.find("\n", i)) < 0 else j
        elif c.isalpha():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            if word == "lambda" and text.startswith(":", j):
                add("lambda", i, j + 1)
                j += 1
            else:
                add(_KEYWORDS.get(word, "identifier"), i, j)
            i = j
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            if text.count(".", i, j) > 1:
                raise src.error(i, "multiple decimals in number")
            if "." not in text[i:j] and j < n and text[j] in _DURATION_UNITS:
                j += 2 if text.startswith("ms", j) else 1
                add("duration", i, j)
            else:
                add("number", i, j)
            i = j
        elif c in "'\"":
            quote = "'''" if text.startswith("'''", i) else c
            j = i + 2 if text.startswith("''", i) and quote == "'" else _scan_quoted(
                src, i, quote, "unterminated string" if c == "'" else "unterminated field reference")
            add("string" if c == "'" else "reference", i, j)
            i = j
        elif c == "/" and not operand:
            j = _scan_quoted(src, i, "/", "unterminated regex")
            add("regex", i, j)
            i = j
        elif c == "*" and not operand:
            add("*", i, i + 1)
            i += 1
        elif c in _PUNCT:
            add(_PUNCT[c], i, i + 1)
            i += 1
        elif c == ".":
            add(".", i, i + 1)
            i += 1
        elif text[i:i + 2] in ("==", "!=", "<=", ">=", "=~", "!~"):
            add("op", i, i + 2)
            i += 2
        elif c == "=":
            add("=", i, i + 1)
            i += 1
        elif c in "+-*/%<>!":
            add("op", i, i + 1)
            i += 1
        else:
            raise src.error(i, f"unknown state, last char: {c!r}")
    out.append(Token("EOF", "", n, *src.position(n)))
    return out
