"""The 20 sections (门类) of GB/T 4754-2017, and parsing of section letters, codes and names."""

from __future__ import annotations

import re

# Letter -> official Chinese name of the section (GB/T 4754-2017, 国民经济行业分类).
SECTION_NAMES: dict[str, str] = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}

SECTIONS: tuple[str, ...] = tuple(SECTION_NAMES)

# A section letter, optionally followed by a division/group/class number (C, C36, C3612).
_CODE = re.compile(r"^([A-Ta-t])(\d{1,4})?$")
# Names are compared without punctuation and spaces so that 农林牧渔业 matches 农、林、牧、渔业.
_PUNCTUATION = re.compile(r"[\W_]+")


def _name_key(name: str) -> str:
    return _PUNCTUATION.sub("", name)


_LETTER_BY_NAME: dict[str, str] = {_name_key(name): letter for letter, name in SECTION_NAMES.items()}


def section_name(letter: str) -> str:
    """The Chinese name of a section letter; ValueError for anything else."""
    try:
        return SECTION_NAMES[letter]
    except KeyError:
        raise ValueError(f"not a GB/T 4754-2017 section letter: {letter!r}") from None


def section_of(code: object) -> str:
    """Section letter of a letter (``c``), a CSRC/GB code (``C36``, ``C3612``) or a section name (``制造业``).

    Raises ValueError with the offending value for anything else (empty, NaN, ``Z9``, ``X``, unknown name).
    """
    if not isinstance(code, str):
        raise ValueError(f"not a section code or name: {code!r}")
    text = code.strip()
    match = _CODE.match(text)
    if match:
        return match.group(1).upper()
    letter = _LETTER_BY_NAME.get(_name_key(text))
    if letter is None:
        raise ValueError(f"not a GB/T 4754-2017 section letter, code or name: {code!r}")
    return letter
