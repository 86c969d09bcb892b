"""The ``dse query`` expression language: parsed with :mod:`ast`, evaluated by a walker over a DataFrame.

User text is never given to ``eval``, ``DataFrame.query`` or pandas' ``@`` resolver (which reaches any
Python object, e.g. ``@pd.io.common.os.system``). The grammar is the subset of Python expressions below;
every other construct is refused with its position (1-based column) and this list:

- column names (``accuracy_mean``; names that are not identifiers in backticks: `` `energy pj` ``),
- numbers (``2e5``, ``-1``), strings (``'a'``), ``True`` / ``False``,
- comparisons ``== != < <= > >=`` (chains such as ``0 < x < 1`` included),
- ``in`` / ``not in`` against a list or tuple of numbers and strings (``cell_bits in [1, 2]``),
- ``and`` / ``or`` / ``not`` (pandas' ``&`` / ``|`` / ``~`` bind tighter than comparisons in Python's
  grammar, so they are refused with a hint rather than silently meaning something else),
- arithmetic ``+ - * / // % **`` on numbers and numeric columns, parentheses.
"""
from __future__ import annotations

import ast

import numpy as np
import pandas as pd

ALLOWED = ("column names (backticks for other names), numbers, strings, True/False, comparisons "
           "(== != < <= > >=), in/not in [list], and/or/not, arithmetic (+ - * / // % **), parentheses")
MAX_LENGTH = 4000  # characters; far beyond any hand-written filter, bounds parse time and depth

_ARITHMETIC = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
               ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power}
_COMPARE = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}
_NAMES = {ast.Attribute: "attribute access", ast.Call: "a call", ast.Subscript: "a subscript",
          ast.Lambda: "lambda", ast.JoinedStr: "an f-string", ast.NamedExpr: "':='",
          ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
          ast.GeneratorExp: "a comprehension", ast.IfExp: "'if ... else'", ast.Starred: "'*'",
          ast.Dict: "a dict", ast.Set: "a set", ast.Await: "await", ast.Yield: "yield",
          ast.Slice: "a slice", ast.MatMult: "'@'"}


class QueryError(ValueError):
    """A refused or failing expression; the message names the position and what is allowed."""


def _replace_backticks(expr: str) -> tuple[str, dict[str, str]]:
    """``expr`` with each `` `name` `` (outside string literals) replaced by a placeholder identifier."""
    out, names, i, quote = [], {}, 0, None
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                out.append(expr[i:i + 2])
                i += 2
                continue
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "`":
            end = expr.find("`", i + 1)
            if end < 0:
                raise QueryError(f"position {i + 1}: unclosed backtick; allowed: {ALLOWED}")
            placeholder = f"_q{len(names)}"
            placeholder += "_" * max(0, end + 1 - i - len(placeholder))  # keeps later positions right
            names[placeholder] = expr[i + 1:end]
            out.append(placeholder)
            i = end + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out), names


def _refuse(node: ast.AST, what: str) -> QueryError:
    return QueryError(f"position {getattr(node, 'col_offset', 0) + 1}: {what} is not allowed; allowed: {ALLOWED}")


class _Walker:
    def __init__(self, frame: pd.DataFrame, names: dict[str, str]):
        self.frame, self.names = frame, names

    def value(self, node: ast.AST):
        """A Series (a column or a computed one) or a scalar (np.float64, str or bool)."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return node.value
            if isinstance(node.value, (int, float)):
                try:
                    return np.float64(node.value)
                except OverflowError:
                    raise _refuse(node, "a number this large") from None
            if isinstance(node.value, str):
                return node.value
            raise _refuse(node, f"the constant {node.value!r}")
        if isinstance(node, ast.Name):
            column = self.names.get(node.id, node.id)
            if node.id.startswith("__") or column not in self.frame.columns:
                raise QueryError(f"position {node.col_offset + 1}: no column {column!r}; "
                                 f"columns: {', '.join(map(str, self.frame.columns))}")
            return self.frame[column]
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            result = parts[0]
            for part in parts[1:]:
                result = combine(result, part)
            return result
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Invert):
                raise _refuse(node, "'~' (write 'not')")
            if isinstance(node.op, ast.Not):
                return np.logical_not(self.condition(node.operand))
            operand = self.numeric(node.operand)
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
                raise _refuse(node, "'&' (write 'and')" if isinstance(node.op, ast.BitAnd) else "'|' (write 'or')")
            if type(node.op) not in _ARITHMETIC:
                raise _refuse(node, _NAMES.get(type(node.op), f"the operator {type(node.op).__name__}"))
            left, right = self.numeric(node.left), self.numeric(node.right)
            with np.errstate(all="ignore"):
                return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            raise _refuse(node, "a list outside 'in [...]'")
        raise _refuse(node, _NAMES.get(type(node), type(node).__name__))

    def numeric(self, node: ast.AST):
        value = self.value(node)
        numeric = (pd.api.types.is_numeric_dtype(value) and not pd.api.types.is_bool_dtype(value)
                   if isinstance(value, pd.Series) else isinstance(value, np.float64))
        if not numeric:
            raise QueryError(f"position {node.col_offset + 1}: arithmetic needs numbers or numeric columns; "
                             f"allowed: {ALLOWED}")
        return value

    def condition(self, node: ast.AST):
        value = self.value(node)
        if isinstance(value, bool):
            return value
        if isinstance(value, pd.Series) and pd.api.types.is_bool_dtype(value):
            return value
        raise QueryError(f"position {node.col_offset + 1}: expected a condition (a comparison or a "
                         f"True/False column); allowed: {ALLOWED}")

    def compare(self, node: ast.Compare):
        result, left = True, self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right_node, (ast.List, ast.Tuple)):
                    raise _refuse(right_node, "'in' with anything but a list [...]")
                items = [self.value(item) for item in right_node.elts]
                if any(isinstance(item, pd.Series) for item in items):
                    raise _refuse(right_node, "a column inside an 'in' list")
                hit = left.isin(items) if isinstance(left, pd.Series) else left in items
                part = ~hit if isinstance(op, ast.NotIn) else hit
                right = None
            elif type(op) in _COMPARE:
                right = self.value(right_node)
                try:
                    part = _COMPARE[type(op)](left, right)
                except TypeError as exc:
                    raise QueryError(f"position {right_node.col_offset + 1}: cannot compare: {exc}") from None
            else:
                raise _refuse(right_node, f"the comparison {type(op).__name__}")
            result = np.logical_and(result, part)
            left = right
        return result


def select(frame: pd.DataFrame, expr: str) -> pd.DataFrame:
    """Rows of ``frame`` (any columns) matching ``expr`` in the language above; refusals raise QueryError."""
    if not expr.strip():
        return frame
    if len(expr) > MAX_LENGTH:
        raise QueryError(f"expression of {len(expr)} characters; at most {MAX_LENGTH}")
    text, names = _replace_backticks(expr)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"position {exc.offset or 0}: syntax error ({exc.msg}); allowed: {ALLOWED}") from None
    except (MemoryError, RecursionError, ValueError):
        raise QueryError(f"expression too deeply nested; allowed: {ALLOWED}") from None
    try:
        mask = _Walker(frame, names).condition(tree.body)
    except RecursionError:
        raise QueryError("expression too deeply nested") from None
    if isinstance(mask, bool):
        return frame if mask else frame.iloc[:0]
    return frame[mask.fillna(False).astype(bool).to_numpy()]
