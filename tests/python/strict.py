"""Strict validation against the `openai` Python package's types, shared by
validate_live.py, validate_sip.py and openai_webhook.py (import it from a
script in this folder: `from strict import check, StrictParams, check_params`).

Strict means: the value must validate against the package's type AND a field
the type does not declare fails, at any depth (nested objects, lists, union
members).

* Models (`pydantic.BaseModel` subclasses such as the event classes in
  `openai.types.live`): the package's models keep undeclared fields as extras
  rather than refusing them, so `check` validates and then `extras` walks the
  result for fields that landed in `model_extra`.
* Params (the `TypedDict` classes such as
  `openai.types.live.session_accept_params.SessionAcceptParams`, which describe
  request bodies): `StrictParams` validates with pydantic, `extra="forbid"` on
  every TypedDict, strict JSON types (an int is not a numeric string, a string
  is not a number), `Iterable[...]` fields checked item by item (pydantic would
  otherwise check them only when read), and keys renamed on the wire
  (`PropertyInfo(alias=...)`) looked up under the wire name.
"""

import collections.abc
import json
import types
import typing

import typing_extensions as te
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError


def extras(model, path="$"):
    """Every field a model instance received that its class does not declare."""
    found = []
    if isinstance(model, BaseModel):
        for name in (model.model_extra or {}):
            found.append(f"{path}.{name}")
        for name in type(model).model_fields:
            found.extend(extras(getattr(model, name), f"{path}.{name}"))
    elif isinstance(model, (list, tuple)):
        for i, item in enumerate(model):
            found.extend(extras(item, f"{path}[{i}]"))
    elif isinstance(model, dict):
        for key, item in model.items():
            found.extend(extras(item, f"{path}.{key}"))
    return found


def _type_of(value):
    return value.get("type") if isinstance(value, dict) else type(value).__name__


def check(adapter, value, where, failures, strict=False):
    """Validates `value` with `adapter` (a TypeAdapter of a model or a union of
    models) and appends a failure for a validation error or undeclared fields.
    `strict=True` validates as JSON in pydantic's strict mode (no coercion of
    "1" to 1 and the like). Returns the model, or None on failure."""
    try:
        if strict:
            model = adapter.validate_json(json.dumps(value), strict=True)
        else:
            model = adapter.validate_python(value)
    except Exception as e:  # pydantic.ValidationError, with the field path
        failures.append(f"{where}: {_type_of(value)}: {str(e).splitlines()[0:3]}")
        return None
    undeclared = extras(model)
    if undeclared:
        failures.append(f"{where}: {_type_of(value)}: undeclared fields {undeclared}")
        return None
    return model


# --- TypedDict params -------------------------------------------------------

_SEQUENCES = {collections.abc.Iterable, collections.abc.Sequence, collections.abc.Collection, list}
_MAPPINGS = {dict, collections.abc.Mapping}
_eager_cache = {}


def _alias(metadata):
    for meta in metadata:
        alias = getattr(meta, "alias", None)  # openai._utils.PropertyInfo
        if isinstance(alias, str):
            return alias
    return None


_REQUIRED = {te.Required, typing.Required}
_NOT_REQUIRED = {te.NotRequired, typing.NotRequired}


def _unwrap_required(hint, required):
    """Drops Required[...] / NotRequired[...] (also inside Annotated); returns
    the bare hint and whether the key is required. `required` is the class's
    default (its `total`). The package's modules use `from __future__ import
    annotations`, so `__required_keys__` cannot see Required[...]: it is read
    here from the resolved hints, as pydantic does."""
    origin = te.get_origin(hint)
    if origin in _REQUIRED or origin in _NOT_REQUIRED:
        return _unwrap_required(te.get_args(hint)[0], origin in _REQUIRED)
    if origin is te.Annotated:
        inner, *metadata = te.get_args(hint)
        inner, required = _unwrap_required(inner, required)
        return te.Annotated[(inner, *metadata)], required
    return hint, required


def _eager(hint):
    """The same type with every Iterable[X] made List[X] (checked at once,
    not lazily), TypedDicts rebuilt likewise and under their wire names."""
    if te.is_typeddict(hint):
        return _eager_typeddict(hint)
    origin = te.get_origin(hint)
    args = te.get_args(hint)
    if origin is te.Annotated:
        inner, *metadata = args
        return te.Annotated[(_eager(inner), *metadata)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_eager(a) for a in args)]
    if origin in _SEQUENCES and len(args) == 1:
        return typing.List[_eager(args[0])]
    if origin in _MAPPINGS and len(args) == 2:
        return typing.Dict[_eager(args[0]), _eager(args[1])]
    return hint  # Literal, str, int, object, BaseModel, ...


