"""Kubernetes label selectors (``app=web,env in (dev,prod),!legacy``), parsed and matched."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Requirement = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQ = re.compile(r"^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$")
_EXISTS = re.compile(r"^(!?)([\w./-]+)$")


class SelectorError(ValueError):
    """A selector that does not parse."""


def parse_selector(text: str) -> list[Requirement]:
    return [_requirement(part.strip()) for part in _split(text) if part.strip()]


def matches(requirements: list[Requirement], labels: Mapping[str, str]) -> bool:
    return all(req(labels) for req in requirements)


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _requirement(part: str) -> Requirement:
    found = _SET.match(part)
    if found:
        key, op = found.group(1), found.group(2)
        values = {v.strip() for v in found.group(3).split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    found = _EQ.match(part)
    if found:
        key, op, value = found.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _EXISTS.match(part)
    if found:
        negate, key = found.group(1) == "!", found.group(2)
        return lambda labels: (key in labels) != negate
    raise SelectorError(f"unable to parse requirement: {part!r}")
