"""pydantic's validation errors -> one :class:`ConfigError` that names file, key and fix.

The messages come from the schema itself: the bounds of the field (``must be > 0 and at
most 8192``), its choices, its type, the allowed keys of its table. Only the first error
is reported, as a person fixes one key at a time.
"""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from precast.project.exceptions import ConfigError

_TYPE_NAMES: dict[Any, str] = {int: "int", float: "float", bool: "bool", str: "str"}
_TOP_TABLES = ("project", "models")


def precheck(raw: dict[str, Any], path: str) -> None:
    """What the schema cannot say: a model's name is its table key, never a key inside it."""
    models = raw.get("models")
    for name, table in models.items() if isinstance(models, dict) else ():
        if isinstance(table, dict) and "name" in table:
            raise ConfigError(
                "unknown key 'name': a model is named by its table, [models.<name>]",
                path=path,
                key=f"models.{name}",
            )


def config_error(exc: ValidationError, path: str, schema: type[Any]) -> ConfigError:
    """The first of ``exc``'s errors, located in ``schema`` (the table class of the file)."""
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    owner, info = _locate(schema, loc)
    kind = err["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        parent, name = loc[:-1], loc[-1]
        if not parent:
            return ConfigError(
                f"unknown table [{name}]. Allowed: {', '.join(_TOP_TABLES)}", path=path, key=name
            )
        allowed = ", ".join(sorted(_keys(owner)))
        return ConfigError(
            f"unknown key {name!r}. Allowed keys: {allowed}", path=path, key=".".join(parent)
        )
    if kind == "missing":
        described = f" ({info.description})" if info is not None and info.description else ""
        return ConfigError(
            f"missing required key {loc[-1]!r}{described}", path=path, key=".".join(loc[:-1])
        )
    if kind == "precast":
        ctx = err.get("ctx") or {}
        parts = [p for p in loc if not p.isdigit()]
        named = ".".join([*parts, ctx["key"]] if "key" in ctx else parts)
        return ConfigError(err["msg"], path=path, key=named or None)
    key = ".".join(p for p in loc if not p.isdigit()) or None
    item = f"item {int(loc[-1]) + 1} " if loc and loc[-1].isdigit() else ""
    return ConfigError(item + _message(err, info, item=bool(item)), path=path, key=key)


def _message(err: ErrorDetails, info: FieldInfo | None, *, item: bool = False) -> str:
    value = err["input"]
    kind = err["type"]
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"must be {_bounds(info)}, got {value}"
    if kind in ("too_short", "string_too_short"):
        return f"must not be empty, got {value!r}"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "int_from_float":
        want = _type_name(info, kind, item=item)
        return f"must be {want}, got {_toml_type(value)} ({value!r})"
    return err["msg"]


def _bounds(info: FieldInfo | None) -> str:
    low = high = None
    for m in info.metadata if info is not None else ():
        if isinstance(m, Gt):
            low = f"> {_num(m.gt)}"
        elif isinstance(m, Ge):
            low = f">= {_num(m.ge)}"
        elif isinstance(m, Lt):
            high = f"< {_num(m.lt)}"
        elif isinstance(m, Le):
            high = f"<= {_num(m.le)}"
    if low and high and low.startswith(">=") and high.startswith("<="):
        return f"between {low[3:]} and {high[3:]}"
    if low and high:
        return f"{low} and at most {high.lstrip('<= ')}"
    return low or high or "in range"


def _num(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _type_name(info: FieldInfo | None, kind: str, *, item: bool = False) -> str:
    ann = info.annotation if info is not None else None
    origin = typing.get_origin(ann)
    if origin is tuple and item:
        return _TYPE_NAMES.get(_unwrap(typing.get_args(ann)[0]), "str")
    if origin is tuple:
        return "a list of strings"
    if origin is dict or (isinstance(ann, type) and is_dataclass(ann)):
        return "a table"
    if isinstance(ann, type) and ann in _TYPE_NAMES:
        return _TYPE_NAMES[ann]
    return kind.split("_")[0]


def _toml_type(value: Any) -> str:
    names: dict[type, str] = {dict: "table", list: "array"}
    return names.get(type(value), type(value).__name__)


def table_fields(cls: type[Any]) -> dict[str, Any]:
    """TOML key -> dataclass field of a table class (``lambda`` for ``lambda_``)."""
    if not is_dataclass(cls):
        return {}
    return {f.name.rstrip("_"): f for f in fields(cls) if f.name != "name"}


def _keys(cls: Any) -> list[str]:
    return list(table_fields(cls))


def _locate(root: Any, loc: list[str]) -> tuple[Any, FieldInfo | None]:
    """Walk the schema along ``loc``: (the table class holding the last key, its field)."""
    cls: Any = root
    owner: Any = root
    info: FieldInfo | None = None
    for part in loc:
        declared: dict[str, FieldInfo] = getattr(cls, "__pydantic_fields__", {})
        by_key = {(f.alias or n): (n, f) for n, f in declared.items()}
        if part in by_key:
            owner, info = cls, by_key[part][1]
            cls = _unwrap(info.annotation)
        elif typing.get_origin(cls) is dict:
            cls = _unwrap(typing.get_args(cls)[1])
            owner = cls
        elif part.isdigit():
            continue
        else:
            return cls, None
    return owner, info


def _unwrap(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann
