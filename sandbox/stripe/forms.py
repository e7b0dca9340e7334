"""Stripe's request encoding: form bodies and query strings with nested bracket keys.

`a[b][c]=1` is a nested object, `a[0][x]=1` / `a[]=1` an array. Values stay strings; each
endpoint coerces what it reads (`integer`, `boolean`) and answers 400 naming the param.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid, unknown_parameter

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
Params = dict[str, Any]


def parse(body: str) -> Params:
    """Decode a form/query string into nested dicts and lists."""
    root: Params = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _insert(root, path, value, key)
    return _listify(root)  # type: ignore[no-any-return]


def _insert(node: Params, path: list[str], value: str, key: str) -> None:
    for i, part in enumerate(path):
        if part == "":  # `a[]=x` appends to the array
            part = str(len(node))
        if i == len(path) - 1:
            if isinstance(node.get(part), dict):
                raise invalid(f"Invalid parameter: {key} mixes a value and an object", param=key)
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid(f"Invalid parameter: {key} mixes a value and an object", param=key)
        node = child


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def integer(params: Params, name: str, *, minimum: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise invalid(f"Invalid integer: {raw}", param=name)
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=name)
    return value


def boolean(params: Params, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise invalid(f"Invalid boolean: {raw}", param=name)
    return bool(raw == "true")


def string(params: Params, name: str, *, max_length: int = 5000) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(f"Invalid string: {name} must be a string", param=name)
    if len(raw) > max_length:
        raise invalid(f"Invalid string: must be at most {max_length} characters", param=name)
    return raw


def obj(params: Params, name: str) -> Params | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise invalid(f"Invalid object: {name} must be an object", param=name)
    return raw


def array(params: Params, name: str) -> list[Any]:
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list):
        raise invalid(f"Invalid array: {name} must be an array", param=name)
    return raw


def only(params: Params, allowed: set[str]) -> None:
    """Stripe refuses parameters an endpoint does not know."""
    for name in params:
        if name not in allowed:
            raise unknown_parameter(name)


def metadata(params: Params, current: dict[str, str] | None = None) -> dict[str, str]:
    """Merge `metadata[...]`; an empty value deletes a key, `metadata=` clears all (Stripe)."""
    result = dict(current or {})
    raw = params.get("metadata")
    if raw is None:
        return result
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid("Invalid object: metadata must be an object", param="metadata")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid("Invalid metadata: values must be strings", param=f"metadata[{key}]")
        if len(key) > 40:
            raise invalid("Metadata keys can be at most 40 characters.", param=f"metadata[{key}]")
        if len(value) > 500:
            raise invalid(
                "Metadata values can be at most 500 characters.", param=f"metadata[{key}]"
            )
        if value == "":
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > 50:
        raise invalid("Metadata can have at most 50 keys.", param="metadata")
    return result


def card_only(params: Params, name: str = "payment_method_types") -> None:
    """The sandbox has card payment methods only; asking for others is a clear 400."""
    for i, kind in enumerate(array(params, name)):
        if kind != "card":
            raise invalid(
                f"The sandbox supports {name} card only, not {kind!r}.", param=f"{name}[{i}]"
            )
