"""Company-name normalisation: comparable keys for full names, short names and aliases.

``name_keys(name)`` gives three keys:

- ``full``: the name normalised (NFKC, simplified characters, no parenthesised text, no punctuation or
  spaces, no branch suffix such as 北京分行) but still with its region prefix and legal form;
- ``stem``: ``full`` without the legal form (股份有限公司, 集团, 控股 ...), region kept;
- ``core``: ``stem`` without the leading region (中国, 上海市, 广东省深圳市 ...), the distinctive part.

A listed company's short name and its full name usually share the core's beginning: 百润股份 -> 百润,
上海百润香精香料股份有限公司 -> 百润香精香料. When they do not, the short name is often the contraction
``word_initials`` gives: 首都开发 -> 首开 (首开股份), 宝山钢铁 -> 宝钢 (宝钢股份).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from extractor.rules.industry.hanzi import to_simplified

NATIONAL_PREFIXES: tuple[str, ...] = ("中华人民共和国", "中国", "中华")

# The 34 province-level divisions, short forms; the suffixes below give their full forms.
PROVINCES: tuple[str, ...] = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)

# Major prefecture-level cities (and a few county-level cities common in company names).
CITIES: tuple[str, ...] = (
    "深圳", "广州", "杭州", "南京", "苏州", "武汉", "成都", "西安", "厦门", "青岛", "大连", "宁波",
    "沈阳", "长沙", "郑州", "济南", "哈尔滨", "长春", "石家庄", "太原", "合肥", "福州", "南昌", "南宁",
    "昆明", "贵阳", "兰州", "西宁", "银川", "乌鲁木齐", "呼和浩特", "拉萨", "海口", "三亚", "无锡",
    "常州", "佛山", "东莞", "珠海", "汕头", "温州", "绍兴", "嘉兴", "湖州", "金华", "台州", "舟山",
    "烟台", "潍坊", "淄博", "唐山", "保定", "洛阳", "徐州", "南通", "扬州", "镇江", "泉州", "漳州",
    "中山", "惠州", "江门", "湛江", "肇庆", "襄阳", "宜昌", "株洲", "湘潭", "岳阳", "衡阳", "郴州",
    "芜湖", "马鞍山", "蚌埠", "九江", "赣州", "柳州", "桂林", "绵阳", "遵义", "大庆", "鞍山", "抚顺",
    "本溪", "丹东", "锦州", "营口", "包头", "鄂尔多斯", "秦皇岛", "邯郸", "廊坊", "沧州", "威海",
    "日照", "临沂", "济宁", "泰安", "德州", "聊城", "滨州", "东营", "盐城", "淮安", "连云港", "宿迁",
    "泰州", "铜陵", "安庆", "宜宾", "泸州", "德阳", "攀枝花", "江阴", "昆山", "张家港", "常熟", "义乌",
    "慈溪", "余姚", "晋江", "石狮", "宝鸡", "咸阳", "伊春", "齐齐哈尔", "牡丹江", "吉林", "通化",
)

# Longest first so that the regex alternation prefers 新疆维吾尔自治区 over 新疆.
REGION_SUFFIXES: tuple[str, ...] = (
    "维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市",
)

# Stripped from the end repeatedly (马钢控股有限公司 -> 马钢控股 -> 马钢); longest first.
LEGAL_FORMS: tuple[str, ...] = (
    "集团股份有限公司", "集团有限责任公司", "股份有限公司", "有限责任公司", "集团有限公司", "集团总公司",
    "控股集团", "集团公司", "有限公司", "股份公司", "总公司", "集团", "公司", "股份", "控股",
)

# A branch is not the employer's industry-bearing name: 招商银行北京分行 is 招商银行.
BRANCH_SUFFIXES: tuple[str, ...] = ("分公司", "分行", "支行", "营业部", "办事处", "分所", "分厂", "分店")

# After a branch suffix is removed, the parent name ends at the first of these (中国工商银行北京市海淀 ->
# 中国工商银行): legal forms first, then words that end organisation names.
_PARENT_ENDINGS: tuple[str, ...] = ("股份有限公司", "有限责任公司", "有限公司", "公司")
_PARENT_WORDS: tuple[str, ...] = ("银行", "证券", "保险", "事务所", "集团")

# A region followed by one of these is part of the name, not a location prefix: 浙江大学 and 北京银行 must
# not shrink to 大学 and 银行, which every university and city bank share.
REGION_BOUND_WORDS: tuple[str, ...] = (
    "大学", "学院", "银行", "农商银行", "农村商业银行", "证券", "信托", "医院", "研究院", "研究所",
    "中学", "小学", "日报", "电视台", "广播电视", "出版社", "人民",
)

_MIN_KEY_LENGTH = 2  # a single character is never distinctive enough to be a key


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_REGION_PREFIX = re.compile(
    f"^(?:{_alternation(NATIONAL_PREFIXES)}|(?:{_alternation(PROVINCES + CITIES)})(?:{_alternation(REGION_SUFFIXES)})?)"
)
_REGION_SUFFIX = re.compile(f"(?:{_alternation(PROVINCES + CITIES)})(?:{_alternation(REGION_SUFFIXES)})?$")
_LEGAL_FORM = re.compile(f"(?:{_alternation(LEGAL_FORMS)})$")
_PARENTHESISED = re.compile(r"\([^()]*\)")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class NameKeys:
    """Comparable keys of one company name; empty strings when nothing is left."""

    full: str
    stem: str
    core: str


def _strip_parentheses(text: str) -> str:
    # Innermost first, repeatedly, so nested parentheses go too; an unclosed "(" drops what follows it.
    previous = None
    while previous != text:
        previous, text = text, _PARENTHESISED.sub("", text)
    if "(" in text and text.index("(") >= _MIN_KEY_LENGTH:
        text = text[: text.index("(")]
    return text.replace("(", "").replace(")", "")


def _strip_branch(text: str) -> str:
    if not text.endswith(BRANCH_SUFFIXES):  # the common case, in one call
        return text
    for suffix in BRANCH_SUFFIXES:
        if text.endswith(suffix) and len(text) - len(suffix) >= _MIN_KEY_LENGTH:
            parent = text[: -len(suffix)]
            return _strip_trailing_region(_cut_at_parent_ending(parent))
    return text


def _cut_at_parent_ending(text: str) -> str:
    for group in (_PARENT_ENDINGS, _PARENT_WORDS):
        ends = [text.find(w) + len(w) for w in group if text.find(w) >= 0]
        ends = [end for end in ends if end >= _MIN_KEY_LENGTH]
        if ends:
            return text[: min(ends)]
    return text


def _strip_trailing_region(text: str) -> str:
    match = _REGION_SUFFIX.search(text)
    if match and match.start() >= _MIN_KEY_LENGTH:
        return text[: match.start()]
    return text


def normalise(name: str) -> str:
    """The ``full`` key: NFKC, simplified, no parenthesised text, punctuation, spaces or branch suffix."""
    text = unicodedata.normalize("NFKC", name)
    text = to_simplified(text)
    text = _strip_parentheses(text)
    text = _NOT_WORD.sub("", text).lower()
    return _strip_branch(text)


def strip_legal_form(text: str) -> str:
    """Remove legal forms from the end, repeatedly, while at least two characters remain."""
    while True:
        match = _LEGAL_FORM.search(text)
        if not match or match.start() < _MIN_KEY_LENGTH:
            return text
        text = text[: match.start()]


def strip_region_prefix(text: str) -> str:
    """Remove leading national/province/city prefixes, repeatedly, while at least two characters remain."""
    while True:
        match = _REGION_PREFIX.match(text)
        if not match or len(text) - match.end() < _MIN_KEY_LENGTH or text.startswith(REGION_BOUND_WORDS, match.end()):
            return text
        text = text[match.end():]


def word_initials(core: str) -> str:
    """The contraction of a core of two two-character words (首都开发 -> 首开), or "" for any other core.

    Chinese short names contract a four-character name to its words' first characters. Only the
    two-word, two-character form is taken: longer words and more words contract too many ways, and a core
    ending in an institution word (海事大学, 经济研究所) is a whole name, not a company to contract. Words
    come from jieba's dictionary without HMM (deterministic), loaded on the first call.
    """
    if len(core) != 4 or core.endswith(REGION_BOUND_WORDS):
        return ""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    words = list(jieba.cut(core, HMM=False))
    return "".join(w[0] for w in words) if [len(w) for w in words] == [2, 2] else ""


def name_keys(name: str) -> NameKeys:
    """Normalised keys of a company name (see the module docstring)."""
    full = normalise(name)
    stem = strip_legal_form(full)
    # Region after legal form: 上海电气集团 -> 上海电气 -> 电气, and a name that is only region + legal
    # form (上海有限公司) keeps its region as its core.
    core = strip_region_prefix(stem)
    return NameKeys(full=full, stem=stem, core=core)
