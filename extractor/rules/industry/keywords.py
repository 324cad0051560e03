"""Keyword rules from GB/T 4754-2017: an employer name to a section and division.

The last fallback of the industry field, written from the structure of the
standard (20 sections, 97 divisions) in ``schemas/industry/gbt4754_keywords.yaml``.

The name is read left to right, taking at each position the longest keyword
(one dict look-up per substring up to the longest keyword's length). Among the
hits an institution word (大学, 银行) beats an activity word (进出口, 研究所),
which beats a product word (钢铁, 煤炭); then the hit ending furthest right wins,
since a Chinese name ends with its head (山西煤炭进出口 is a trader); then the
longer hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from extractor.paths import SCHEMAS_DIR
from extractor.rules.yaml_file import read_yaml

DEFAULT_KEYWORDS_PATH = SCHEMAS_DIR / "industry" / "gbt4754_keywords.yaml"

SECTIONS = "ABCDEFGHIJKLMNOPQRST"
PRODUCT, ACTIVITY, INSTITUTION = 0, 1, 2
_TIER_NAMES = {PRODUCT: "product", ACTIVITY: "activity", INSTITUTION: "institution"}
_BLANK = "\x00"  # replaces excluded phrases, so no keyword can match across them


class KeywordTableError(ValueError):
    """The keyword YAML is malformed; the message names the file and key."""


@dataclass(frozen=True)
class Division:
    section: str  # A..T
    code: str  # two digits, 01..97
    name: str


@dataclass(frozen=True)
class Keyword:
    word: str
    division: Division
    tier: int  # PRODUCT, ACTIVITY or INSTITUTION
    confidence: float


@dataclass(frozen=True)
class KeywordMatch:
    section: str
    division: str
    keyword: str
    rule: str  # "keyword:<kw>", for the value's rule trace
    confidence: float


@dataclass(frozen=True)
class KeywordTable:
    divisions: tuple
    keywords: Mapping[str, Keyword]
    exclude: tuple
    max_len: int

    @classmethod
    def from_dict(cls, raw: Any, source: str = "<keywords>") -> "KeywordTable":
        if not isinstance(raw, Mapping):
            raise KeywordTableError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
        default = _number(raw, "default_confidence", source)
        confidences = raw.get("keyword_confidence", {})
        if not isinstance(confidences, Mapping):
            raise KeywordTableError(f"{source}: key 'keyword_confidence': expected a mapping, got {confidences!r}")
        tiers = {word: ACTIVITY for word in _words(raw, "activity_keywords", source)}
        tiers.update({word: INSTITUTION for word in _words(raw, "institution_keywords", source)})
        divisions, keywords = _read_divisions(raw, source, tiers, confidences, default)
        for key, words in (("activity_keywords", tiers), ("keyword_confidence", confidences)):
            unknown = sorted(set(words) - set(keywords))
            if unknown:
                raise KeywordTableError(f"{source}: key '{key}': not a keyword of any division: {', '.join(unknown)}")
        exclude = tuple(sorted(_words(raw, "exclude", source, required=False), key=len, reverse=True))
        return cls(tuple(divisions), MappingProxyType(keywords), exclude, max(map(len, keywords)))

    def hits(self, name: str) -> list[tuple[int, Keyword]]:
        """(start, keyword) for the longest keyword at each position, non-overlapping."""
        for phrase in self.exclude:
            name = name.replace(phrase, _BLANK * len(phrase))
        found, index = [], 0
        while index < len(name):
            for length in range(min(self.max_len, len(name) - index), 0, -1):
                keyword = self.keywords.get(name[index:index + length])
                if keyword is not None:
                    found.append((index, keyword))
                    index += length
                    break
            else:
                index += 1
        return found

    def match(self, name: str) -> KeywordMatch | None:
        """The section and division a name's keywords point to, or None when none matches."""
        found = self.hits(name)
        if not found:
            return None
        start, best = max(found, key=lambda hit: (hit[1].tier, hit[0] + len(hit[1].word), len(hit[1].word)))
        division = best.division
        return KeywordMatch(division.section, division.code, best.word, f"keyword:{best.word}", best.confidence)

    def tier_name(self, word: str) -> str:
        return _TIER_NAMES[self.keywords[word].tier]


def _number(raw: Mapping, key: str, source: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise KeywordTableError(f"{source}: key '{key}': expected a number from 0 to 1, got {value!r}")
    return float(value)


def _words(raw: Mapping, key: str, source: str, required: bool = True) -> list[str]:
    value = raw.get(key, None if required else [])
    if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
        raise KeywordTableError(f"{source}: key '{key}': expected a list of non-empty strings, got {value!r}")
    return value


def _read_divisions(raw: Mapping, source: str, tiers: Mapping[str, int], confidences: Mapping[str, Any],
                    default: float) -> tuple[list[Division], dict[str, Keyword]]:
    entries = raw.get("divisions")
    if not isinstance(entries, list) or not entries:
        raise KeywordTableError(f"{source}: key 'divisions': expected a non-empty list, got {entries!r}")
    divisions: list[Division] = []
    keywords: dict[str, Keyword] = {}
    for index, entry in enumerate(entries):
        key = f"divisions[{index}]"
        if not isinstance(entry, Mapping):
            raise KeywordTableError(f"{source}: key '{key}': expected a mapping, got {entry!r}")
        section, code, name = entry.get("section"), entry.get("code"), entry.get("name")
        if section not in tuple(SECTIONS):
            raise KeywordTableError(f"{source}: key '{key}.section': expected a letter A..T, got {section!r}")
        if not (isinstance(code, str) and len(code) == 2 and code.isdigit()):
            raise KeywordTableError(f"{source}: key '{key}.code': expected two digits as a string, got {code!r}")
        if not isinstance(name, str) or not name:
            raise KeywordTableError(f"{source}: key '{key}.name': expected a non-empty string, got {name!r}")
        division = Division(section, code, name)
        divisions.append(division)
        for word in _words(entry, "keywords", f"{source}: {key}"):
            if word in keywords:
                other = keywords[word].division.code
                raise KeywordTableError(f"{source}: key '{key}.keywords': {word!r} is also a keyword of division {other}")
            confidence = confidences.get(word, default)
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
                raise KeywordTableError(f"{source}: key 'keyword_confidence.{word}': expected a number, got {confidence!r}")
            keywords[word] = Keyword(word, division, tiers.get(word, PRODUCT), float(confidence))
    return divisions, keywords


def load_keywords(path: str | Path | None = None) -> KeywordTable:
    """Parse a keyword YAML file (default: the project's) into a KeywordTable."""
    path = Path(path) if path is not None else DEFAULT_KEYWORDS_PATH
    return KeywordTable.from_dict(read_yaml(path, KeywordTableError), source=str(path))


@lru_cache(maxsize=1)
def default_keywords() -> KeywordTable:
    return load_keywords()


def match_keywords(name: str, table: KeywordTable | None = None) -> KeywordMatch | None:
    """Section and division of an employer name (or an IND mention) from keywords alone."""
    return (table or default_keywords()).match(name)
