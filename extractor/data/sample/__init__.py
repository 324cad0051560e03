"""Synthetic Chinese résumés with exact gold spans, for the demo and the tests.

Everything here is written by this package from hand-made word lists and
templates; no external data. Text is built piece by piece and every EDU, PRO,
IND and ORG mention is recorded as it is appended, so gold offsets are exact by
construction (nothing is searched for afterwards). Gold ``fields`` are what the
schema's rules derive from the gold entities (``field_strings``), so a model
that finds the gold spans gets the gold fields.

Not a benchmark: the templates are finite and a model can learn them. Its job
is to exercise the whole pipeline with enough variety (layouts, surface forms,
lengths, missing fields) that trivial memorisation of values does not suffice.

``generate_documents`` is the entry point. The pieces: ``wordlists`` (the data),
``person`` (who a résumé is about), ``forms`` (surface forms the schema accepts),
``render`` (sections as text) and ``fragment`` (text with its gold spans). Every
choice is drawn from one ``random.Random`` in a fixed order: reordering draws
changes every document after it.
"""
from __future__ import annotations

import random
from typing import Iterator, Optional

from extractor.data.documents import Document
from extractor.data.sample.forms import surface_forms
from extractor.data.sample.fragment import assemble
from extractor.data.sample.person import draw_person
from extractor.data.sample.render import render_sections
from extractor.data.sample.wordlists import GBT4754_SECTIONS
from extractor.paths import PRODUCT_SCHEMA
from extractor.rules.fields import field_strings
from extractor.rules.schema import Schema

__all__ = ["DEFAULT_SCHEMA_PATH", "GBT4754_SECTIONS", "generate_documents"]

DEFAULT_SCHEMA_PATH = PRODUCT_SCHEMA
FIELD_NAMES = ("education", "major", "industry")


def generate_documents(
    n: int,
    seed: int = 0,
    long_fraction: float = 0.05,
    missing_fraction: float = 0.15,
    schema: Optional[Schema] = None,
) -> Iterator[Document]:
    """Yield ``n`` synthetic résumés; the same seed gives the same documents.

    About ``long_fraction`` of them are over 1,000 characters, the rest 150-600.
    About ``missing_fraction`` lack one or more of education/major/industry
    entirely (no mention at all); every other document mentions all three.
    ``fields`` are derived from the gold entities by ``schema``'s rules
    (default: ``schemas/resume.yaml``). Entities are always labelled EDU, PRO,
    IND and ORG; another schema only changes which surface forms are kept
    (those its rules normalise to the intended value) and how fields are built.
    """
    if schema is None:
        schema = Schema.load(DEFAULT_SCHEMA_PATH)
    forms = surface_forms(schema)
    rng = random.Random(seed)
    for i in range(1, n + 1):
        long = rng.random() < long_fraction
        missing: set[str] = set()
        if rng.random() < missing_fraction:
            missing = set(rng.sample(FIELD_NAMES, rng.choice((1, 1, 1, 2))))
        person = draw_person(rng, long, missing)
        frags = render_sections(rng, forms, person, long)
        text, entities = assemble(frags, rng)
        yield Document(f"sample-{i:06d}", text, entities, field_strings(text, entities, schema))
