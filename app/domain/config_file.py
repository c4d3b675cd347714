"""Reading `.github/incidents.yml`: YAML to the config model, each error with its line and key."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from app.domain.config import CONFIG_PATH, DEFAULT_CONFIG, ConfigError, RepoConfig


def parse_config(text: str, file: str = CONFIG_PATH) -> tuple[RepoConfig, tuple[ConfigError, ...]]:
    """The config in `text`, or the defaults and every error with its line and key."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except DuplicateKey as exc:
        reason = f"written twice in one mapping (first on line {exc.first_line})"
        return DEFAULT_CONFIG, (ConfigError(file, exc.line, exc.key, reason),)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        return DEFAULT_CONFIG, (ConfigError(file, line, "", f"not valid YAML: {problem}"),)
    if data is None:
        return DEFAULT_CONFIG, ()  # an empty file means the defaults
    if not isinstance(data, dict):
        return DEFAULT_CONFIG, (ConfigError(file, 1, "", "the file must be a mapping of keys"),)
    try:
        config = RepoConfig.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text)
        errors = tuple(
            ConfigError(file, _line_of(root, err["loc"]), _key(err["loc"]), _reason(err))
            for err in exc.errors()
        )
        return DEFAULT_CONFIG, errors
    collisions = config.labels.collisions()
    if not collisions:
        return config, ()
    root = yaml.compose(text)
    written = _keys_under(root, "labels")
    clashes = []
    for key, other in collisions:
        if _base(key) not in written and _base(other) in written:
            key, other = other, key  # point at the line that renamed a label
        clashes.append(
            ConfigError(
                file,
                _line_of(root, ("labels", *_path(key))),
                f"labels.{key}",
                f"the same label as `labels.{other}` (GitHub label names ignore case)",
            )
        )
    return DEFAULT_CONFIG, tuple(clashes)


def _base(key: str) -> str:
    """`priorities` of `priorities[2]`: the key as written under `labels`."""
    return key.partition("[")[0]


def _path(key: str) -> tuple[str | int, ...]:
    """`priorities[2]` → ("priorities", 2), for finding its line."""
    base, _, index = key.partition("[")
    return (base, int(index.rstrip("]"))) if index else (base,)


def _keys_under(root: yaml.Node | None, key: str) -> set[str]:
    if not isinstance(root, yaml.MappingNode):
        return set()
    node = next((v for k, v in root.value if getattr(k, "value", None) == key), None)
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {str(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} on line {line}")
        self.key, self.line, self.first_line = key, line, first_line


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key written twice in one mapping is an error: PyYAML
    keeps the last silently, so a second `labels:` would drop the first one's renames."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first:
                raise DuplicateKey(key_node.value[:60], line, first[key_node.value])
            first[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _key(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part in ("function-after", "function-before", "tagged-union"):
            continue
        else:
            key += f".{part}" if key else str(part)
    return key


def _reason(err: Any) -> str:
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return message.removeprefix("Value error, ")


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of the nearest parent that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                # An unknown key: point at the key itself.
                key_node = next((k for k, _ in node.value if k.value == part), None)
                return key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
        else:
            continue  # pydantic's own loc parts (validator names) have no node
        line = node.start_mark.line + 1
    return line
