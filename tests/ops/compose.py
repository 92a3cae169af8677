"""Read docker-compose.yml as compose does: YAML with merge keys, then ``${VAR}`` interpolation.

Interpolation follows the compose specification for the forms the file uses:
``$$`` (a literal dollar), ``$VAR``, ``${VAR}``, ``${VAR:-default}`` / ``${VAR-default}``
(default when unset or empty / unset) and ``${VAR:?message}`` / ``${VAR?message}``
(refuse when unset or empty / unset).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


class MissingVariable(KeyError):
    """A ``${VAR:?message}`` variable is unset (or empty): compose refuses to start."""

    def __init__(self, name: str, message: str):
        super().__init__(name)
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute the variables of one string."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = env.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if missing and op.endswith("-"):
            return arg
        if missing and op.endswith("?"):
            raise MissingVariable(name, arg)
        return value or ""

    return _VARIABLE.sub(replace, text)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value of a parsed YAML tree."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def load(path: Path, env: Mapping[str, str]) -> dict:
    """The compose file at ``path`` with its variables taken from ``env``."""
    return resolve(yaml.safe_load(path.read_text()), env)


def variables(path: Path) -> set[str]:
    """Names of the variables the file refers to."""
    return {
        m["name"] or m["bare"] for m in _VARIABLE.finditer(path.read_text()) if not m["escaped"]
    }


def command_of(service: dict) -> list[str]:
    """A service's command as an argument list."""
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def environment_of(service: dict) -> dict[str, str]:
    """A service's environment (mapping or ``KEY=value`` list form) as strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}
