"""Field schemas: which labels the model tags and which fields come from them.

A schema is YAML data in ``schemas/`` (see ``schemas/resume.yaml``); this module
only parses and checks it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

SELECT_POLICIES = ("first", "highest", "most_confident", "all")


class SchemaError(ValueError):
    """The schema file is missing something or contradicts itself."""


@dataclass(frozen=True)
class Normalizer:
    """Surface form -> canonical value: exact map, then suffix stripping, then substring rules."""

    map: dict[str, str] = field(default_factory=dict)
    strip_suffixes: tuple[str, ...] = ()
    contains: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    name: str
    labels: tuple[str, ...]
    select: str = "first"
    order: tuple[str, ...] = ()
    normalize: Normalizer = field(default_factory=Normalizer)


@dataclass(frozen=True)
class Schema:
    name: str
    labels: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    nested: bool = True  # False for flat corpora: overlapping predictions are resolved by score
    source: Optional[str] = None  # the YAML text, kept so a model directory can carry it

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @classmethod
    def from_yaml(cls, text: str, where: str = "<schema>") -> "Schema":
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SchemaError(f"{where}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise SchemaError(f"{where}: expected a mapping at the top level")
        labels = _required(raw, "labels", where)
        if not labels or not all(isinstance(x, str) for x in labels):
            raise SchemaError(f"{where}: 'labels' must be a non-empty list of strings")
        if len(set(labels)) != len(labels):
            raise SchemaError(f"{where}: 'labels' has duplicates")
        fields = tuple(
            _parse_field(name, spec or {}, labels, where) for name, spec in (raw.get("fields") or {}).items()
        )
        nested = raw.get("nested", True)
        if not isinstance(nested, bool):
            raise SchemaError(f"{where}: 'nested' must be true or false")
        return cls(str(raw.get("name", Path(where).stem)), tuple(labels), fields, nested, text)

    @classmethod
    def load(cls, path: str | Path) -> "Schema":
        path = Path(path)
        if not path.exists():
            raise SchemaError(f"{path}: no such schema file")
        return cls.from_yaml(path.read_text(encoding="utf-8"), str(path))


def _required(raw: dict, key: str, where: str) -> Any:
    if key not in raw:
        raise SchemaError(f"{where}: missing required key {key!r}")
    return raw[key]


def _parse_field(name: str, spec: dict, labels: list[str], where: str) -> FieldSpec:
    here = f"{where}: field {name!r}"
    field_labels = spec.get("labels") or []
    unknown = [x for x in field_labels if x not in labels]
    if not field_labels or unknown:
        raise SchemaError(f"{here}: 'labels' must name schema labels; unknown: {unknown}")
    select = spec.get("select", "first")
    if select not in SELECT_POLICIES:
        raise SchemaError(f"{here}: select must be one of {SELECT_POLICIES}, got {select!r}")
    order = tuple(spec.get("order") or ())
    if select == "highest" and not order:
        raise SchemaError(f"{here}: select 'highest' needs an 'order' list")
    norm = spec.get("normalize") or {}
    contains = tuple((str(a), str(b)) for a, b in (norm.get("contains") or []))
    normalizer = Normalizer(
        {str(k): str(v) for k, v in (norm.get("map") or {}).items()},
        tuple(norm.get("strip_suffixes") or ()),
        contains,
    )
    return FieldSpec(name, tuple(field_labels), select, order, normalizer)
