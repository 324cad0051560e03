"""The company table behind the sample's employers: every company a synthetic résumé can name, with its
GB/T 4754 section, in the shape a recruiting platform's own table has (full name, short name, code).

The demo fits an industry resolver on it (``extractor industry fit``), so the nightly run finds the
industry of an employer the way it does on real data: by the table first, not by keywords alone.
"""
from __future__ import annotations

import csv
from pathlib import Path

from extractor.data.sample.wordlists import BRANDS, SECTORS
from extractor.rules.industry.sections import SECTION_NAMES

COLUMNS = ("full_name", "short_name", "section")
_LETTER = {name: letter for letter, name in SECTION_NAMES.items()}


def company_rows() -> list[tuple[str, str, str]]:
    """(full name, short name, section letter) for every named company and every made-up brand and
    business-word company of each sector; the order is fixed, so the table and its resolver are too."""
    rows = []
    for sector in SECTORS:
        letter = _LETTER[sector.name]
        rows += [(name, "", letter) for name in sector.companies]
        rows += [(f"{brand}{biz}股份有限公司", f"{brand}{biz}", letter) for biz in sector.biz for brand in BRANDS]
    return rows


def write_company_table(path: Path) -> Path:
    """The table as CSV (header ``full_name,short_name,section``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(company_rows())
    return path
