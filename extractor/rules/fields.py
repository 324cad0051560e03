"""Spans -> field values, by the rules a schema holds as data.

Each value keeps the span it came from and the rule that chose it, so a wrong
value can be traced back to the text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from extractor.data.documents import Entity
from extractor.rules.industry.from_employer import industry_from_employer
from extractor.rules.schema import CutRepair, FieldSpec, Normalizer, Schema


@dataclass(frozen=True)
class FieldValue:
    field: str
    value: str
    raw: str
    start: int
    end: int
    score: Optional[float]
    rule: str
    code: Optional[str] = None  # e.g. the GB/T 4754 section letter, when the schema gives codes
    # How sure the rule is (an industry resolver's probability, a keyword's weight); None where the
    # value is the span itself and ``score`` (the model's) says it.
    confidence: Optional[float] = None


def normalize(surface: str, norm: Normalizer) -> tuple[str, str]:
    """Return (canonical value, name of the rule that produced it)."""
    s = surface.strip()
    if s in norm.map:
        return norm.map[s], "map"
    # Substring rules see the whole surface: stripping first would turn 银行业 into 银.
    for needle, value in norm.contains:
        if needle in s:
            return value, f"contains:{needle}"
    stripped = s
    for suffix in norm.strip_suffixes:
        if stripped.endswith(suffix) and len(stripped) > len(suffix):
            stripped = stripped[: -len(suffix)]
            break
    if stripped in norm.map:
        return norm.map[stripped], "strip+map"
    if len(stripped) < norm.min_chars:
        return "", "too_short"  # no value: a leftover like 双 (双专业) names nothing
    return stripped, "strip" if stripped != s else "identity"


def field_candidates(text: str, spans: Sequence[Entity], spec: FieldSpec,
                     notes: Optional[dict[str, str]] = None) -> list[FieldValue]:
    """Candidate values in text order: the field's own spans, else its employer's industry, else the
    ``derive`` keyword rules. Why a field stayed empty goes into ``notes`` when one is given."""
    out = []
    seen: set[tuple[int, int]] = set()
    # Spans that may have taken a field span's first characters, by where they end: looked up, not scanned,
    # since an untrained model can predict thousands of spans in one document.
    ending_at: dict[int, list[Entity]] = {}
    if spec.repair_cut is not None:
        for e in spans:
            if e.label in spec.repair_cut.labels:
                ending_at.setdefault(e.end, []).append(e)
    for e in sorted(spans, key=lambda e: (e.start, e.end)):
        # The same span tagged twice (two labels feeding one field) is one candidate.
        if e.label not in spec.labels or (e.start, e.end) in seen:
            continue
        seen.add((e.start, e.end))
        start = repaired_start(text, ending_at.get(e.start, ()), e, spec.repair_cut)
        raw = text[start : e.end]
        value, rule = normalize(raw, spec.normalize)
        if start != e.start:
            rule = f"repair_cut+{rule}"
        if value:
            out.append(FieldValue(spec.name, value, raw, start, e.end, e.score, rule, spec.codes.get(value)))
    if not out and spec.employer is not None:
        out = employer_candidates(text, spans, spec, notes)
    elif not out and spec.derive is not None:
        out = derived_candidates(text, spans, spec)
    return out


def repaired_start(text: str, spans_before: Sequence[Entity], span: Entity, repair: Optional[CutRepair]) -> int:
    """Where ``span`` starts once the tail one of ``spans_before`` took is given back (see CutRepair);
    ``spans_before``: the spans of the repair's labels that end where ``span`` starts."""
    if repair is None:
        return span.start
    for before in spans_before:
        name = text[before.start : before.end]
        cut = max((name.rfind(word) + len(word) for word in repair.after if word in name), default=0)
        tail = name[cut:]
        if cut and tail and not tail.endswith(repair.unless_ends):
            return before.start + cut
    return span.start


def employer_candidates(text: str, spans: Sequence[Entity], spec: FieldSpec,
                        notes: Optional[dict[str, str]] = None) -> list[FieldValue]:
    """The industry of the document's employer (table, classifier, then keyword rules), or nothing, with
    the reason noted, when no source is sure enough."""
    found = industry_from_employer(text, spans, spec.employer)
    if found.section is None or found.employer is None:
        if notes is not None:
            notes[spec.name] = found.reason or "no value"
        return []
    e = found.employer
    return [FieldValue(spec.name, found.section_name, text[e.start:e.end], e.start, e.end,
                       _span_score(spans, e.start, e.end), found.rule, found.section, found.confidence)]


def _span_score(spans: Sequence[Entity], start: int, end: int) -> Optional[float]:
    return next((s.score for s in spans if (s.start, s.end) == (start, end) and s.score is not None), None)


def derived_candidates(text: str, spans: Sequence[Entity], spec: FieldSpec) -> list[FieldValue]:
    """Values inferred from other labels' spans (e.g. industry from employer names), in text order."""
    assert spec.derive is not None
    out = []
    for e in sorted(spans, key=lambda e: (e.start, e.end)):
        raw = text[e.start : e.end]
        if e.label not in spec.derive.labels or any(x in raw for x in spec.derive.exclude):
            continue
        for needle, value in spec.derive.contains:
            if needle in raw:
                out.append(FieldValue(spec.name, value, raw, e.start, e.end, e.score,
                                      f"derived:{e.label}:contains:{needle}", spec.codes.get(value)))
                break
    return out


def select(candidates: list[FieldValue], spec: FieldSpec) -> list[FieldValue]:
    """Apply the field's selection policy; 'all' keeps every distinct value in text order."""
    if not candidates:
        return []
    if spec.select == "first":
        return [candidates[0]]
    if spec.select == "most_confident":
        return [max(candidates, key=lambda c: c.score if c.score is not None else float("-inf"))]
    if spec.select == "highest":
        rank = {v: i for i, v in enumerate(spec.order)}
        ranked = [c for c in candidates if c.value in rank]
        return [max(ranked, key=lambda c: rank[c.value])] if ranked else [candidates[0]]
    seen, unique = set(), []
    for c in candidates:
        if c.value not in seen:
            seen.add(c.value)
            unique.append(c)
    return unique


def extract_fields(text: str, spans: Sequence[Entity], schema: Schema,
                   notes: Optional[dict[str, str]] = None) -> dict[str, list[FieldValue]]:
    """The chosen values of every field; ``notes`` (if given) receives why an employer field is empty."""
    return {spec.name: select(field_candidates(text, spans, spec, notes), spec) for spec in schema.fields}


def joined(values: Sequence[FieldValue]) -> Optional[str]:
    """A field's values as one string (joined by '|' for 'all'), None when the field is empty."""
    return "|".join(v.value for v in values) if values else None


def field_strings(text: str, spans: Sequence[Entity], schema: Schema) -> dict[str, Optional[str]]:
    """One string per field (values joined by '|' for 'all'), None when the field is empty."""
    return {name: joined(vals) for name, vals in extract_fields(text, spans, schema).items()}
