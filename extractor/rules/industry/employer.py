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
from typing import Any, Callable, Optional, Sequence

from extractor.rules.industry.employer_policy import (  # noqa: F401 (re-exported: the policy's public names)
    DEFAULT_POLICY_PATH,
    EmployerPolicy,
    PolicyError,
    Term,
    default_policy,
    load_policy,
)

_MASK = "\x00"  # blanks ORG characters, so a word inside a name (某某控股, 某某大学) is no cue

OrgSpan = Sequence[Any]  # (start, end) or (start, end, score); end exclusive
# How surely a company table knows a name: the confidence of its match, 0 for none (from_employer.py
# passes the resolver's; without one no name is known).
TableKnows = Callable[[str], float]


@dataclass(frozen=True)
class EmployerChoice:
    start: int
    end: int
    text: str
    cue: str  # the rule that chose it, for the value's rule trace
    score: float


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
    known: bool = False  # a current executive post at a company the table knows (the policy's known_company)


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


def score_candidates(text: str, orgs: Sequence[OrgSpan], policy: EmployerPolicy | None = None,
                     table_knows: Optional[TableKnows] = None) -> list[Candidate]:
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
    return _credit_parents(_credit_known(candidates, policy, table_knows))


def _credit_known(candidates: list[Candidate], policy: EmployerPolicy,
                  table_knows: Optional[TableKnows]) -> list[Candidate]:
    """A current executive post at a company the table knows takes the policy's known_company weight."""
    rule = policy.known_company
    if rule is None or table_knows is None:
        return candidates
    return [replace(c, score=c.score + rule.weight, known=True)
            if _is_current(c) and not c.penalised and c.role is not None and c.role.term.weight >= rule.min_role
            and table_knows(c.text) >= rule.min_match else c
            for c in candidates]


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


def _explain(winner: Candidate, others: Sequence[Candidate], policy: EmployerPolicy, known_decided: bool) -> str:
    """Name the rule that decided, for the value's rule trace."""
    if winner.teaches:
        return f"teaches:{winner.role.term.word}"
    if winner.generic:
        return "generic_org"
    if not others:
        return "only_org"
    if winner.status is not None and winner.status.term.weight > 0:
        return f"{winner.status.term.group}:{winner.status.term.word}" + (" known_company" if known_decided else "")
    other_years = [c.year for c in others if c.year is not None]
    if winner.year is not None and all(winner.year > year for year in other_years):
        return f"latest_year:{winner.year}"
    if winner.role is not None and winner.role.term.weight > 0 and all(c.score < winner.score for c in others):
        return f"role:{winner.role.term.word}"
    return f"{policy.tie_break}_org"


def choose_employer(text: str, orgs: Sequence[OrgSpan], policy: EmployerPolicy | None = None,
                    table_knows: Optional[TableKnows] = None) -> EmployerChoice | None:
    """The ORG span whose industry the field should carry, or None when there is no ORG. ``table_knows``
    (a company table's match confidence for a name) lets the policy's ``known_company`` weight count."""
    policy = policy or default_policy()
    candidates = score_candidates(text, orgs, policy, table_knows)
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
    known_decided = winner.known and max(
        candidates, key=lambda c: rank(replace(c, score=c.score - policy.known_company.weight) if c.known else c),
    ) is not winner
    cue = _explain(winner, others, policy, known_decided)
    return EmployerChoice(winner.start, winner.end, winner.text, cue, winner.score)
