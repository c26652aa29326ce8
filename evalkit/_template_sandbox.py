"""The jinja2 sandbox prompt templates render in, bounded in memory and work *while* rendering.

Suites arrive in pull requests. Beyond jinja2's sandbox (no ``__class__``/``__globals__``, no mutation),
a template may not build huge values or loop for long:

* Every operation that can build a value much larger than its inputs is checked *before* it runs,
  from the sizes of its inputs: ``*`` and ``**``, ``%`` and ``format``, ``replace``, ``join``, ``indent``,
  ``wordwrap``, ``batch``/``slice`` fill values, ``~`` (concatenation), and width arguments.
* Every value an operation, filter, call or literal produces is measured (strings by length, lists and
  mappings by the size of everything they hold, shared parts counted each time, so ``[big] * n`` counts
  ``n`` times ``big``) and refused over ``MAX_VALUE_WEIGHT``.
* A per-render budget counts steps (loop iterations, calls, operators, filters: ``MAX_STEPS``) and
  characters built (every measured value, what is printed, and the text of a loop's body on every
  iteration: ``MAX_BUILT``). Loops are counted by rewriting each ``{% for %}`` to iterate through a
  counting filter, so a ``range()`` kept in a variable and looped three deep stops after ``MAX_STEPS``.

Any template therefore renders in bounded time and memory; the check is a ``SecurityError`` that the
caller turns into a located template error (exit 2).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import _PassArg, pass_context
from jinja2.visitor import NodeTransformer

MAX_VALUE_SIZE = 100_000  # characters or items one repetition may build; largest int argument
MAX_RENDERED = 1_000_000  # characters in one rendered message
MAX_RANGE_STEPS = 1_000_000  # range() elements created while rendering one message
MAX_VALUE_WEIGHT = 2 * MAX_RENDERED  # characters + items of any one value a template builds
# A render spends at most a few seconds on each budget (a step, an item walked: about a microsecond each;
# a character copied: about a nanosecond), while no real prompt template comes near them.
MAX_STEPS = 200_000  # loop iterations, calls, operators and filters in one render
MAX_BUILT = 20_000_000  # characters built, measured, printed or scanned by filters in one render
MAX_WALKED = 1_000_000  # list and mapping items measured or scanned by filters in one render

_HUGE_SPEC = re.compile(r"%[-#0 +]*\d*\.?\d{6,}|\{[^{}]*[:][^{}]*\d{6,}[^{}]*\}")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
_FORMAT_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{[^{}]*\}[^{}]*\}")
_WIDTH_FILTERS = ("center", "indent", "wordwrap", "truncate", "format", "batch", "slice")
# str methods whose output is not bounded by their inputs' sizes, and that a prompt has no use for.
_UNSAFE_STR_METHODS = frozenset({"expandtabs", "translate", "maketrans"})
# Filters and globals a prompt has no use for, whose output multiplies their arguments.
_REMOVED_FILTERS = ("urlize",)
_REMOVED_GLOBALS = ("lipsum",)

_ITER = "evalkit:iter"  # not a name a template can write: only the rewrite below uses these filters
_VALUE = "evalkit:value"
_CONCAT = "evalkit:concat"


class Budget:
    """What one render may still do."""

    __slots__ = ("built", "range_steps", "steps", "walked")

    def __init__(self) -> None:
        self.steps = 0
        self.built = 0
        self.walked = 0
        self.range_steps = 0

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise SecurityError(f"the template takes more than {MAX_STEPS:,} steps (loop iterations and calls)")

    def build(self, chars: int, items: int = 0) -> None:
        self.built += chars
        self.walked += items
        if self.built > MAX_BUILT:
            raise SecurityError(f"the template builds more than {MAX_BUILT:,} characters in all")
        if self.walked > MAX_WALKED:
            raise SecurityError(f"the template goes through more than {MAX_WALKED:,} list or mapping items in all")


_BUDGET: ContextVar[Budget | None] = ContextVar("evalkit_template_budget", default=None)


def _budget() -> Budget:
    # Outside a render (jinja2 folding constants while compiling) each operation gets a fresh budget:
    # the per-value checks still hold.
    return _BUDGET.get() or Budget()


def measure(value: Any, cap: int = MAX_VALUE_WEIGHT) -> tuple[int, int]:
    """(characters, items) of ``value``, shared parts counted each time; stops once their sum passes ``cap``."""
    chars = items = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            chars += len(item)
        elif isinstance(item, dict):
            items += 1 + len(item)
            if chars + items <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            items += 1 + len(item)
            if chars + items <= cap:
                stack.extend(item)
        else:
            items += 1
        if chars + items > cap:
            break
    return chars, items


def weight(value: Any, cap: int = MAX_VALUE_WEIGHT) -> int:
    """Characters plus items of ``value`` (see :func:`measure`)."""
    return sum(measure(value, cap))


def _checked(value: Any) -> Any:
    """``value`` once measured and charged; refused when it is larger than ``MAX_VALUE_WEIGHT``."""
    if isinstance(value, str):  # the common case, in O(1)
        chars, items = len(value), 0
    elif isinstance(value, int | float | bool) or value is None:
        return value
    else:
        chars, items = measure(value)
    if chars + items > MAX_VALUE_WEIGHT:
        raise SecurityError(f"the template builds a value of more than {MAX_VALUE_WEIGHT:,} characters or items")
    _budget().build(chars, items)
    return value


def _refuse_over(size: int, what: str) -> None:
    if size > MAX_VALUE_WEIGHT:
        raise SecurityError(f"{what} would build more than {MAX_VALUE_WEIGHT:,} characters")


def _text_size(value: Any) -> int:
    """An upper bound of ``len(str(value))`` for an already measured value (quotes and commas included)."""
    return len(value) if isinstance(value, str) else 8 * weight(value)


def _refuse_huge(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE_SIZE:
            raise SecurityError(f"argument {value} is larger than {MAX_VALUE_SIZE:,}")
        if isinstance(value, str) and _HUGE_SPEC.search(value):
            raise SecurityError("format width or precision is larger than 99,999")


# -- size predictions for the operations that multiply ---------------------------------------------


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    s, old, new = str(s), str(old), str(new)
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    _refuse_over(len(s) + n * max(0, len(new) - len(old)), "replace")


def _check_join(items: list[Any], separator: Any) -> None:
    size = len(str(separator)) * max(0, len(items) - 1)
    _refuse_over(size, "join")
    for item in items:
        size += _text_size(item)
        _refuse_over(size, "join")


def _check_format(template: Any, args: Iterable[Any], percent: bool) -> None:
    """``template % args`` or ``template.format(*args)``: fields x (widest argument + widest width)."""
    text = str(template)
    if percent:
        specs = _PERCENT_SPEC.findall(text)
        if any("*" in part for spec in specs for part in spec):
            raise SecurityError("'*' widths are not allowed in templates")
        widths = [int(part) for spec in specs for part in spec if part]
        fields = len(specs)
    else:
        if _NESTED_FIELD.search(text):
            raise SecurityError("nested replacement fields are not allowed in templates")
        widths = [int(w) for w in _FORMAT_WIDTH.findall(text)]
        fields = text.count("{")
    widest = max((_text_size(a) for a in args), default=0)
    _refuse_over(len(text) + fields * (widest + max(widths, default=0)), "formatting")


def _format_args(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, tuple) else [value]


def _value_index(func: Callable[..., Any]) -> int:
    return 0 if _PassArg.from_obj(func) is None else 1


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its arguments checked before it runs and its result measured after."""
    at = _value_index(func)
    widths = name in _WIDTH_FILTERS

    @functools.wraps(func)  # keeps jinja's pass_context / pass_eval_context marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        if len(args) > at:  # what the filter goes through: jinja2's filters take ~1 us per item
            value = args[at]
            if isinstance(value, str):
                budget.build(len(value))
            elif isinstance(value, list | tuple | dict | set | frozenset | range):
                budget.build(0, len(value))
        if widths:
            _refuse_huge(args[at:], kwargs)
        rest = args[at + 1:]
        if name == "replace" and len(args) > at:
            given = [*args[at:], *(kwargs[k] for k in ("old", "new", "count")[len(args) - at - 1:] if k in kwargs)]
            if len(given) >= 3:  # fewer: jinja2 raises its own TypeError
                _check_replace(*given[:4])
        elif name == "join" and len(args) > at:
            items = list(args[at])
            args = (*args[:at], items, *rest)
            _check_join(items, rest[0] if rest else kwargs.get("d", ""))
        elif name == "indent" and len(args) > at:
            width = rest[0] if rest else kwargs.get("width", 4)
            lines = str(args[at]).count("\n") + 1
            _refuse_over(len(str(args[at])) + lines * (width if isinstance(width, int) else len(str(width))), "indent")
        elif name == "wordwrap" and len(args) > at:
            wrap = kwargs.get("wrapstring") or (rest[2] if len(rest) > 2 else None) or "\n"
            _refuse_over((len(str(args[at])) + 1) * (1 + len(str(wrap))), "wordwrap")
        elif name in ("batch", "slice") and len(args) > at + 1:
            fill = kwargs.get("fill_with", rest[1] if len(rest) > 1 else None)
            count = rest[0] if isinstance(rest[0], int) else 0
            _refuse_over(weight(args[at]) + count * weight(fill), name)
        elif name == "format" and len(args) > at:
            _check_format(args[at], [*rest, *kwargs.values()], percent=True)
        return _checked(func(*args, **kwargs))

    return guarded


