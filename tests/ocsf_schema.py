"""OCSF events checked against the OCSF 1.5.0 schema, as shipped by a registry package.

pydantic-ocsf (PyPI) ships the OCSF schema of each version (ocsf/schemas/v1_5_0.json, the schema
repository's events, objects, dictionary and enums) and builds its models from that file at import
time: required attributes, types, enums, and the class_uid/type_uid rules. `errors(event)` validates
with those models, then adds what they let through: an attribute the schema does not define for the
class or object (OCSF wants those under `unmapped`), and a metadata.version other than 1.5.0.

Profiles: the package ships no profile files, so an attribute outside the class is accepted only
when the event declares a profile in metadata.profiles and the schema's dictionary defines that
attribute; if it is an object, it is validated as that object. Which profile adds it is not checked.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from tests.evaluator_tools import require as _require

VERSION = "1.5.0"
CLASSES = {2003: "ComplianceFinding", 2004: "DetectionFinding"}
"""The classes our outputs use, by class_uid, as pydantic-ocsf names their models."""


def missing() -> str:
    """Why the schema check cannot run here, or "" when it can."""
    if importlib.util.find_spec("ocsf") is None or not _schema_file().exists():
        return "the OCSF check needs pydantic-ocsf (the dev extra) with its v1_5_0 schema"
    return ""


def require() -> None:
    _require(missing())


def errors(event: Mapping[str, Any], class_uid: int = 2003) -> list[str]:
    """Each way `event` breaks the OCSF 1.5.0 schema of class `class_uid`; empty when it holds."""
    import pydantic  # imported here: the module loads without the dev extra

    model = getattr(_events(), CLASSES[class_uid])
    try:
        instance = model.model_validate(dict(event))
    except pydantic.ValidationError as error:
        return [_line(entry) for entry in error.errors()]
    found = list(_extras(instance, "", event))
    declared = event.get("metadata", {}).get("version")
    if declared != VERSION:
        found.append(f"metadata.version: {declared!r}, the schema checked is {VERSION}")
    return found


def _extras(instance: Any, path: str, event: Mapping[str, Any]) -> Any:
    """Attributes the models took as extra (their config allows any) that the schema lacks."""
    import pydantic

    if isinstance(instance, list):
        for index, item in enumerate(instance):
            yield from _extras(item, f"{path}[{index}]", event)
        return
    if not isinstance(instance, pydantic.BaseModel):
        return
    for name, value in (instance.model_extra or {}).items():
        where = f"{path}.{name}" if path else name
        yield from _profile_attribute(where, name, value, event)
    for name, info in type(instance).model_fields.items():
        where = f"{path}.{info.alias or name}" if path else (info.alias or name)
        yield from _extras(getattr(instance, name), where, event)


def _profile_attribute(where: str, name: str, value: Any, event: Mapping[str, Any]) -> Any:
    import pydantic

    definition = _schema()["dictionary"]["attributes"].get(name)
    if not event.get("metadata", {}).get("profiles") or definition is None:
        yield f"{where}: not an attribute of this class or object in OCSF {VERSION}"
        return
    # The shipped schema is the uncompiled one: an object attribute's type is the object's name.
    kind = definition.get("object_type") or definition.get("type", "")
    if kind in _schema()["dictionary"]["types"]["attributes"]:
        return
    model = getattr(_objects(), _camel(kind), None)
    if model is None:
        yield f"{where}: object {kind} has no model in pydantic-ocsf"
        return
    items = (
        enumerate(value)
        if definition.get("is_array") and isinstance(value, list)
        else [(None, value)]
    )
    for index, item in items:
        at = where if index is None else f"{where}[{index}]"
        try:
            instance = model.model_validate(item)
        except pydantic.ValidationError as error:
            yield from (f"{at}.{_line(entry)}" for entry in error.errors())
            continue
        yield from _extras(instance, at, event)


def _line(entry: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in entry["loc"]) or "(event)"
    return f"{location}: {entry['msg']}"


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _schema_file() -> Path:
    spec = importlib.util.find_spec("ocsf")
    if spec is None or spec.origin is None:
        return Path("/nonexistent")
    return Path(spec.origin).parent / "schemas" / f"v{VERSION.replace('.', '_')}.json"


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_schema_file().read_text(encoding="utf-8"))
    return schema


@cache
def _events() -> Any:
    import ocsf.v1_5_0.events as events

    return events


@cache
def _objects() -> Any:
    import ocsf.v1_5_0.objects as objects

    return objects
