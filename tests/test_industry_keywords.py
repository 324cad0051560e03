"""Keyword rules from GB/T 4754-2017 on invented names; the YAML's structure and errors."""

from pathlib import Path

import pytest
import yaml

from extractor.rules.industry.keywords import (
    DEFAULT_KEYWORDS_PATH,
    SECTIONS,
    KeywordTable,
    KeywordTableError,
    load_keywords,
    match_keywords,
)


@pytest.mark.parametrize(
    "name, section, division, keyword",
    [
        ("某某钢铁股份有限公司", "C", "31", "钢铁"),
        ("某某水泥股份有限公司", "C", "30", "水泥"),
        ("某省煤炭进出口集团有限公司", "F", "51", "进出口"),  # trade beats the product it trades
        ("某某矿业煤炭有限公司", "B", "06", "煤炭"),
        ("北京市某某律师事务所", "L", "72", "律师事务所"),
        ("某某会计师事务所", "L", "72", "会计师事务所"),
        ("某某大学经济管理学院", "P", "83", "学院"),
        ("某某科技大学农业研究中心", "P", "83", "大学"),  # a university's centre is still a university
        ("某某港口集团有限公司", "G", "55", "港口"),
        ("某某农村商业银行股份有限公司", "J", "66", "农村商业银行"),
        ("某某证券有限责任公司", "J", "67", "证券"),
        ("某某药业股份有限公司", "C", "27", "药业"),
        ("某某电缆研究所", "M", "73", "研究所"),
        ("某某高速公路发展股份有限公司", "G", "54", "高速公路"),
        ("某某置业有限公司", "K", "70", "置业"),
        ("某某市人民政府", "S", "92", "人民政府"),
    ],
)
def test_name_to_section_and_division(name, section, division, keyword):
    match = match_keywords(name)
    assert match is not None
    assert (match.section, match.division, match.keyword) == (section, division, keyword)
    assert match.rule == f"keyword:{keyword}"
    assert 0 < match.confidence <= 1


def test_unknown_name_gives_none():
    assert match_keywords("某某实业有限公司") is None
    assert match_keywords("") is None


def test_confidence_comes_from_data():
    table = load_keywords()
    assert match_keywords("某某银行", table).confidence > match_keywords("某某投资有限公司", table).confidence


def test_excluded_phrase_does_not_match():
    assert match_keywords("邮电部某某电缆厂").section == "C"


def test_standard_structure_is_complete():
    table = load_keywords()
    assert len(table.divisions) == 97
    assert [d.code for d in table.divisions] == [f"{n:02d}" for n in range(1, 98)]
    assert {d.section for d in table.divisions} == set(SECTIONS)
    manufacturing = [d for d in table.divisions if d.section == "C"]
    assert (len(manufacturing), manufacturing[0].code, manufacturing[-1].code) == (31, "13", "43")


def raw_table() -> dict:
    return yaml.safe_load(DEFAULT_KEYWORDS_PATH.read_text(encoding="utf-8"))


def test_precedence_is_data():
    raw = raw_table()
    raw["activity_keywords"].remove("进出口")
    table = KeywordTable.from_dict(raw)
    # without the activity tier, the rightmost product word decides
    assert table.match("某省进出口煤炭公司").keyword == "煤炭"
    assert load_keywords().match("某省进出口煤炭公司").keyword == "进出口"


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda raw: raw["divisions"][2].update(section="Z"), "divisions[2].section"),
        (lambda raw: raw["divisions"][0].update(code=1), "divisions[0].code"),
        (lambda raw: raw["divisions"][5]["keywords"].append("钢铁"), "divisions[30].keywords"),  # the repeat is named
        (lambda raw: raw["activity_keywords"].append("不存在的词"), "activity_keywords"),
        (lambda raw: raw.update(default_confidence="high"), "default_confidence"),
    ],
)
def test_malformed_yaml_names_file_and_key(tmp_path: Path, change, key):
    raw = raw_table()
    change(raw)
    path = tmp_path / "bad_keywords.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KeywordTableError) as error:
        load_keywords(path)
    assert str(path) in str(error.value)
    assert key in str(error.value)


def test_long_name_is_fast():
    name = "某某" * 500 + "钢铁集团有限公司"
    assert match_keywords(name).section == "C"
