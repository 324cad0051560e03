"""CompanyIndex: dictionary lookups of an employer name against a CompanyTable's names.

Rules, in precedence order (the first that finds a key wins):

1. ``table:<column>``: the normalised full name, or the name without legal form (stem), equals a
   table name's (confidence 0.99 / 0.97);
2. ``table:core``: the cores are equal (0.90);
3. ``table:prefix``: a table core of >= 2 characters starts the query (a short name inside a full name:
   百润股份 in 上海百润香精香料股份有限公司); the longest is found by one dict lookup per prefix length;
4. ``table:short_form``: the query's core starts a table core (the query is a short form of a table name);
5. ``table:contraction``: the contraction of the query's core (首都开发 -> 首开, ``word_initials``) is a table
   core (首开股份's). Weak evidence: on the listed-company table, 24 of the 35 full names whose contraction
   is some company's core share that company's section (``CONTRACTION``).

A core is the name without region and legal form, except where what is left is an industry word that ends
at least ``INDUSTRY_WORD_ENDS`` other table cores (湖南投资 -> 投资, ended by 甲乙投资, 丙丁投资 ...): such a name is
known by its region, so its core is its stem and it gives no prefix keys (``industry_words``; in resolvers
fitted before, 宜宾市投资 matched 湖南投资 and every 东方… name 浙江东方). The keys are made when a resolver is
fitted: refitting gives the new keys and, with them, a new content hash and rules version.

A key shared by companies of different sections is ambiguous: the majority section is returned with its
confidence scaled down by its share (never above ``AMBIGUOUS_CAP``), so callers can prefer other evidence.

In memory each map is a plain dict from key to a shared ``KeyEntry``: keys with the same answer (a name's
full, stem and core keys) point to one entry, and equal key strings and section tuples are stored once, so a
100,000-row table takes under 200 MiB instead of one object graph per key. The JSON file is unchanged.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from extractor.rules.industry.names import NameKeys, name_keys, word_initials
from extractor.rules.industry.table import CompanyTable

# Bumped whenever the lookup rules change what a name matches (2: table:contraction). It is part of the
# rules version next to the resolver's content, so an upgrade that matches differently reprocesses.
MATCHING_REVISION = 2
INDEX_FILE = "index.json"
INDEX_FORMAT = 1
MIN_CORE = 2  # shortest table core used as a prefix key
INDUSTRY_WORD_ENDS = 3  # a core that ends this many other cores is an industry word (``industry_words``)
AMBIGUOUS_CAP = 0.5
CONFIDENCE = {"full": 0.99, "stem": 0.97, "core": 0.90, "short_form": 0.70}
SHORT_FORM_TWO_CHARACTERS = 0.50  # a two-character query core starting a longer table core is weak evidence
PREFIX_CONFIDENCE = {2: 0.60, 3: 0.70}  # by matched core length; longer prefixes get PREFIX_LONG
PREFIX_LONG = 0.80
CONTRACTION = 0.55  # a weak match: the field's table:weak, and IndustryResolver lets a surer classifier win
_MAPS = ("full", "stem", "core", "core_prefix")


@dataclass(frozen=True)
class TableMatch:
    section: str
    code: str
    rule: str
    confidence: float
    matched_name: str
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What one key points to: companies per section (majority first) and a representative name.

    Entries are shared: every key with the same answer points to one object (see ``_EntryInterner``).
    """

    sections: tuple[tuple[str, int], ...]
    code: str
    column: str
    name: str

    @property
    def share(self) -> float:
        return self.sections[0][1] / sum(n for _, n in self.sections)

    def to_json(self) -> list:
        return [[list(s) for s in self.sections], self.code, self.column, self.name]

    @classmethod
    def from_json(cls, data: list) -> "KeyEntry":
        return cls(tuple((s, n) for s, n in data[0]), data[1], data[2], data[3])


# (section, company_id, code, column, name) of one table name; one tuple per name, shared by all its keys.
NameSource = tuple[str, int, str, str, str]


class _EntryBuilder:
    """Collects the companies behind a key seen for more than one company; the first company seen per
    section is its representative."""

    def __init__(self, first: NameSource) -> None:
        self.companies: dict[str, set[int]] = {first[0]: {first[1]}}
        self.first: dict[str, NameSource] = {first[0]: first}

    def add(self, source: NameSource) -> None:
        section = source[0]
        if section in self.companies:
            self.companies[section].add(source[1])
        else:
            self.companies[section] = {source[1]}
            self.first[section] = source

    def build(self, interner: "_EntryInterner") -> KeyEntry:
        # Majority first; ties broken by letter so that the index is the same however rows are ordered.
        ranked = sorted(self.companies.items(), key=lambda item: (-len(item[1]), item[0]))
        _, _, code, column, name = self.first[ranked[0][0]]
        return interner.entry(tuple((s, len(ids)) for s, ids in ranked), code, column, name)


class _EntryInterner:
    """One shared object per distinct entry, key string and section tuple: 700k keys of a 100k-row table
    point to far fewer distinct answers, and keys repeat across maps (a stem that is also a core)."""

    def __init__(self) -> None:
        self.entries: dict[KeyEntry, KeyEntry] = {}
        self.strings: dict[str, str] = {}
        self.section_counts: dict[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]] = {}
        self.by_source: dict[NameSource, KeyEntry] = {}

    def entry(self, sections: tuple[tuple[str, int], ...], code: str, column: str, name: str) -> KeyEntry:
        sections = self.section_counts.setdefault(sections, sections)
        strings = self.strings
        code, column, name = (strings.setdefault(text, text) for text in (code, column, name))
        entry = KeyEntry(sections, code, column, name)
        return self.entries.setdefault(entry, entry)

    def key(self, text: str) -> str:
        return self.strings.setdefault(text, text)

    def single(self, source: NameSource) -> KeyEntry:
        """The entry of a key only one company has; a name's full, stem and core keys share its source."""
        entry = self.by_source.get(source)
        if entry is None:
            section, _, code, column, name = source
            entry = self.by_source[source] = self.entry(((section, 1),), code, column, name)
        return entry


def _index_keys(keys: NameKeys) -> tuple[list[str], ...]:
    """The keys of one name in ``_MAPS`` order."""
    core = keys.core
    prefixes = [core[:n] for n in range(MIN_CORE, len(core))] if len(core) > MIN_CORE else []
    return (
        [keys.full] if keys.full else [],
        [keys.stem] if keys.stem else [],
        [core] if len(core) >= MIN_CORE else [],
        prefixes,
    )


def industry_words(cores: Iterable[str]) -> frozenset[str]:
    """The cores that end at least ``INDUSTRY_WORD_ENDS`` other cores: words that say what a company does
    (投资, 能源, 钢铁), not a trade name. A company named only by region and such a word (湖南投资) has no core
    of its own: its region is what distinguishes it, so its region-less core is no key (宜宾市投资 is not it)."""
    distinct = set(cores)
    ends = Counter(end for core in distinct for length in range(MIN_CORE, len(core))
                   if (end := core[-length:]) in distinct)
    return frozenset(core for core, count in ends.items() if count >= INDUSTRY_WORD_ENDS)


def _collect_keys(table: CompanyTable) -> list[dict[str, NameSource | _EntryBuilder]]:
    """Per map, key -> the first name source seen, or a builder once a second company shares the key.

    Most keys belong to one company, so they hold only a shared tuple; builders are made for the rest.
    """
    states: list[dict[str, NameSource | _EntryBuilder]] = [{} for _ in _MAPS]
    # Two passes over the names (keys made twice) rather than all keys held at once: a 100,000-row table's
    # index must stay small (see the module docstring).
    generic = industry_words(name_keys(name.text).core for record in table.records for name in record.names)
    for record in table.records:
        for name in record.names:
            keys = name_keys(name.text)
            source: NameSource = (record.section, record.company_id, record.code, name.column, name.text)
            region_and_industry_word = keys.core in generic and keys.core != keys.stem
            if region_and_industry_word:  # its stem is its only core, and no prefix of it is one
                keys = NameKeys(keys.full, keys.stem, keys.stem)
            for map_name, mapping, map_keys in zip(_MAPS, states, _index_keys(keys)):
                if region_and_industry_word and map_name == "core_prefix":
                    continue
                for key in map_keys:
                    state = mapping.get(key)
                    if state is None:
                        mapping[key] = source
                    elif type(state) is tuple:
                        if state[1] != source[1]:  # another company: count companies per section from now on
                            builder = mapping[key] = _EntryBuilder(state)
                            builder.add(source)
                    else:
                        state.add(source)
    return states


