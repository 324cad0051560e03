"""The employer policy: ``schemas/industry/employer_policy.yaml`` parsed once into typed objects.

Every word, window and weight of the employer choice is data; ``employer.py`` holds the mechanism. Errors
name the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from extractor.paths import SCHEMAS_DIR
from extractor.rules.yaml_file import read_yaml

DEFAULT_POLICY_PATH = SCHEMAS_DIR / "industry" / "employer_policy.yaml"


class PolicyError(ValueError):  # the policy YAML is malformed; the message names the file and key
    pass


@dataclass(frozen=True)
class Term:  # one cue word of the policy: what kind it is and how much it weighs
    word: str
    kind: str  # status | role | study | shareholder
    group: str  # e.g. current, past, top, teaching
    weight: float = 0.0
    reach: int | None = None  # most characters between the cue and the name
    school_only: bool = False


@dataclass(frozen=True)
class DateCue:
    name: str
    pattern: re.Pattern
    weight: float


@dataclass(frozen=True)
class Penalties:
    school_without_role: float
    studied: float
    shareholder: float
    generic: float


@dataclass(frozen=True)
class KnownCompany:
    """A current executive post at a company the resolver's table knows weighs more (optional key
    ``known_company``): a bio of a listed company's officer names the listed company's post beside posts
    at its subsidiaries, and the listed company is the employer."""

    weight: float
    min_role: float  # the post's role weight must reach this (an executive, not a board seat)
    min_match: float  # the table match's confidence must reach this (a name, not a prefix of one)


@dataclass(frozen=True)
class EmployerPolicy:
    sentence_delimiters: frozenset
    clause_delimiters: frozenset
    role_window_chars: int
    study_before_chars: int
    shareholder_window_chars: int
    tie_break: str
    alias_openers: frozenset
    generic_names: frozenset
    school_markers: tuple
    penalties: Penalties
    date_cues: tuple
    lexicon: Mapping[str, Term]
    max_word_len: int
    known_company: KnownCompany | None = None  # no bonus without the key, or without a resolver

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "<policy>") -> "EmployerPolicy":
        reader = _Reader(raw, source)
        terms = _read_terms(reader)
        tie_break = reader.text("tie_break")
        if tie_break not in ("first", "last"):
            raise PolicyError(f"{source}: key 'tie_break': expected 'first' or 'last', got {tie_break!r}")
        return cls(
            sentence_delimiters=frozenset(reader.text("sentence_delimiters")),
            clause_delimiters=frozenset(reader.text("clause_delimiters")),
            role_window_chars=reader.integer("role_window_chars"),
            study_before_chars=reader.integer("study_before_chars"),
            shareholder_window_chars=reader.integer("shareholder_window_chars"),
            tie_break=tie_break,
            alias_openers=frozenset(reader.words("alias_openers")),
            generic_names=frozenset(reader.words("generic_names")),
            school_markers=tuple(reader.words("school_markers")),
            penalties=Penalties(**{name: reader.number(f"penalties.{name}") for name in Penalties.__dataclass_fields__}),
            date_cues=tuple(_read_date_cues(reader)),
            lexicon=MappingProxyType({term.word: term for term in terms}),
            max_word_len=max(len(term.word) for term in terms),
            known_company=_read_known_company(reader),
        )


class _Reader:
    """Typed access to the raw YAML mapping by dotted key, with errors naming file and key."""

    def __init__(self, raw: Any, source: str):
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
        self.raw, self.source = raw, source

    def get(self, key: str, default: Any = ...) -> Any:
        node: Any = self.raw
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is not ...:
                    return default
                raise PolicyError(f"{self.source}: missing key '{key}'")
            node = node[part]
        return node

    def fail(self, key: str, expected: str, value: Any) -> PolicyError:
        return PolicyError(f"{self.source}: key '{key}': expected {expected}, got {value!r}")

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(key, "a non-empty string", value)
        return value

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, "a non-negative integer", value)
        return value

    def number(self, key: str, default: Any = ...) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, "a number", value)
        return float(value)

    def words(self, key: str) -> list[str]:
        value = self.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(w, str) and w for w in value):
            raise self.fail(key, "a non-empty list of strings", value)
        return value


def _read_terms(reader: _Reader) -> list[Term]:
    terms: list[Term] = []
    for kind, key in (("status", "status_cues"), ("role", "roles")):
        groups = reader.get(key)
        if not isinstance(groups, Mapping) or not groups:
            raise reader.fail(key, "a mapping of named groups", groups)
        for group in groups:
            prefix = f"{key}.{group}"
            reach = reader.get(f"{prefix}.reach", None)
            if reach is not None:
                reach = reader.integer(f"{prefix}.reach")
            school_only = reader.get(f"{prefix}.school_only", False)
            if not isinstance(school_only, bool):
                raise reader.fail(f"{prefix}.school_only", "true or false", school_only)
            weight = reader.number(f"{prefix}.weight")
            terms += [Term(w, kind, str(group), weight, reach, school_only) for w in reader.words(f"{prefix}.words")]
    terms += [Term(w, "study", "study") for w in reader.words("study_words")]
    terms += [Term(w, "shareholder", "shareholder") for w in reader.words("shareholder_words")]
    seen: dict[str, Term] = {}
    for term in terms:
        if term.word in seen:
            raise PolicyError(
                f"{reader.source}: word {term.word!r} is listed twice "
                f"({seen[term.word].kind}.{seen[term.word].group} and {term.kind}.{term.group})"
            )
        seen[term.word] = term
    return terms


def _read_date_cues(reader: _Reader) -> list[DateCue]:
    entries = reader.get("date_cues")
    if not isinstance(entries, list):
        raise reader.fail("date_cues", "a list of {name, weight, pattern}", entries)
    cues = []
    for index, entry in enumerate(entries):
        key = f"date_cues[{index}]"
        if not isinstance(entry, Mapping) or not {"name", "weight", "pattern"} <= set(entry):
            raise reader.fail(key, "a mapping with name, weight and pattern", entry)
        try:
            pattern = re.compile(entry["pattern"])
        except (re.error, TypeError) as error:
            raise PolicyError(f"{reader.source}: key '{key}.pattern': not a regular expression ({error})") from None
        if "year" not in pattern.groupindex:
            raise PolicyError(f"{reader.source}: key '{key}.pattern': needs a named group (?P<year>...)")
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise reader.fail(f"{key}.weight", "a number", weight)
        cues.append(DateCue(str(entry["name"]), pattern, float(weight)))
    return cues


def _read_known_company(reader: _Reader) -> KnownCompany | None:
    if reader.get("known_company", None) is None:
        return None
    return KnownCompany(**{name: reader.number(f"known_company.{name}") for name in KnownCompany.__dataclass_fields__})


def load_policy(path: str | Path | None = None) -> EmployerPolicy:
    """Parse a policy YAML file (default: the project's) into an EmployerPolicy."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    return EmployerPolicy.from_dict(read_yaml(path, PolicyError), source=str(path))


default_policy = lru_cache(maxsize=1)(load_policy)  # the project's policy, parsed once
