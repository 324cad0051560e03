"""Which ORG span of a biography is the employer whose industry the field carries.

Each ORG span is scored from cue words around it, all read from
``schemas/industry/employer_policy.yaml``:

- status: the nearest status cue before the name in its sentence (现任, 曾任,
  兼任, a date range ending 至今 or in a year ...);
- role: the best role word right after the name, up to the next name or clause
  mark (总经理 beats 董事 beats 独立董事; 教授 counts only after a school);
- penalties: a school the person studied at, a shareholder, a bare 本公司.

Current posts compete on score; without a current cue the latest year decides (the most
recent employer); then the first (or last) span. The code is the mechanism; the policy is data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from extractor.paths import SCHEMAS_DIR
from extractor.rules.yaml_file import read_yaml

DEFAULT_POLICY_PATH = SCHEMAS_DIR / "industry" / "employer_policy.yaml"

_MASK = "\x00"  # blanks ORG characters, so a word inside a name (某某控股, 某某大学) is no cue

OrgSpan = Sequence[Any]  # (start, end) or (start, end, score); end exclusive


class PolicyError(ValueError):  # the policy YAML is malformed; the message names the file and key
    pass


@dataclass(frozen=True)
class EmployerChoice:
    start: int
    end: int
    text: str
    cue: str  # the rule that chose it, for the value's rule trace
    score: float


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
class Token:  # a cue found in the text: a policy term or a date
    start: int
    end: int
    term: Term
    year: int | None = None


@dataclass(frozen=True)
class Candidate:  # one ORG span with what the policy read around it
    start: int
    end: int
    text: str
    score: float
    status: Token | None
    role: Token | None
    year: int | None
    teaches: bool
    generic: bool
    penalised: bool  # studied there, shareholder, school without a post, or a bare 本公司


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


def load_policy(path: str | Path | None = None) -> EmployerPolicy:
    """Parse a policy YAML file (default: the project's) into an EmployerPolicy."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    return EmployerPolicy.from_dict(read_yaml(path, PolicyError), source=str(path))


default_policy = lru_cache(maxsize=1)(load_policy)  # the project's policy, parsed once


def find_tokens(masked: str, policy: EmployerPolicy) -> list[Token]:
    """Dates, then policy words by longest match (so 独立董事 is not read as 董事)."""
    tokens: list[Token] = []
    taken = [False] * len(masked)
    for cue in policy.date_cues:  # more specific patterns come first in the policy
        for match in cue.pattern.finditer(masked):
            if any(taken[match.start():match.end()]):
                continue
            taken[match.start():match.end()] = [True] * (match.end() - match.start())
            label = "至今" if cue.weight > 0 and cue.name == "current" else match.group("year")
            term = Term(label, "status", cue.name, cue.weight)
            tokens.append(Token(match.start(), match.end(), term, int(match.group("year"))))
    index = 0
    while index < len(masked):
        term = None
        if not taken[index]:
            for length in range(min(policy.max_word_len, len(masked) - index), 0, -1):
                term = policy.lexicon.get(masked[index:index + length])
                if term is not None:
                    break
        if term is None:
            index += 1
            continue
        tokens.append(Token(index, index + len(term.word), term))
        index += len(term.word)
    tokens.sort(key=lambda token: token.start)
    return tokens


def _boundary_before(text: str, position: int, delimiters: frozenset) -> int:
    return max((text.rfind(mark, 0, position) for mark in delimiters), default=-1) + 1


def _boundary_after(text: str, position: int, delimiters: frozenset) -> int:
    return min((found for mark in delimiters if (found := text.find(mark, position)) >= 0), default=len(text))


def score_candidate(text: str, span: tuple[int, int], next_org_start: int, tokens: Sequence[Token],
                    policy: EmployerPolicy, anchor: int | None = None) -> Candidate:
    """Read status, role, year and penalties around one ORG span and add them up.

    ``anchor`` is where cues before the name are measured from; an alias in
    brackets right after another name (X厂(Y厂)) is measured from X.
    """
    start, end = span
    anchor = start if anchor is None else anchor
    name = text[start:end]
    sentence_start = _boundary_before(text, start, policy.sentence_delimiters)
    clause_start = _boundary_before(text, start, policy.clause_delimiters)
    window_end = min(next_org_start, end + policy.role_window_chars,
                     _boundary_after(text, end, policy.clause_delimiters))
    before = [t for t in tokens if sentence_start <= t.start and t.end <= anchor]
    after = [t for t in tokens if end <= t.start and t.end <= window_end]
    status = next((t for t in reversed(before) if t.term.kind == "status"
                   and (t.term.reach is None or anchor - t.end <= t.term.reach)), None)
    year = next((t.year for t in reversed(before) if t.year is not None), None)
    is_school = any(marker in name for marker in policy.school_markers)
    roles = [t for t in after if t.term.kind == "role" and (is_school or not t.term.school_only)]
    role = max(roles, key=lambda t: t.term.weight, default=None)
    teaches = is_school and role is not None and role.term.school_only
    study_from = max(clause_start, start - policy.study_before_chars)
    studied = any(t.term.kind == "study" for t in after) or any(
        t.term.kind == "study" and t.start >= study_from for t in before)
    reach = policy.shareholder_window_chars
    owner = any(t.term.kind == "shareholder" and start - reach <= t.start < end + reach
                and t.start >= sentence_start for t in tokens)
    generic = name in policy.generic_names
    score = (status.term.weight if status else 0.0) + (role.term.weight if role else 0.0)
    if is_school and role is None:  # a school named with no post there is where one studied
        score += policy.penalties.school_without_role
    if studied and not teaches:
        score += policy.penalties.studied
    if owner:
        score += policy.penalties.shareholder
    if generic:
        score += policy.penalties.generic
    penalised = generic or owner or (studied and not teaches) or (is_school and role is None)
    return Candidate(start, end, name, score, status, role, year, teaches, generic, penalised)


def score_candidates(text: str, orgs: Sequence[OrgSpan], policy: EmployerPolicy | None = None) -> list[Candidate]:
    """Every ORG span with its score and the cues that made it, in text order."""
    policy = policy or default_policy()
    spans = sorted({(int(org[0]), int(org[1])) for org in orgs if 0 <= int(org[0]) < int(org[1]) <= len(text)})
    masked = list(text)
    for start, end in spans:
        masked[start:end] = _MASK * (end - start)
    tokens = find_tokens("".join(masked), policy)
    starts = [start for start, _ in spans] + [len(text)]
    candidates = []
    for i, span in enumerate(spans):
        anchor = None
        if i and text[spans[i - 1][1]:span[0]] in policy.alias_openers:
            anchor = spans[i - 1][0]
        candidates.append(score_candidate(text, span, starts[i + 1], tokens, policy, anchor))
    return _credit_parents(candidates)


def _credit_parents(candidates: list[Candidate]) -> list[Candidate]:
    """A current post in a unit (康力电梯销售中心) is a post at its parent (康力电梯) when the
    parent is itself named as current: the parent takes the unit's score."""
    credited = []
    for parent in candidates:
        if _is_current(parent) and not parent.generic:
            units = [c.score for c in candidates if len(c.text) > len(parent.text) and c.text.startswith(parent.text)]
            if units and max(units) > parent.score:
                parent = replace(parent, score=max(units))
        credited.append(parent)
    return credited


def _is_current(candidate: Candidate) -> bool:
    return candidate.teaches or (candidate.status is not None and candidate.status.term.weight > 0)



def _explain(winner: Candidate, others: Sequence[Candidate], policy: EmployerPolicy) -> str:
    """Name the rule that decided, for the value's rule trace."""
    if winner.teaches:
        return f"teaches:{winner.role.term.word}"
    if winner.generic:
        return "generic_org"
    if not others:
        return "only_org"
    if winner.status is not None and winner.status.term.weight > 0:
        return f"{winner.status.term.group}:{winner.status.term.word}"
    other_years = [c.year for c in others if c.year is not None]
    if winner.year is not None and all(winner.year > year for year in other_years):
        return f"latest_year:{winner.year}"
    if winner.role is not None and winner.role.term.weight > 0 and all(c.score < winner.score for c in others):
        return f"role:{winner.role.term.word}"
    return f"{policy.tie_break}_org"


def choose_employer(text: str, orgs: Sequence[OrgSpan], policy: EmployerPolicy | None = None) -> EmployerChoice | None:
    """The ORG span whose industry the field should carry, or None when there is no ORG."""
    policy = policy or default_policy()
    candidates = score_candidates(text, orgs, policy)
    if not candidates:
        return None
    direction = -1 if policy.tie_break == "first" else 1

    def rank(candidate: Candidate) -> tuple:
        # Current posts compete on score; without a current cue the latest year
        # decides first (the most recent employer); penalised spans come last.
        year = candidate.year if candidate.year is not None else -1
        position = direction * candidate.start
        if candidate.penalised:
            return 0, candidate.score, year, position
        if _is_current(candidate):
            return 2, candidate.score, year, position
        return 1, candidate.score >= 0, year, candidate.score, position

    winner = max(candidates, key=rank)
    others = [c for c in candidates if c is not winner and not c.generic and c.text != winner.text]
    return EmployerChoice(winner.start, winner.end, winner.text, _explain(winner, others, policy), winner.score)
