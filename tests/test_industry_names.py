"""Company-name normalisation and GB/T 4754 section parsing."""

import pytest

from extractor.rules.industry.names import name_keys, normalise, word_initials
from extractor.rules.industry.sections import SECTIONS, section_name, section_of


def test_sections_are_the_twenty_letters_a_to_t():
    assert SECTIONS == tuple("ABCDEFGHIJKLMNOPQRST")
    assert section_name("C") == "制造业"


@pytest.mark.parametrize(
    "code, letter",
    [("C", "C"), ("j", "J"), (" C36 ", "C"), ("C3612", "C"), ("制造业", "C"), ("农林牧渔业", "A"), ("教育", "P")],
)
def test_section_of_parses_letters_codes_and_names(code, letter):
    assert section_of(code) == letter


@pytest.mark.parametrize("bad", ["", "Z", "U1", "C36X", "工业", None, float("nan")])
def test_section_of_rejects_anything_else_with_value_error(bad):
    with pytest.raises(ValueError, match="section"):
        section_of(bad)


@pytest.mark.parametrize(
    "name, core",
    [
        ("平安银行股份有限公司", "平安银行"),
        ("某某电子有限责任公司", "某某电子"),
        ("某某电子有限公司", "某某电子"),
        ("恒康医疗集团股份有限公司", "恒康医疗"),
        ("云维集团有限公司", "云维"),
        ("武商集团", "武商"),
        ("福成酿酒公司", "福成酿酒"),
        ("百润股份", "百润"),
        ("马钢控股", "马钢"),
    ],
)
def test_legal_forms_are_removed_from_the_core(name, core):
    assert name_keys(name).core == core


@pytest.mark.parametrize(
    "name, core",
    [
        ("上海百润香精香料股份有限公司", "百润香精香料"),
        ("上海市百润香精香料", "百润香精香料"),
        ("广东省深圳市聚飞光电股份有限公司", "聚飞光电"),
        ("中国船舶重工集团公司", "船舶重工"),
        ("中华某某电子", "某某电子"),
        ("新疆维吾尔自治区天山水泥", "天山水泥"),
        ("内蒙古自治区伊泰煤炭", "伊泰煤炭"),
        ("郴州市金贵银业股份有限公司", "金贵银业"),
    ],
)
def test_region_prefixes_are_removed_from_the_core_but_kept_in_full_and_stem(name, core):
    keys = name_keys(name)
    assert keys.core == core
    assert keys.stem.endswith(core) and keys.stem != core


def test_a_name_that_is_only_a_region_keeps_it_as_its_core():
    # Stripping 上海 from 上海有限公司 would leave nothing distinctive.
    assert name_keys("上海有限公司").core == "上海"


@pytest.mark.parametrize(
    "name, full",
    [
        ("安徽安科生物工程(集团)股份有限公司", "安徽安科生物工程股份有限公司"),
        ("北京首都开发控股（集团）有限公司", "北京首都开发控股有限公司"),
        ("某某科技（（深圳）研发）有限公司", "某某科技有限公司"),
        ("某某科技有限公司(筹", "某某科技有限公司"),
    ],
)
def test_parenthesised_text_is_removed_in_both_widths(name, full):
    assert normalise(name) == full


def test_full_width_letters_digits_and_spaces_become_half_width_and_vanish():
    assert normalise("ＴＣＬ　科技 集团·股份有限公司") == "tcl科技集团股份有限公司"
    assert name_keys("３６０安全科技").core == "360安全科技"


def test_traditional_characters_are_simplified():
    assert name_keys("中國平安保險（集團）股份有限公司").core == "平安保险"
    assert name_keys("廣州發展實業").full == "广州发展实业"


@pytest.mark.parametrize(
    "name, full",
    [
        ("招商银行北京分行", "招商银行"),
        ("盛京银行北京分行", "盛京银行"),
        ("中国工商银行北京市海淀支行", "中国工商银行"),
        ("中国平安保险股份有限公司深圳分公司", "中国平安保险股份有限公司"),
        ("金杜律师事务所四川分所", "金杜律师事务所"),
        ("国信证券深圳红岭中路证券营业部", "国信证券"),
        ("某某贸易公司驻京办事处", "某某贸易公司"),
    ],
)
def test_branch_suffixes_and_their_place_names_are_removed(name, full):
    assert normalise(name) == full


def test_short_name_core_is_a_prefix_of_the_full_name_core():
    short, full = name_keys("百润股份"), name_keys("上海百润香精香料股份有限公司")
    assert full.core.startswith(short.core)
    assert name_keys("雅戈尔").core == name_keys("雅戈尔集团股份有限公司").core == "雅戈尔"


@pytest.mark.parametrize("name", ["浙江大学", "北京银行股份有限公司", "湖北人民出版社有限公司"])
def test_a_region_that_is_part_of_the_name_is_kept(name):
    keys = name_keys(name)
    assert keys.core == keys.stem


@pytest.mark.parametrize(
    "core, contraction",
    [
        ("首都开发", "首开"),
        ("宝山钢铁", "宝钢"),
        ("厦门工程", "厦工"),
        ("首都机场", ""),  # one word in jieba's dictionary
        ("海事大学", ""),  # an institution word: the name is whole
        ("石油化工", ""),  # one four-character word
        ("高科技投资", ""),  # not four characters
        ("云维", ""),
    ],
)
def test_word_initials_contract_two_two_character_words_only(core, contraction):
    assert word_initials(core) == contraction
