"""The get_all_records_where expression language (xapi ocaml/database/db_filter_*.ml{l,y}).

    expr := "true" | "false" | "not" expr | expr "and" expr | expr "or" expr
          | value "=" value | "(" expr ")"
    value := "field" "<db column>" | "<literal>"

Strings are double-quoted without escapes; db columns join namespaces with "__"
(name__label). Values compare as the database stores them: bools "true"/"false", ints in
decimal. A parse error is INVALID_VALUE [expr, reason].
"""
import re

from .errors import XapiError

_TOKEN = re.compile(r'\s*(?:(\()|(\))|(=)|"([^"]*)"|(field|and|or|not|true|false)\b)')


def _tokens(expr):
    pos, out = 0, []
    expr = expr.rstrip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise XapiError("INVALID_VALUE", expr, "unexpected text at offset %d" % pos)
        lparen, rparen, eq, string, word = match.groups()
        if string is not None:
            out.append(("str", string))
        else:
            out.append((lparen or rparen or eq or word, None))
        pos = match.end()
    return out


def compile_filter(expr):
    """Return a predicate over records for ``expr``."""
    tokens = _tokens(expr)
    pos = [0]

    def peek():
        return tokens[pos[0]][0] if pos[0] < len(tokens) else None

    def take(kind=None):
        if pos[0] >= len(tokens) or (kind and tokens[pos[0]][0] != kind):
            raise XapiError("INVALID_VALUE", expr, "parse error near token %d" % pos[0])
        token = tokens[pos[0]]
        pos[0] += 1
        return token

    def value():
        if peek() == "field":
            take()
            name = take("str")[1]
            return lambda record: _column(record, name)
        literal = take("str")[1]
        return lambda record: literal

    def atom():
        kind = peek()
        if kind == "true":
            take()
            return lambda record: True
        if kind == "false":
            take()
            return lambda record: False
        if kind == "not":
            take()
            inner = atom()
            return lambda record: not inner(record)
        if kind == "(":
            take()
            inner = disjunction()
            take(")")
            return inner
        left = value()
        take("=")
        right = value()
        return lambda record: left(record) == right(record)

    def conjunction():
        left = atom()
        while peek() == "and":
            take()
            right, prev = atom(), left
            left = (lambda a, b: lambda record: a(record) and b(record))(prev, right)
        return left

    def disjunction():
        left = conjunction()
        while peek() == "or":
            take()
            right, prev = conjunction(), left
            left = (lambda a, b: lambda record: a(record) or b(record))(prev, right)
        return left

    predicate = disjunction()
    if pos[0] != len(tokens):
        raise XapiError("INVALID_VALUE", expr, "trailing tokens")
    return predicate


def _column(record, column):
    name = column if column in record else column.replace("__", "_")
    value = record.get(name)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return repr(value)
    return value