def _eager_typeddict(cls):
    if cls in _eager_cache:
        # Built (or, for a type that contains itself, being built: the
        # original class then stands in, still forbidding extras).
        return _eager_cache[cls]
    _eager_cache[cls] = cls
    hints = te.get_type_hints(cls, include_extras=True)
    total = getattr(cls, "__total__", True)
    fields = {}
    for name, hint in hints.items():
        hint, required = _unwrap_required(hint, total)
        wire = name
        if te.get_origin(hint) is te.Annotated:
            wire = _alias(te.get_args(hint)[1:]) or name
        hint = _eager(hint)
        fields[wire] = te.Required[hint] if required else te.NotRequired[hint]
    built = te.TypedDict(cls.__name__, fields)
    built.__module__ = cls.__module__
    built.__qualname__ = cls.__qualname__
    _eager_cache[cls] = built
    return built


def _settle(value, path, errors):
    """Reads any iterator pydantic left unchecked (only for a type that
    contains itself), recording its errors."""
    if isinstance(value, collections.abc.Iterator):  # pydantic's ValidatorIterator
        items = []
        try:
            for item in value:
                items.append(item)
        except ValidationError as e:
            errors.extend(_messages(e, path))  # its locations start at the index
        value = items
    if isinstance(value, dict):
        return {k: _settle(v, f"{path}.{k}", errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_settle(v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    return value


def _is_member(part):
    """A union member's tag in a pydantic error location: the class name
    (API field names are lower case)."""
    return isinstance(part, str) and part[:1].isupper()


def _where(path, loc):
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _messages(error, path="$", skip=0):
    """One line per pydantic error, undeclared fields first. A union reports
    every member's complaints; a member whose `type` (or `role`) literal did
    not match was not the one meant, so its complaints are left out. When no
    member matched, one line says which values would have."""
    errs = [{**e, "loc": e["loc"][skip:]} for e in error.errors(include_url=False)]
    missed = [
        e for e in errs
        if e["type"] == "literal_error" and len(e["loc"]) >= 2
        and e["loc"][-1] in ("type", "role") and _is_member(e["loc"][-2])
    ]
    prefixes = [e["loc"][:-1] for e in missed]
    meant = [e for e in errs if not any(e["loc"][:len(p)] == p for p in prefixes)]
    if not meant and missed:
        depth = min(len(e["loc"]) for e in missed)
        top = [e for e in missed if len(e["loc"]) == depth]
        expected = sorted({str(e.get("ctx", {}).get("expected")) for e in top})
        loc = _where(path, (*top[0]["loc"][:-2], top[0]["loc"][-1]))
        return [f"{loc}: {top[0]['input']!r} is none of {', '.join(expected)}"]
    lines = [(e["type"] != "extra_forbidden", f"{_where(path, e['loc'])}: {e['msg']}") for e in meant or errs]
    lines.sort(key=lambda line: line[0])
    return [text for _, text in lines]


class StrictParams:
    """A TypedDict params class of the `openai` package, validated strictly.

        accept = StrictParams(SessionAcceptParams)
        accept.errors({"session": {...}})   # [] when valid, else "$.path: message" lines
    """

    def __init__(self, params, name=None):
        self.name = name or getattr(params, "__name__", str(params))
        # TypeAdapter refuses `config` for a TypedDict itself; around a list
        # the config reaches every TypedDict below that has none of its own.
        self._adapter = TypeAdapter(typing.List[_eager(params)], config=ConfigDict(extra="forbid"))

    def errors(self, value):
        if not isinstance(value, dict):
            return [f"$: expected an object for {self.name}, got {json.dumps(value)}"]
        try:
            result = self._adapter.validate_json(json.dumps([value]), strict=True)[0]
        except ValidationError as e:
            return _messages(e, skip=1)  # loc[0] is the index in the wrapping list
        errors = []
        result = _settle(result, "$", errors)
        errors.extend(f"{p}: undeclared field" for p in extras(result))
        return errors


def check_params(params, value, where, failures, limit=5):
    """Appends one failure line for `value` not matching `params` (a
    StrictParams); returns whether it matched."""
    errors = params.errors(value)
    if errors:
        more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
        failures.append(f"{where}: {params.name}: {errors[:limit]}{more}")
    return not errors
