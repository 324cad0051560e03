"""Field schemas: which labels the model tags and which fields come from them.

A schema is YAML data in ``schemas/`` (see ``schemas/resume.yaml``); this module
only parses and checks it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from extractor.paths import SCHEMAS_DIR
from extractor.rules.industry.from_employer import inline_employer_files, parse_employer_rules
from extractor.rules.industry.sections import SECTION_NAMES

SELECT_POLICIES = ("first", "highest", "most_confident", "all")


class SchemaError(ValueError):
    """The schema file is missing something or contradicts itself."""


@dataclass(frozen=True)
class Normalizer:
    """Surface form -> canonical value: exact map, then suffix stripping, then substring rules."""

    map: dict[str, str] = field(default_factory=dict)
    strip_suffixes: tuple[str, ...] = ()
    contains: tuple[tuple[str, str], ...] = ()
    # Values shorter than this after stripping are no value (双专业 -> 双 is not a major).
    min_chars: int = 1


@dataclass(frozen=True)
class DeriveRule:
    """Fallback when a field has no mention of its own: keyword rules over spans of other labels.

    E.g. industry from employer names (ORG) when no industry (IND) is stated:
    the first span of ``labels`` whose text contains a keyword gives the value.
    """

    labels: tuple[str, ...] = ()
    contains: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()  # spans containing one of these are skipped (schools are ORG too)


@dataclass(frozen=True)
class CutRepair:
    """A field span the model started too late: the span of ``labels`` just before it runs on past its
    last ``after`` word (a school name ends at 大学/学院) into text that names no unit (ends in none of
    ``unless_ends``: 系, 研究所, 分校 are parts of the school), and that text is the field's own.
    E.g. ORG 东北工学院金属压力 + PRO 加工专业 -> the major 金属压力加工."""

    labels: tuple[str, ...]
    after: tuple[str, ...]
    unless_ends: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    name: str
    labels: tuple[str, ...]
    select: str = "first"
    order: tuple[str, ...] = ()
    normalize: Normalizer = field(default_factory=Normalizer)
    codes: dict[str, str] = field(default_factory=dict)  # canonical value -> code (e.g. GB/T 4754 section)
    derive: Optional[DeriveRule] = None
    # Industry from the employer (ORG) when the field's own labels found nothing: an EmployerIndustry.
    employer: Any = None
    repair_cut: Optional[CutRepair] = None

    def canonical(self, value: Optional[str]) -> Optional[str]:
        """A gold value as the rules write it: a code (``C``) or, for employer fields, any section code or
        name (``C36``, ``制造业``) becomes the canonical value."""
        if not value:
            return None
        by_code = {code: name for name, code in self.codes.items()}
        if value in by_code:
            return by_code[value]
        if self.employer is not None and value not in self.codes:
            from extractor.rules.industry.sections import SECTION_NAMES, section_of

            try:
                return SECTION_NAMES[section_of(value)]
            except ValueError:
                return value
        return value


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

    @property
    def rules_version(self) -> str:
        """A digest of the schema text and of every industry resolver's content: new rules, a new company
        table or a refitted classifier give a new version, so incremental runs reprocess."""
        resolvers = "".join(f"\0{spec.employer.version}" for spec in self.fields if spec.employer is not None)
        return hashlib.sha256(((self.source or "") + resolvers).encode("utf-8")).hexdigest()[:16]

    def with_industry(self, resolver: Optional[str | Path]) -> "Schema":
        """The same rules with the industry resolver at ``resolver`` (``none``: keyword rules only) for every
        field that takes its industry from the employer."""
        if resolver is not None and str(resolver) != "none" and not any(f.employer for f in self.fields):
            raise SchemaError(f"schema {self.name} has no field that takes its industry from the employer (an "
                              f"`employer:` section), so the industry resolver {resolver} would not be used")
        fields = tuple(replace(spec, employer=spec.employer.with_resolver(resolver)) if spec.employer else spec
                       for spec in self.fields)
        return replace(self, fields=fields)

    @classmethod
    def from_yaml(cls, text: str, where: str = "<schema>", base: Optional[Path] = None) -> "Schema":
        """Parse schema text; file names inside it (an industry policy) are relative to ``base`` (default:
        the shipped schemas folder)."""
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
        base = base if base is not None else SCHEMAS_DIR
        fields = tuple(
            _parse_field(name, spec or {}, labels, where, base) for name, spec in (raw.get("fields") or {}).items()
        )
        nested = raw.get("nested", True)
        if not isinstance(nested, bool):
            raise SchemaError(f"{where}: 'nested' must be true or false")
        return cls(str(raw.get("name", Path(where).stem)), tuple(labels), fields, nested, text)

    @classmethod
    def load(cls, path: str | Path) -> "Schema":
        """Load a schema file; ``extends: other.yaml`` (relative to it) merges this file over another."""
        path = Path(path)
        if not path.exists():
            raise SchemaError(f"{path}: no such schema file")
        text = path.read_text(encoding="utf-8")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SchemaError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(raw, dict) and "extends" in raw:
            base_path = path.parent / str(raw.pop("extends"))
            base = cls.load(base_path)
            raw = _deep_merge(yaml.safe_load(base.source or "") or {}, raw)
            raw.setdefault("name", path.stem)
            # The merged text is what a model directory carries and what the rules version hashes.
            text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
        if isinstance(raw, dict) and inline_employer_files(raw, path.parent):
            text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
        return cls.from_yaml(text, str(path), path.parent)


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _required(raw: dict, key: str, where: str) -> Any:
    if key not in raw:
        raise SchemaError(f"{where}: missing required key {key!r}")
    return raw[key]


def _parse_field(name: str, spec: dict, labels: list[str], where: str, base: Path) -> FieldSpec:
    here = f"{where}: field {name!r}"
    field_labels = spec.get("labels") or []
    unknown = [x for x in field_labels if x not in labels]
    # A field fed only by its employer (Resume NER has no IND label) needs no labels of its own.
    if (not field_labels and not spec.get("employer")) or unknown:
        raise SchemaError(f"{here}: 'labels' must name schema labels; unknown: {unknown}")
    select = spec.get("select", "first")
    if select not in SELECT_POLICIES:
        raise SchemaError(f"{here}: select must be one of {SELECT_POLICIES}, got {select!r}")
    order = tuple(spec.get("order") or ())
    if select == "highest" and not order:
        raise SchemaError(f"{here}: select 'highest' needs an 'order' list")
    norm = spec.get("normalize") or {}
    contains = tuple((str(a), str(b)) for a, b in (norm.get("contains") or []))
    min_chars = norm.get("min_chars", 1)
    if not isinstance(min_chars, int) or isinstance(min_chars, bool) or min_chars < 1:
        raise SchemaError(f"{here}: normalize.min_chars must be a whole number >= 1, got {min_chars!r}")
    normalizer = Normalizer(
        {str(k): str(v) for k, v in (norm.get("map") or {}).items()},
        tuple(norm.get("strip_suffixes") or ()),
        contains,
        min_chars,
    )
    codes = {str(k): str(v) for k, v in (spec.get("codes") or {}).items()}
    derive = None
    if spec.get("derive"):
        d = spec["derive"]
        d_labels = tuple(d.get("labels") or ())
        unknown = [x for x in d_labels if x not in labels]
        if not d_labels or unknown:
            raise SchemaError(f"{here}: derive.labels must name schema labels; unknown: {unknown}")
        pairs = d.get("contains") or []
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
            raise SchemaError(f"{here}: derive.contains must be a list of [keyword, value] pairs")
        derive = DeriveRule(d_labels, tuple((str(a), str(b)) for a, b in pairs),
                            tuple(str(x) for x in d.get("exclude") or ()))
    employer = None
    if spec.get("employer"):
        if not isinstance(spec["employer"], dict):
            raise SchemaError(f"{here}: employer must be a mapping (labels, policy, keywords, min_confidence)")
        employer = parse_employer_rules(spec["employer"], labels, here, base)
        # Employer values are GB/T 4754 sections: their codes are the section letters.
        codes = {**{section: letter for letter, section in SECTION_NAMES.items()}, **codes}
    repair = _parse_cut_repair(spec["repair_cut"], labels, here) if spec.get("repair_cut") else None
    return FieldSpec(name, tuple(field_labels), select, order, normalizer, codes, derive, employer, repair)


def _parse_cut_repair(raw: Any, labels: list[str], here: str) -> CutRepair:
    if not isinstance(raw, dict):
        raise SchemaError(f"{here}: repair_cut must be a mapping (labels, after, unless_ends)")
    repair_labels = tuple(raw.get("labels") or ())
    unknown = [x for x in repair_labels if x not in labels]
    if not repair_labels or unknown:
        raise SchemaError(f"{here}: repair_cut.labels must name schema labels; unknown: {unknown}")
    after = tuple(str(w) for w in raw.get("after") or ())
    if not after or not all(after):
        raise SchemaError(f"{here}: repair_cut.after must list the words a name ends with (大学, 学院)")
    return CutRepair(repair_labels, after, tuple(str(w) for w in raw.get("unless_ends") or ()))
