"""Surface forms of education levels, industries and majors, kept only where the schema in use
normalises them back to the intended value (so gold fields come out canonical)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from extractor.data.sample.wordlists import (
    EDU_FORMS,
    EDU_SHORT,
    MAJOR_ALIASES,
    MAJORS_HIGHER,
    MAJORS_VOCATIONAL,
    SECTORS,
)
from extractor.rules.fields import normalize
from extractor.rules.schema import Normalizer, Schema


def field_normalizer(schema: Schema, name: str) -> Optional[Normalizer]:
    for spec in schema.fields:
        if spec.name == name:
            return spec.normalize
    return None


@dataclass
class SurfaceForms:
    """Surface forms checked against the schema in use, so gold values come out canonical."""

    edu: dict[str, tuple[str, ...]]
    edu_short: dict[str, tuple[str, ...]]
    ind_bare: dict[str, tuple[str, ...]]      # fits "所属行业：X", table cells
    ind_suffixed: dict[str, tuple[str, ...]]  # fits "从事X", "在X深耕多年"
    majors: dict[str, tuple[str, ...]]


def forms_normalizing_to(forms: tuple[str, ...], norm: Optional[Normalizer], want: str) -> tuple[str, ...]:
    if norm is None:
        return forms
    return tuple(f for f in forms if normalize(f, norm)[0] == want)


def surface_forms(schema: Schema) -> SurfaceForms:
    edu_norm = field_normalizer(schema, "education")
    ind_norm = field_normalizer(schema, "industry")
    pro_norm = field_normalizer(schema, "major")
    edu, short = {}, {}
    for level, forms in EDU_FORMS.items():
        want = "硕士" if level == "MBA" else level
        edu[level] = forms_normalizing_to(forms, edu_norm, want) or forms
        short[level] = forms_normalizing_to(EDU_SHORT[level], edu_norm, want) or edu[level]
    bare, suffixed = {}, {}
    for sector in SECTORS:
        candidates = sector.cores + sector.extra
        with_suffix = tuple(c + s for c in sector.cores for s in ("行业", "领域")) + tuple(
            e for e in sector.extra if e.endswith("业")
        )
        # "农业" strips to "农" and "银行业" to "银" under the schema's suffix rule: such forms are dropped.
        b = forms_normalizing_to(tuple(c for c in candidates if not c.endswith(("行业", "领域"))), ind_norm, sector.name)
        s = forms_normalizing_to(with_suffix, ind_norm, sector.name)
        if not (b or s):
            raise ValueError(f"no industry mention of {sector.name} normalises to it under schema {schema.name!r}")
        bare[sector.name] = b or s
        suffixed[sector.name] = s or b
    majors = {}
    for m in set(MAJORS_HIGHER) | set(MAJORS_VOCATIONAL):
        variants = (m, m + "专业") + MAJOR_ALIASES.get(m, ()) + tuple(a + "专业" for a in MAJOR_ALIASES.get(m, ()))
        if m == "计算机科学与技术":
            variants += ("计算机系",)
        majors[m] = forms_normalizing_to(variants, pro_norm, m) or (m,)
    return SurfaceForms(edu, short, bare, suffixed, majors)

