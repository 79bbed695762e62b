"""LOC expressions of the `loc` filter: codes like 01-01 joined by AND, OR, NOT and parentheses.

Grammar (NOT binds tightest, then AND, then OR; `A NOT B` means `A AND NOT B`)::

    expr   := term (OR term)*
    term   := factor ((AND | NOT) factor)*
    factor := NOT factor | "(" expr ")" | CODE

`parse_loc` turns text into a small tree of frozen (hashable) nodes, `loc_matches`
evaluates it on one hit's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["And", "Code", "LocExpr", "Not", "Or", "loc_matches", "parse_loc"]


@dataclass(slots=True, frozen=True)
class Code:
    """One LOC code, e.g. 01-01."""

    code: str


@dataclass(slots=True, frozen=True)
class Not:
    """Hits whose code does not satisfy `inner`."""

    inner: LocExpr


@dataclass(slots=True, frozen=True)
class And:
    """Both sides hold."""

    left: LocExpr
    right: LocExpr


@dataclass(slots=True, frozen=True)
class Or:
    """Either side holds."""

    left: LocExpr
    right: LocExpr


LocExpr: TypeAlias = "Code | Not | And | Or"

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_CODE = re.compile(r"\d{2}-\d{2}")


class _Parser:
    __slots__ = ("_pos", "_tokens")

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._pos = 0

    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("the expression ends where a LOC code was expected")
        self._pos += 1
        return token

    def parse(self) -> LocExpr:
        expr = self._expr()
        if self._peek() is not None:
            raise ValueError(f"unexpected {self._peek()!r}")
        return expr

    def _expr(self) -> LocExpr:
        expr = self._term()
        while self._peek() == "OR":
            self._take()
            expr = Or(expr, self._term())
        return expr

    def _term(self) -> LocExpr:
        expr = self._factor()
        while self._peek() in ("AND", "NOT"):
            negate = self._take() == "NOT"
            right = self._factor()
            expr = And(expr, Not(right) if negate else right)
        return expr

    def _factor(self) -> LocExpr:
        token = self._take()
        if token == "NOT":
            return Not(self._factor())
        if token == "(":
            expr = self._expr()
            if self._peek() != ")":
                raise ValueError("a parenthesis is not closed")
            self._take()
            return expr
        if _CODE.fullmatch(token):
            return Code(token)
        raise ValueError(f"{token!r} is neither a LOC code like 01-01 nor AND/OR/NOT")


def parse_loc(text: str) -> LocExpr:
    """The expression in `text`; raises ValueError saying what is wrong."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        raise ValueError("an empty LOC expression")
    return _Parser(tokens).parse()


def loc_matches(expr: LocExpr, code: str) -> bool:
    """Whether a hit with LOC `code` satisfies `expr`."""
    match expr:
        case Code():
            return expr.code == code
        case Not():
            return not loc_matches(expr.inner, code)
        case And():
            return loc_matches(expr.left, code) and loc_matches(expr.right, code)
        case Or():
            return loc_matches(expr.left, code) or loc_matches(expr.right, code)
