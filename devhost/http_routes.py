"""HTTP trigger route templates, matched the way ASP.NET Core routing (the Functions host's)
matches them.

Supported: literal segments (case-insensitive), `{name}`, optional `{name?}`, defaults
`{name=value}`, catch-all `{*name}` as the last segment, inline constraints
`{name:int}`, `{name:alpha:minlength(3)}`... (int, long, bool, datetime, decimal, double,
float, guid, alpha, minlength, maxlength, length, min, max, range, regex), and several
parameters in one segment (`{file}.{ext}`). Templates are tried by ASP.NET's inbound
precedence: literal segments before constrained parameters before plain ones before
catch-alls.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")


class RouteTemplateError(ValueError):
    """A route template the host would refuse at indexing time."""


_CONSTRAINT = re.compile(r"^(\w+)(?:\((.*)\))?$")


def _int_in(bits: int) -> Callable[[str], bool]:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(v: str) -> bool:
        return bool(re.fullmatch(r"[+-]?\d+", v)) and lo <= int(v) <= hi

    return check


def _is_number(v: str) -> bool:
    try:
        Decimal(v)
    except InvalidOperation:
        return False
    return v.strip() == v and v.lower() not in {"nan", "inf", "-inf", "infinity"}


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_guid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


def _constraint(spec: str) -> Callable[[str], bool]:
    m = _CONSTRAINT.match(spec)
    if m is None:
        raise RouteTemplateError(f"unknown route constraint {spec!r}")
    name, arg = m.group(1).lower(), m.group(2)
    simple: dict[str, Callable[[str], bool]] = {
        "int": _int_in(32),
        "long": _int_in(64),
        "bool": lambda v: v.lower() in {"true", "false"},
        "datetime": _is_datetime,
        "decimal": _is_number,
        "double": _is_number,
        "float": _is_number,
        "guid": _is_guid,
        "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
        "required": lambda v: v != "",
    }
    if name in simple and arg is None:
        return simple[name]
    if arg is None:
        raise RouteTemplateError(f"route constraint {name!r} is unknown or needs an argument")
    if name == "regex":
        pattern = re.compile(arg, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    try:
        nums = [int(a) for a in arg.split(",")]
    except ValueError as exc:
        raise RouteTemplateError(f"route constraint {spec!r} needs integer arguments") from exc
    if name == "minlength" and len(nums) == 1:
        return lambda v: len(v) >= nums[0]
    if name == "maxlength" and len(nums) == 1:
        return lambda v: len(v) <= nums[0]
    if name == "length" and len(nums) in (1, 2):
        lo, hi = nums[0], nums[-1]
        return lambda v: lo <= len(v) <= hi
    as_long = _int_in(64)
    if name == "min" and len(nums) == 1:
        return lambda v: as_long(v) and int(v) >= nums[0]
    if name == "max" and len(nums) == 1:
        return lambda v: as_long(v) and int(v) <= nums[0]
    if name == "range" and len(nums) == 2:
        return lambda v: as_long(v) and nums[0] <= int(v) <= nums[1]
    raise RouteTemplateError(f"unknown route constraint {spec!r}")


def _split_segment(segment: str, template: str) -> list[str]:
    """[literal, param, literal, param, ..., literal]; `{{` and `}}` are literal braces,
    also inside a parameter (a `regex(...)` constraint)."""
    pieces: list[str] = []
    current = ""
    in_param = False
    i = 0
    while i < len(segment):
        ch = segment[i]
        doubled = segment[i : i + 2] in ("{{", "}}")
        if doubled:
            current += ch
            i += 2
            continue
        if ch == "{" and not in_param:
            pieces.append(current)
            current, in_param = "", True
        elif ch == "}" and in_param:
            if not current:
                raise RouteTemplateError(f"route {template!r} has an empty parameter")
            pieces.append(current)
            current, in_param = "", False
        elif ch in "{}":
            raise RouteTemplateError(f"route {template!r} has an unbalanced {ch!r}")
        else:
            current += ch
        i += 1
    if in_param:
        raise RouteTemplateError(f"route {template!r} has an unclosed parameter")
    pieces.append(current)
    return pieces


@dataclass(frozen=True)
class _Param:
    name: str
    optional: bool
    default: str | None
    catch_all: bool
    checks: tuple[Callable[[str], bool], ...]


def _parse_param(text: str) -> _Param:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    default = None
    if "=" in text:
        text, default = text.split("=", 1)
    optional = text.endswith("?")
    text = text.rstrip("?")
    # Constraints are split on ':' except inside a regex(...) argument.
    parts = re.split(r":(?![^(]*\))", text)
    name, specs = parts[0], parts[1:]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteTemplateError(f"route parameter name {name!r} is not valid")
    checks = tuple(_constraint(s) for s in specs)
    return _Param(name, optional or default is not None, default, catch_all, checks)


@dataclass
class RouteTemplate:
    template: str
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _params: dict[str, _Param] = field(init=False, repr=False)
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        segments = self.template.strip("/").split("/") if self.template.strip("/") else []
        pattern = ""
        params: dict[str, _Param] = {}
        precedence: list[int] = []
        for index, segment in enumerate(segments):
            if segment == "":
                raise RouteTemplateError(f"route {self.template!r} has an empty segment")
            pieces = _split_segment(segment, self.template)  # literal, param, literal, ...
            seg_params = [_parse_param(p) for p in pieces[1::2]]
            for p in seg_params:
                if p.name.lower() in (n.lower() for n in params):
                    raise RouteTemplateError(f"route {self.template!r} repeats {{{p.name}}}")
                if p.catch_all and index != len(segments) - 1:
                    raise RouteTemplateError(f"catch-all {{*{p.name}}} must be the last segment")
                params[p.name] = p
            body = ""
            for i, literal in enumerate(pieces[0::2]):
                body += re.escape(literal)
                if i < len(seg_params):
                    p = seg_params[i]
                    body += f"(?P<{p.name}>.*)" if p.catch_all else f"(?P<{p.name}>[^/]+?)"
            whole_optional = len(seg_params) == 1 and pieces[0] == pieces[-1] == ""
            if whole_optional and (seg_params[0].optional or seg_params[0].catch_all):
                pattern += f"(?:/{body})?"
            else:
                pattern += f"/{body}"
            precedence.append(_segment_precedence(pieces, seg_params))
        self._regex = re.compile(f"^{pattern}/?$", re.IGNORECASE | re.DOTALL)
        self._params = params
        self.precedence = tuple(precedence)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a path below the prefix (leading '/'), or None."""
        m = self._regex.match(path)
        if m is None:
            return None
        values: dict[str, str] = {}
        for name, param in self._params.items():
            raw = m.group(name)
            if raw is None or raw == "":
                if param.default is not None:
                    values[name] = param.default
                    continue
                if param.optional or param.catch_all:
                    continue
                return None
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            values[name] = value
        return values


def _segment_precedence(pieces: list[str], params: list[_Param]) -> int:
    """RoutePrecedence.ComputeInbound: literal 1, complex 2, constrained 3, plain 4, catch-all 5."""
    if not params:
        return 1
    if len(params) > 1 or pieces[0] or pieces[-1]:
        return 2
    if params[0].catch_all:
        return 5
    return 3 if params[0].checks else 4


@dataclass
class Router(Generic[T]):
    """Routes by template and method; returns the first match by precedence."""

    _routes: list[tuple[RouteTemplate, frozenset[str] | None, T]] = field(default_factory=list)

    def add(self, template: str, methods: Iterable[str] | None, target: T) -> None:
        allowed = frozenset(m.upper() for m in methods) if methods else None
        self._routes.append((RouteTemplate(template), allowed, target))
        self._routes.sort(key=lambda r: r[0].precedence)

    def resolve(self, method: str, path: str) -> tuple[T, dict[str, str]] | None:
        for template, allowed, target in self._routes:
            if allowed is not None and method.upper() not in allowed:
                continue
            values = template.match(path)
            if values is not None:
                return target, values
        return None
