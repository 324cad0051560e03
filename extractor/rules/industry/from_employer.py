"""A document's industry from its employer: which ORG span, then table, classifier or keyword rules.

Sources, in the schema's ``precedence`` order (an explicit industry mention, an IND span, is the field's
own label and is tried before all of them): ``table`` (the company table of an ``IndustryResolver``),
``keyword:institution`` and ``keyword:activity`` (GB/T 4754 keywords that say what kind of unit it is:
大学, 银行, 研究所, 进出口), ``table:weak`` (a short prefix match), ``classifier`` (the resolver's learned name classifier) and
``keyword:product`` (what it makes: 钢铁, 水泥). The first source whose confidence reaches
``min_confidence`` gives the value; when none does, the field stays empty and the reason says what each
source offered. Why the structural keywords come before the classifier: measured on Resume NER dev, a
classifier fitted on listed companies (two thirds of them manufacturers) calls universities, institutes
and trading houses manufacturers (docs/benchmarks.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from extractor.data.documents import Entity
from extractor.rules.industry.employer import EmployerChoice, EmployerPolicy, TableKnows, choose_employer
from extractor.rules.industry.index import MATCHING_REVISION
from extractor.rules.industry.keywords import KeywordTable
from extractor.rules.industry.records import RecordRule, first_record_end
from extractor.rules.industry.sections import SECTION_NAMES
from extractor.rules.yaml_file import read_yaml

NO_RESOLVER = "none"  # --industry none / industry: none: keyword rules only
SOURCES = ("table", "keyword:institution", "keyword:activity", "table:weak", "classifier", "keyword:product")
# A table match below this (a two-character prefix, 中南 in 中南财经政法大学) is ``table:weak``: weaker
# evidence than a keyword that says what kind of unit the name is.
STRONG_TABLE_MATCH = 0.65
DEFAULT_PRECEDENCE = SOURCES


@dataclass(frozen=True)
class EmployerIndustry:
    """The ``employer:`` section of a field in a schema, parsed, with its resolver when one is given."""

    labels: tuple[str, ...]  # the labels whose spans name organisations (ORG)
    policy: EmployerPolicy
    keywords: KeywordTable
    min_confidence: float = 0.5
    precedence: tuple[str, ...] = DEFAULT_PRECEDENCE  # of SOURCES
    persons: tuple[str, ...] = ()  # labels naming people (NAME): a second person's record is not the first's
    records: Optional[RecordRule] = None  # the policy's ``records``: where a second person's record starts
    resolver: Any = field(default=None, compare=False, repr=False)  # an IndustryResolver, loaded once

    @property
    def version(self) -> str:
        """What the rules version must change with: the resolver's content (table and classifier) and how
        the code matches names against its table."""
        if self.resolver is None:
            return NO_RESOLVER
        return f"{self.resolver.content_hash}:matching-{MATCHING_REVISION}"

    def with_resolver(self, path: Optional[str | Path]) -> "EmployerIndustry":
        """The same rules with the resolver at ``path`` (``none`` or None: keyword rules only)."""
        if path is None or str(path) == NO_RESOLVER:
            return replace(self, resolver=None)
        return replace(self, resolver=load_resolver(path))


@dataclass(frozen=True)
class IndustryFromEmployer:
    """The outcome for one document: a section with its trace, or None and the reason."""

    section: Optional[str]
    employer: Optional[EmployerChoice]
    rule: str  # e.g. "table:short_name <- employer current:现任"
    confidence: Optional[float]
    reason: Optional[str] = None

    @property
    def section_name(self) -> Optional[str]:
        return SECTION_NAMES[self.section] if self.section else None


def load_resolver(path: str | Path):
    from extractor.rules.industry.resolver import IndustryResolver

    directory = Path(path)
    if not (directory / "resolver.json").is_file():
        raise FileNotFoundError(f"{directory}: not an industry resolver directory (no resolver.json); "
                                "build one with `extractor industry fit`")
    return IndustryResolver.load(directory)


def industry_from_employer(text: str, spans: Sequence[Entity], rules: EmployerIndustry) -> IndustryFromEmployer:
    orgs = [(e.start, e.end, e.score) for e in sorted(spans, key=lambda e: (e.start, e.end))
            if e.label in rules.labels]
    record_end = first_record_end(text, [(e.start, e.end) for e in spans if e.label in rules.persons],
                                  rules.records)
    first_person = [org for org in orgs if org[0] < record_end] if record_end is not None else []
    choice = choose_employer(text, first_person or orgs, rules.policy, table_knows_of(rules.resolver))
    if choice is None:
        return IndustryFromEmployer(None, None, "employer", None, "no organisation span")
    name = text[choice.start:choice.end]
    offers = list(_offers(name, rules))
    trace = f" <- employer {choice.cue}" + (" first_person" if first_person else "")
    for section, rule, confidence in offers:
        if confidence >= rules.min_confidence:
            return IndustryFromEmployer(section, choice, rule + trace, confidence)
    said = "; ".join(f"{rule} {section} {confidence:.2f}" for section, rule, confidence in offers) or "no source knows it"
    reason = f"{name!r}: {said} (below {rules.min_confidence:.2f})" if offers else f"{name!r}: {said}"
    return IndustryFromEmployer(None, choice, "empty" + trace, None, reason)


def table_knows_of(resolver: Any) -> Optional[TableKnows]:
    """How surely the resolver's company table knows a name (for the policy's known_company weight)."""
    if resolver is None:
        return None

    def knows(name: str) -> float:
        match = resolver.index.lookup(name)
        return 0.0 if match is None or match.ambiguous else float(match.confidence)

    return knows


def _offers(name: str, rules: EmployerIndustry):
    """(section, rule, confidence) from each source that knows the name, in precedence order."""
    keyword = rules.keywords.match(name)
    tier = rules.keywords.tier_name(keyword.keyword) if keyword is not None else None
    for source in rules.precedence:
        if source in ("table", "table:weak") and rules.resolver is not None:
            match = rules.resolver.index.lookup(name)
            strong = match is not None and match.confidence >= STRONG_TABLE_MATCH
            if match is not None and not match.ambiguous and strong == (source == "table"):
                yield match.section, match.rule, float(match.confidence)
        elif source == "classifier" and rules.resolver is not None and rules.resolver.classifier is not None:
            section, probability = rules.resolver.classifier.predict(name)
            yield section, "classifier", round(float(probability), 4)
        elif keyword is not None and source == f"keyword:{tier}":
            yield keyword.section, keyword.rule, float(keyword.confidence)


def parse_employer_rules(raw: Mapping[str, Any], labels: Sequence[str], where: str, base: Path) -> EmployerIndustry:
    """The ``employer:`` mapping of a field: labels, policy and keywords (inline mappings or YAML files
    relative to ``base``), min_confidence, and an optional resolver directory."""
    from extractor.rules.industry.employer import PolicyError
    from extractor.rules.industry.keywords import KeywordTableError
    from extractor.rules.schema import SchemaError

    unknown = set(raw) - {"labels", "persons", "policy", "keywords", "min_confidence", "precedence", "resolver"}
    if unknown:
        raise SchemaError(f"{where}: employer has unknown keys {sorted(unknown)}")
    precedence = tuple(raw.get("precedence") or DEFAULT_PRECEDENCE)
    if not set(precedence) <= set(SOURCES) or len(set(precedence)) != len(precedence):
        raise SchemaError(f"{where}: employer.precedence must list distinct sources of {list(SOURCES)}, "
                          f"got {list(precedence)}")
    org_labels = tuple(raw.get("labels") or ())
    if not org_labels or any(label not in labels for label in org_labels):
        raise SchemaError(f"{where}: employer.labels must name schema labels, got {list(org_labels)}")
    persons = tuple(raw.get("persons") or ())
    if any(label not in labels for label in persons):
        raise SchemaError(f"{where}: employer.persons must name schema labels, got {list(persons)}")
    confidence = raw.get("min_confidence", 0.5)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        raise SchemaError(f"{where}: employer.min_confidence must be a number from 0 to 1, got {confidence!r}")
    try:
        policy_raw = _mapping(raw, "policy", where, base)
        policy = EmployerPolicy.from_dict(policy_raw, f"{where}: employer.policy")
        records = RecordRule.from_dict(policy_raw.get("records"), f"{where}: employer.policy")
        keywords = KeywordTable.from_dict(_mapping(raw, "keywords", where, base), f"{where}: employer.keywords")
    except (PolicyError, KeywordTableError) as exc:
        raise SchemaError(str(exc)) from None
    rules = EmployerIndustry(org_labels, policy, keywords, float(confidence), precedence, persons, records)
    resolver = raw.get("resolver")
    return rules.with_resolver(base / resolver if resolver and resolver != NO_RESOLVER else None)


def _mapping(raw: Mapping[str, Any], key: str, where: str, base: Path) -> Mapping[str, Any]:
    from extractor.rules.schema import SchemaError

    value = raw.get(key)
    if isinstance(value, str):
        path = base / value
        if not path.is_file():
            raise SchemaError(f"{where}: employer.{key}: no such file {path}")
        value = read_yaml(path, SchemaError)
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where}: employer.{key} must be a YAML file name or a mapping")
    return value


def inline_employer_files(raw: dict, base: Path) -> bool:
    """Replace the policy and keyword file names of every ``employer:`` section by their content, so a
    schema's text (what a model directory keeps and the rules version hashes) is self-contained."""
    from extractor.rules.schema import SchemaError

    changed = False
    for spec in (raw.get("fields") or {}).values():
        employer = (spec or {}).get("employer") if isinstance(spec, dict) else None
        if not isinstance(employer, dict):
            continue
        for key in ("policy", "keywords"):
            if isinstance(employer.get(key), str) and (base / employer[key]).is_file():
                employer[key] = read_yaml(base / employer[key], SchemaError)
                changed = True
        if isinstance(employer.get("resolver"), str) and employer["resolver"] != NO_RESOLVER:
            employer["resolver"] = str((base / employer["resolver"]).resolve())
            changed = True
    return changed