# -- the rewrite: loops counted, literals and concatenations measured -------------------------------


@pass_context
def _counted_iter(context: Any, iterable: Any, cost: int) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.step()
        budget.build(cost)
        yield item


@pass_context
def _checked_value(context: Any, value: Any) -> Any:
    return _checked(value)


@pass_context
def _checked_concat(context: Any, parts: tuple[Any, ...]) -> str:
    texts: list[str] = []
    size = 0
    for part in parts:
        _refuse_over(size + _text_size(part), "'~'")
        text = str(part)
        size += len(text)
        texts.append(text)
    _budget().build(size)
    return "".join(texts)


def _text_in(body: list[nodes.Node]) -> int:
    """Characters of literal text in ``body``, nested loops left out (they charge their own)."""
    total = 0
    stack: list[nodes.Node] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        elif not isinstance(node, nodes.For):
            stack.extend(node.iter_child_nodes())
    return total


class _Bound(NodeTransformer):
    def _wrap(self, name: str, node: nodes.Node, *args: nodes.Expr) -> nodes.Filter:
        return nodes.Filter(node, name, list(args), [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)  # type: ignore[assignment]
        cost = 1 + _text_in(node.body)
        node.iter = self._wrap(_ITER, node.iter, nodes.Const(cost))
        if node.recursive:  # loop(children) iterates too
            for call in node.find_all(nodes.Call):
                if isinstance(call.node, nodes.Name) and call.node.name == "loop" and call.args:
                    call.args[0] = self._wrap(_ITER, call.args[0], nodes.Const(cost))
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)  # type: ignore[assignment]
        return self._wrap(_CONCAT, nodes.Tuple(node.nodes, "load", lineno=node.lineno))

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if isinstance(node, nodes.Tuple) and node.ctx != "load":
            return node
        return self._wrap(_VALUE, node)

    visit_List = _literal
    visit_Tuple = _literal
    visit_Dict = _literal


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox, bounded in memory and work while rendering (see the module docstring)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_checked, **options)
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        for name in _REMOVED_GLOBALS:
            self.globals.pop(name, None)
        for name, func in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, func)
        self.filters[_ITER] = _counted_iter
        self.filters[_VALUE] = _checked_value
        self.filters[_CONCAT] = _checked_concat
        self.globals["range"] = self._counted_range

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _Bound().visit(tree)  # rewrites the tree in place (the root is never replaced)
        return tree

    @staticmethod
    def _counted_range(*args: int) -> range:
        numbers = safe_range(*args)  # OverflowError beyond jinja's MAX_RANGE
        budget = _budget()
        budget.range_steps += len(numbers)
        if budget.range_steps > MAX_RANGE_STEPS:
            raise SecurityError(f"loops over range() go beyond {MAX_RANGE_STEPS:,} steps")
        return numbers

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _UNSAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        _budget().step()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and times > 0:
                    if len(seq) * times > MAX_VALUE_SIZE:
                        raise SecurityError(
                            f"repeating a value {times} times builds more than {MAX_VALUE_SIZE:,} items")
                    _refuse_over(weight(seq) * times, "repeating a value")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 \
                    and right * abs(left).bit_length() > 64 * MAX_VALUE_SIZE:
                raise SecurityError("the power is too large")
        elif operator == "%" and isinstance(left, str):
            if _HUGE_SPEC.search(left):
                raise SecurityError("format width or precision is larger than 99,999")
            _check_format(left, _format_args(right), percent=True)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().step()
        _refuse_huge(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            method = getattr(__obj, "__name__", "")
            if method == "replace" and args:
                _check_replace(owner, *args[:3])
            elif method == "join" and args:
                items = list(args[0])
                args = (items, *args[1:])
                _check_join(items, owner)
            elif method in ("format", "format_map"):
                values = [*args, *kwargs.values()] if method == "format" else _format_args(args[0] if args else {})
                _check_format(owner, values, percent=False)
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # "...".format / .format_map, looked up in a template, come here first.
        owner = getattr(value, "__self__", None)
        _refuse_huge((owner,), {})
        wrapped = super().wrap_str_format(value)
        if wrapped is None or not isinstance(owner, str):
            return wrapped

        def checked_format(*args: Any, **kwargs: Any) -> str:
            method = getattr(value, "__name__", "format")
            values = [*args, *kwargs.values()] if method == "format" else _format_args(args[0] if args else {})
            _check_format(owner, values, percent=False)
            return wrapped(*args, **kwargs)

        return checked_format


def render_budgeted(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render with a fresh budget; the text is capped at ``MAX_RENDERED`` characters as it is produced."""
    token = _BUDGET.set(Budget())
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_RENDERED:
                raise SecurityError(f"the rendered text is longer than {MAX_RENDERED:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _BUDGET.reset(token)
