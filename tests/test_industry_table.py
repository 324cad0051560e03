"""CompanyTable loading (CSV, Parquet, SQL) and CompanyIndex rules, precedence, ambiguity, save/load."""

import json

import pandas as pd
import pytest

from extractor.rules.industry.index import CompanyIndex
from extractor.rules.industry.table import ColumnMapping, CompanyTable, check_single_select

MAPPING = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "csrc_division")
ROWS = [
    # full_name, short_name, csrc_division
    ("上海百润香精香料股份有限公司", "百润股份", "C14"),
    ("", "浦发银行", "J66"),
    ("招商银行股份有限公司", "招商银行", "J"),
    ("雅戈尔集团股份有限公司", "雅戈尔", "C18"),
    ("", "东方电气", "C38"),
    ("", "东方航空", "G56"),
    ("", "东方财富", "I64"),
    ("", "东方金钰", "F51"),
    ("", "坏代码公司", "Z9"),
    ("", "没有代码", ""),
]


def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["full_name", "short_name", "csrc_division"])


@pytest.fixture()
def table() -> CompanyTable:
    return CompanyTable.from_frame(frame(), MAPPING)


@pytest.fixture()
def index(table) -> CompanyIndex:
    return CompanyIndex.build(table)


def test_rows_with_unparseable_codes_are_counted_and_skipped(table):
    assert len(table) == 8
    assert table.report.rows_read == 10
    assert table.report.rows_bad_code == 2
    assert table.report.bad_code_examples == ("Z9", "")
    assert table.records[0].section == "C" and table.records[1].names[0].column == "short_name"


def test_csv_parquet_and_sql_sources_load_the_same_records(tmp_path, table):
    frame().to_csv(tmp_path / "c.csv", index=False)
    frame().to_parquet(tmp_path / "c.parquet")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    frame().to_sql("companies", url, index=False)
    loaded = [
        CompanyTable.load(tmp_path / "c.csv", MAPPING),
        CompanyTable.load(tmp_path / "c.parquet", MAPPING),
        CompanyTable.load(url, MAPPING, table="companies"),
        CompanyTable.load(url, MAPPING, query="SELECT * FROM companies WHERE csrc_division LIKE 'C%';"),
    ]
    for other in loaded[:3]:
        assert other.records == table.records
    assert [r.section for r in loaded[3].records] == ["C", "C", "C"]


@pytest.mark.parametrize("query", ["DELETE FROM companies", "SELECT 1; DROP TABLE companies", "WITH x AS (DELETE)"])
def test_a_query_must_be_a_single_select(query):
    with pytest.raises(ValueError, match="single SELECT"):
        check_single_select(query)


def test_missing_columns_are_reported_by_name():
    with pytest.raises(ValueError, match="csrc_division"):
        CompanyTable.from_frame(frame().drop(columns="csrc_division"), MAPPING)


@pytest.mark.parametrize(
    "query, section, rule",
    [
        ("上海百润香精香料股份有限公司", "C", "table:full_name"),
        ("招商银行北京分行", "J", "table:short_name"),  # branch removed, then the short name's full key
        ("雅戈尔集团", "C", "table:full_name"),  # stem 雅戈尔, shared with 雅戈尔集团股份有限公司
        ("上海浦发银行", "J", "table:core"),
        ("百润香精有限公司", "C", "table:prefix"),  # 百润 (short name core) starts the query
        ("上海雅戈尔服装销售有限公司", "C", "table:prefix"),
        ("百润香精", "C", "table:prefix"),
    ],
)
def test_lookup_rules(index, query, section, rule):
    match = index.lookup(query)
    assert (match.section, match.rule) == (section, rule)
    assert not match.ambiguous


def test_exact_beats_core_beats_prefix_in_confidence(index):
    exact = index.lookup("招商银行股份有限公司")
    core = index.lookup("上海浦发银行")
    prefix = index.lookup("百润香精有限公司")
    assert exact.confidence > core.confidence > prefix.confidence
    assert exact.confidence >= 0.97


def test_short_form_of_a_full_name(table):
    only_full = CompanyTable.from_frame(frame().assign(short_name=""), MAPPING)
    match = CompanyIndex.build(only_full).lookup("百润香精")
    assert (match.section, match.rule, match.matched_name) == ("C", "table:short_form", "上海百润香精香料股份有限公司")


def test_ambiguous_keys_are_not_confident(index):
    # 东方 starts four companies of four sections: a short-form hit, but not a confident one.
    match = index.lookup("东方")
    assert match.ambiguous and match.confidence <= 0.5
    assert index.lookup("东方航空").section == "G" and not index.lookup("东方航空").ambiguous


def test_misses_return_none(index):
    assert index.lookup("完全不相干的名字") is None
    assert index.lookup("") is None
    assert index.lookup("上海") is None


def test_save_load_round_trip_gives_identical_answers(tmp_path, index):
    index.save(tmp_path)
    loaded = CompanyIndex.load(tmp_path)
    queries = [r[0] or r[1] for r in ROWS] + ["招商银行北京分行", "东方", "百润香精", "没有的公司"]
    assert [loaded.lookup(q) for q in queries] == [index.lookup(q) for q in queries]
    assert not list(tmp_path.glob("*.pkl"))
    json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))  # plain JSON


def test_same_table_in_another_row_order_saves_the_same_bytes(tmp_path, index):
    shuffled = CompanyTable.from_frame(frame().iloc[::-1], MAPPING)
    index.save(tmp_path / "a")
    CompanyIndex.build(shuffled).save(tmp_path / "b")
    # Representatives may differ (first seen), but sections and keys may not.
    a = json.loads((tmp_path / "a" / "index.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "index.json").read_text(encoding="utf-8"))
    keys = lambda d: {m: [(row[0], row[1]) for row in rows] for m, rows in d["maps"].items()}  # noqa: E731
    assert keys(a) == keys(b)