class CompanyIndex:
    """Dict-based lookups over a table's names; ``lookup`` never scans the table."""

    def __init__(self, maps: dict[str, dict[str, KeyEntry]]):
        self.maps = maps
        self.full, self.stem, self.core, self.core_prefix = (maps[m] for m in _MAPS)

    @classmethod
    def build(cls, table: CompanyTable) -> "CompanyIndex":
        interner = _EntryInterner()
        maps: dict[str, dict[str, KeyEntry]] = {}
        for map_name, states in zip(_MAPS, _collect_keys(table)):
            maps[map_name] = {
                interner.key(key): interner.single(state) if type(state) is tuple else state.build(interner)
                for key, state in states.items()
            }
        return cls(maps)

    @classmethod
    def empty(cls) -> "CompanyIndex":
        return cls({m: {} for m in _MAPS})

    def __len__(self) -> int:
        return sum(len(m) for m in self.maps.values())

    def lookup(self, name: str) -> TableMatch | None:
        """The best table match for an employer name, or None."""
        return self.lookup_keys(name_keys(name))

    def lookup_keys(self, keys: NameKeys) -> TableMatch | None:
        if len(keys.core) < MIN_CORE:
            return None
        for key, mapping, kind in ((keys.full, self.full, "full"), (keys.stem, self.stem, "stem")):
            entry = mapping.get(key)
            if entry is not None:
                return _match(entry, f"table:{entry.column}", CONFIDENCE[kind])
        entry = self.core.get(keys.core)
        if entry is not None:
            return _match(entry, "table:core", CONFIDENCE["core"])
        prefix = self._longest_prefix(keys)
        if prefix is not None:
            return prefix
        entry = self.core_prefix.get(keys.core)
        if entry is not None:
            confidence = CONFIDENCE["short_form"] if len(keys.core) > MIN_CORE else SHORT_FORM_TWO_CHARACTERS
            return _match(entry, "table:short_form", confidence)
        contraction = word_initials(keys.core)
        entry = self.core.get(contraction) if contraction else None
        if entry is not None:
            return _match(entry, "table:contraction", CONTRACTION)
        return None

    def _longest_prefix(self, keys: NameKeys) -> TableMatch | None:
        """Longest table stem or core that is a proper prefix of the query's stem or core."""
        stem, core = keys.stem, keys.core
        region_length = len(stem) - len(core)
        # A stem prefix counts only when it reaches >= MIN_CORE characters past the query's region prefix,
        # so that a bare 上海 never matches everything from Shanghai.
        for length in range(len(core) - 1, MIN_CORE - 1, -1):
            entry = self.stem.get(stem[: region_length + length]) if region_length else None
            entry = entry or self.core.get(core[:length])
            if entry is not None:
                confidence = PREFIX_CONFIDENCE.get(length, PREFIX_LONG)
                return _match(entry, "table:prefix", confidence)
        return None

    def save(self, directory: str | Path) -> Path:
        """Write ``index.json`` (keys sorted, so the same table always gives the same bytes)."""
        path = Path(directory) / INDEX_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": INDEX_FORMAT,
            "maps": {m: [[k, *self.maps[m][k].to_json()] for k in sorted(self.maps[m])] for m in _MAPS},
        }
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "CompanyIndex":
        data = json.loads((Path(directory) / INDEX_FILE).read_text(encoding="utf-8"))
        if data.get("format") != INDEX_FORMAT:
            raise ValueError(f"unsupported company index format {data.get('format')!r}, expected {INDEX_FORMAT}")
        interner = _EntryInterner()
        maps: dict[str, dict[str, KeyEntry]] = {}
        for map_name in _MAPS:
            rows = data["maps"].pop(map_name)  # dropped map by map, so the parsed rows do not all stay alive
            maps[map_name] = {
                interner.key(key): interner.entry(tuple((s, n) for s, n in sections), code, column, name)
                for key, sections, code, column, name in rows
            }
            del rows
        return cls(maps)


def _match(entry: KeyEntry, rule: str, confidence: float) -> TableMatch:
    ambiguous = len(entry.sections) > 1
    if ambiguous:
        confidence = min(AMBIGUOUS_CAP, confidence * entry.share)
    return TableMatch(entry.sections[0][0], entry.code, rule, round(confidence, 4), entry.name, ambiguous)
