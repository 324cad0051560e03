"""Where a document's first person ends: two bios or résumés pasted into one document (a board's
announcement, a scraped page) must not lend the second person's employer to the first.

A second record starts at the earlier of
- a person span (NAME) that names someone else and introduces them: not the first person's surname
  (吴赞 / 吴赞平, a bare 张 then 张某), not in brackets (an alias: JerryMa(马磊)), and followed by the
  policy's ``records.start_after_name`` pattern (，女 / 男，51岁 / 先生： / 性别：男), which a person
  mentioned in passing (梁桂秋先生一起创立) is not;
- a record opener (``records.openers``: a résumé form's 姓名：) after the first person's first mention.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from extractor.rules.industry.employer import PolicyError

ALIAS_OPENERS = "(（"


@dataclass(frozen=True)
class RecordRule:
    start_after_name: re.Pattern
    openers: tuple[str, ...]

    @classmethod
    def from_dict(cls, raw: Any, source: str) -> Optional["RecordRule"]:
        """The policy's ``records`` mapping; None when the policy has none (one person per document)."""
        if raw is None:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("start_after_name"), str):
            raise PolicyError(f"{source}: key 'records': expected a mapping with start_after_name (a regular "
                              f"expression) and openers (a list of strings), got {raw!r}")
        openers = raw.get("openers") or []
        if not isinstance(openers, list) or not all(isinstance(o, str) and o for o in openers):
            raise PolicyError(f"{source}: key 'records.openers': expected a list of strings, got {openers!r}")
        try:
            pattern = re.compile(raw["start_after_name"])
        except re.error as error:
            raise PolicyError(f"{source}: key 'records.start_after_name': not a regular expression ({error})") from None
        return cls(pattern, tuple(openers))


def first_record_end(text: str, persons: Sequence[tuple[int, int]], rule: Optional[RecordRule]) -> Optional[int]:
    """The offset where a second person's record starts, or None when the document is about one person."""
    if rule is None:
        return None
    ordered = sorted(persons)
    anchor = ordered[0][0] if ordered else 0
    ends = [at for opener in rule.openers if (at := text.find(opener, anchor + 1)) > 0]
    first = text[ordered[0][0]:ordered[0][1]] if ordered else ""
    for start, end in ordered[1:]:
        name = text[start:end]
        if not name or not first or name[0] == first[0] or name in first or first in name:
            continue
        if start > 0 and text[start - 1] in ALIAS_OPENERS:
            continue
        if rule.start_after_name.match(text, end):
            ends.append(start)
            break
    return min(ends) if ends else None
