"""The ARM template expression language: '[concat(parameters('a'), 'b')[0].name]' into a tree.

Grammar (whitespace allowed between tokens):
    expression := primary ( '.' identifier | '[' expression ']' )*
    primary    := identifier '(' [ expression ( ',' expression )* ] ')' | 'string' | integer
A string literal doubles its quote to escape it ('it''s'); integers may be negative. There are no
boolean or null literals: ARM spells them true(), false(), null().
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from scaleset.templates.errors import TemplateError, invalid_template


@dataclass(frozen=True)
class StringLiteral:
    value: str


@dataclass(frozen=True)
class IntegerLiteral:
    value: int


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class PropertyAccess:
    target: Node
    name: str


@dataclass(frozen=True)
class IndexAccess:
    target: Node
    index: Node


Node = StringLiteral | IntegerLiteral | FunctionCall | PropertyAccess | IndexAccess


def is_expression(text: str) -> bool:
    """A JSON string is an expression when bracketed, unless '[[' escapes the first bracket."""
    return len(text) >= 2 and text[0] == "[" and text[-1] == "]" and not text.startswith("[[")


def literal_text(text: str) -> str:
    """The value of a string that is not an expression: '[[x]' stands for '[x]'."""
    if text.startswith("[[") and text.endswith("]"):
        return text[1:]
    return text


@functools.lru_cache(maxsize=8192)
def parse_expression(text: str) -> Node:
    """Parses a bracketed expression string; raises InvalidTemplate (without a target) if it is not valid."""
    tokens = _tokenize(text[1:-1], text)
    parser = _Parser(tokens, text)
    node = parser.expression()
    parser.expect("EndOfData")
    return node


def function_calls(node: Node) -> Iterator[FunctionCall]:
    """Every function call in node, outermost first."""
    if isinstance(node, FunctionCall):
        yield node
        for argument in node.arguments:
            yield from function_calls(argument)
    elif isinstance(node, PropertyAccess):
        yield from function_calls(node.target)
    elif isinstance(node, IndexAccess):
        yield from function_calls(node.target)
        yield from function_calls(node.index)


@dataclass(frozen=True)
class _Token:
    kind: str  # ARM's token names, so parse errors read like ARM's
    text: str


_PUNCTUATION = {"(": "LeftParenthesis", ")": "RightParenthesis", "[": "LeftSquareBracket",
                "]": "RightSquareBracket", ",": "Comma", ".": "Dot"}


def _syntax_error(expression: str, detail: str) -> TemplateError:
    return invalid_template(f"The template language expression '{expression}' is not valid: "
                            f"Unable to parse language expression '{expression[1:-1]}': {detail}")


def _tokenize(source: str, expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        char = source[position]
        if char.isspace():
            position += 1
        elif char in _PUNCTUATION:
            tokens.append(_Token(_PUNCTUATION[char], char))
            position += 1
        elif char == "'":
            position = _read_string(source, position, expression, tokens)
        elif char.isdigit() or (char == "-" and source[position + 1:position + 2].isdigit()):
            end = position + 1
            while end < len(source) and source[end].isdigit():
                end += 1
            tokens.append(_Token("Integer", source[position:end]))
            position = end
        elif char.isalpha() or char == "_":
            end = position + 1
            while end < len(source) and (source[end].isalnum() or source[end] == "_"):
                end += 1
            tokens.append(_Token("Identifier", source[position:end]))
            position = end
        else:
            raise _syntax_error(expression, f"the character '{char}' at position '{position}' is not expected.")
    tokens.append(_Token("EndOfData", ""))
    return tokens


def _read_string(source: str, start: int, expression: str, tokens: list[_Token]) -> int:
    chunks: list[str] = []
    position = start + 1
    while True:
        end = source.find("'", position)
        if end < 0:
            raise _syntax_error(expression, f"the string literal starting at position '{start}' is not terminated.")
        chunks.append(source[position:end])
        if source.startswith("''", end):
            chunks.append("'")
            position = end + 2
        else:
            tokens.append(_Token("String", "".join(chunks)))
            return end + 1


class _Parser:
    def __init__(self, tokens: list[_Token], expression: str) -> None:
        self._tokens = tokens
        self._expression = expression
        self._position = 0

    def _peek(self) -> _Token:
        return self._tokens[self._position]

    def _next(self) -> _Token:
        token = self._tokens[self._position]
        self._position += 1
        return token

    def expect(self, kind: str) -> _Token:
        token = self._next()
        if token.kind != kind:
            raise _syntax_error(self._expression, f"expected token '{kind}' and actual '{token.kind}'.")
        return token

    def expression(self) -> Node:
        node = self._primary()
        while True:
            if self._peek().kind == "Dot":
                self._next()
                node = PropertyAccess(node, self.expect("Identifier").text)
            elif self._peek().kind == "LeftSquareBracket":
                self._next()
                index = self.expression()
                self.expect("RightSquareBracket")
                node = IndexAccess(node, index)
            else:
                return node

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "String":
            return StringLiteral(token.text)
        if token.kind == "Integer":
            return IntegerLiteral(int(token.text))
        if token.kind != "Identifier":
            raise _syntax_error(self._expression, f"expected token 'Identifier' and actual '{token.kind}'.")
        self.expect("LeftParenthesis")
        arguments: list[Node] = []
        if self._peek().kind != "RightParenthesis":
            arguments.append(self.expression())
            while self._peek().kind == "Comma":
                self._next()
                arguments.append(self.expression())
        self.expect("RightParenthesis")
        return FunctionCall(token.text, tuple(arguments))
