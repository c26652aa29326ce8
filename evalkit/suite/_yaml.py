"""Safe YAML loading that remembers where every key and item came from."""

from __future__ import annotations

from typing import Any

import yaml

from evalkit.errors import Location, SuiteError

Path_ = tuple[str | int, ...]


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
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SuiteError("the file is empty", Location(file, 1, 1))
        positions: dict[Path_, tuple[int, int]] = {(): (node.start_mark.line + 1, node.start_mark.column + 1)}
        _walk(node, (), positions, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "could not determine a constructor" in problem:
            problem = "YAML tags that construct objects are not allowed (" + problem + ")"
        raise SuiteError(f"YAML error: {problem}", Location(file, line, col)) from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"YAML error: {exc}", Location(file)) from None
    finally:
        loader.dispose()
    return PositionedYaml(data, positions, file)


def _walk(node: yaml.Node, path: Path_, positions: dict[Path_, tuple[int, int]], file: str) -> None:
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
            _walk(value_node, (*path, key), positions, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions[(*path, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, (*path, index), positions, file)
