"""Safe YAML loading that remembers where every key and item came from."""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml

from evalkit.errors import Location, SuiteError

Path_ = tuple[str | int, ...]

# A suite arrives in pull requests: YAML aliases must not expand into a "billion laughs" document
# (every later stage, from validation to hashing case fields, walks the expanded data).
MAX_EXPANDED_NODES = 1_000_000
# PyYAML scans nested flow collections ("[[[[...") in quadratic time: refuse absurd nesting first.
MAX_FLOW_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


class PositionedYaml:
    """Parsed YAML data plus the 1-based (line, column) of every mapping key and list item."""

    def __init__(self, data: Any, positions: dict[Path_, tuple[int, int]], file: str) -> None:
        self.data = data
        self.positions = positions
        self.file = file

    def locate(self, path: Path_, field: str | None = None) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            pos = self.positions.get(tuple(path[:end]))
            if pos is not None:
                return Location(self.file, pos[0], pos[1], field)
        return Location(self.file, None, None, field)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_positioned(text: str, file: str) -> PositionedYaml:
    """Parse ``text`` with the safe loader; YAML errors and duplicate keys raise ``SuiteError``."""
    _check_flow_depth(text, file)
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters at once
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SuiteError("the file is empty", Location(file, 1, 1))
        _check_expansion(node, file)
        positions: dict[Path_, tuple[int, int]] = {(): (node.start_mark.line + 1, node.start_mark.column + 1)}
        _walk(node, (), positions, file, set())
        data = loader.construct_document(node)
    except RecursionError:
        raise SuiteError("YAML error: the document is nested too deeply", Location(file, 1, 1)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        tag = re.search(r"for the tag '(?:tag:yaml.org,2002:)?([^']*)'", problem)
        if "could not determine a constructor" in problem and tag:
            problem = f"YAML tags that construct objects are not allowed (!!{tag.group(1)})"
        elif exc.problem and exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            problem += f" ({exc.context.strip()} on line {exc.context_mark.line + 1})"
        raise SuiteError(f"YAML error: {problem}", Location(file, line, col)) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"YAML error: {exc}", Location(file)) from None
    finally:
        loader.dispose()
    return PositionedYaml(data, positions, file)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> SuiteError:
    at = min(max(exc.position, 0), len(text))
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    char = exc.character if isinstance(exc.character, int) else 0
    return SuiteError(f"YAML error: control character U+{char:04X} is not allowed in YAML",
                      Location(file, line, column))


def _check_flow_depth(text: str, file: str) -> None:
    """Bracket nesting deeper than ``MAX_FLOW_DEPTH`` (brackets inside quotes count too: a real
    suite never comes close)."""
    depth = 0
    for match in re.finditer(r"[\[{]|[\]}]", text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        if depth > MAX_FLOW_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - text.rfind("\n", 0, match.start())
            raise SuiteError(f"YAML error: the document is nested too deeply (more than {MAX_FLOW_DEPTH} levels)",
                             Location(file, line, column))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse alias cycles and documents whose aliases expand to more than ``MAX_EXPANDED_NODES``."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk over the node graph (aliases are shared nodes).
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            active.discard(key)
            size = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > MAX_EXPANDED_NODES:
                mark = node.start_mark
                raise SuiteError(
                    f"YAML error: aliases expand to more than {MAX_EXPANDED_NODES:,} values",
                    Location(file, mark.line + 1, mark.column + 1),
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in active:
            mark = node.start_mark
            raise SuiteError("YAML error: an alias refers to itself (recursive data)",
                             Location(file, mark.line + 1, mark.column + 1))
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, False))


def _walk(node: yaml.Node, path: Path_, positions: dict[Path_, tuple[int, int]], file: str,
          seen_nodes: set[int]) -> None:
    # Aliased nodes are walked once: later uses are located at the alias itself.
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise SuiteError(
                    f"duplicate key {key!r} (first on line {seen[key]})",
                    Location(file, line, key_node.start_mark.column + 1, format_path((*path, key))),
                )
            seen[key] = line
            positions[(*path, key)] = (line, key_node.start_mark.column + 1)
            _walk(value_node, (*path, key), positions, file, seen_nodes)
    elif isinstance(node, yaml.ScalarNode) and node.style == '"' and _SURROGATE.search(node.value):
        mark = node.start_mark
        raise SuiteError("a \\u escape makes half a surrogate pair (not valid text)",
                         Location(file, mark.line + 1, mark.column + 1, format_path(path) or None))
    elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int" \
            and len(node.value) > sys.get_int_max_str_digits():  # int() would refuse it (ValueError)
        mark = node.start_mark
        raise SuiteError(f"a number has more than {sys.get_int_max_str_digits()} digits; write it as a string "
                         "(in quotes)", Location(file, mark.line + 1, mark.column + 1, format_path(path) or None))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions[(*path, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, (*path, index), positions, file, seen_nodes)
