"""CompanyIndex answers as behaviour: exact expected matches on a fixed table, and identical answers after
save/load and after reordering rows on a generated table (the compact, shared-entry index must not change
what ``lookup`` says)."""

import random

import pandas as pd
import pytest

from extractor.rules.industry.index import CompanyIndex, TableMatch
from extractor.rules.industry.table import ColumnMapping, CompanyTable

MAPPING = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "code")
FIXED_ROWS = [
    ("上海华金制药股份有限公司", "华金制药", "C27"),
    ("北京华金银行股份有限公司", "华金银行", "J66"),
    ("深圳华金置业有限公司", "华金置业", "K70"),
    ("华金制药集团有限公司", "", "C27"),
    ("江苏宏远钢铁有限公司", "宏远钢铁", "C31"),
    ("", "首开股份", "K70"),  # listed under its contraction only: 首都开发 -> 首开
]


def table_of(rows) -> CompanyTable:
    return CompanyTable.from_frame(pd.DataFrame(rows, columns=["full_name", "short_name", "code"]), MAPPING)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("上海华金制药股份有限公司", TableMatch("C", "C27", "table:full_name", 0.99, "上海华金制药股份有限公司")),
        ("上海华金制药", TableMatch("C", "C27", "table:full_name", 0.97, "上海华金制药股份有限公司")),
        # 华金制药 is the short name of one company and the stem of another, both C: not ambiguous.
        ("华金制药", TableMatch("C", "C27", "table:short_name", 0.99, "华金制药")),
        ("广州华金制药有限公司", TableMatch("C", "C27", "table:core", 0.9, "上海华金制药股份有限公司")),
        ("宏远钢铁北京分公司", TableMatch("C", "C31", "table:short_name", 0.99, "宏远钢铁")),
        # The longest table core starting the query; the first name seen with that core represents it.
        ("宏远钢铁贸易有限公司", TableMatch("C", "C31", "table:prefix", 0.8, "江苏宏远钢铁有限公司")),
        ("华金制", TableMatch("C", "C27", "table:short_form", 0.7, "上海华金制药股份有限公司")),
        ("华金银", TableMatch("J", "J66", "table:short_form", 0.7, "北京华金银行股份有限公司")),
        # 华金 starts the cores of four companies, two of them C: the majority, scaled by its share (0.5 * 0.5).
        ("华金", TableMatch("C", "C27", "table:short_form", 0.25, "上海华金制药股份有限公司", True)),
        ("华金物流有限公司", None),  # no table core is 华金: a shared beginning alone is not a prefix match
        # No key matches, but the core's contraction (首都/开发 -> 首开) is a table core: weak evidence.
        ("北京首都开发控股（集团）有限公司", TableMatch("K", "K70", "table:contraction", 0.55, "首开股份")),
        ("宝山钢铁有限公司", None),  # contracts to 宝钢, no table core
        ("北京海事大学", None),  # an institution word ends the core: never contracted (海大)
    ],
)
def test_fixed_table_answers(query, expected):
    assert CompanyIndex.build(table_of(FIXED_ROWS)).lookup(query) == expected


def generated_rows(count: int, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    words = {"制药": "C27", "银行": "J66", "置业": "K70", "物流": "G58", "软件": "I65"}
    rows = []
    for _ in range(count):
        core = "".join(rng.choice("华金宏远达信新元天成") for _ in range(rng.randint(2, 3)))
        word = rng.choice(list(words))
        region = rng.choice(["上海", "北京市", "广东省深圳市", ""])
        form = rng.choice(["股份有限公司", "有限公司", "集团", ""])
        rows.append((f"{region}{core}{word}{form}", rng.choice(["", core + word[0], core]), words[word]))
    return rows


def generated_queries(rows, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = [n for row in rows for n in row[:2] if n]
    queries = names + [n + "北京分公司" for n in names[:50]] + [n[:k] for n in names[:100] for k in (2, 3, 4)]
    return queries + ["".join(rng.choice("华金宏远甲乙银行") for _ in range(4)) for _ in range(200)] + ["", "上海"]


def test_save_load_round_trip_gives_identical_answers_on_a_generated_table(tmp_path):
    rows = generated_rows(400, seed=1)
    index = CompanyIndex.build(table_of(rows))
    index.save(tmp_path)
    loaded = CompanyIndex.load(tmp_path)
    queries = generated_queries(rows, seed=2)
    answers = [index.lookup(q) for q in queries]
    assert sum(a is not None for a in answers) > len(queries) // 2
    assert any(a is not None and a.ambiguous for a in answers)
    assert [loaded.lookup(q) for q in queries] == answers
    assert len(loaded) == len(index) and loaded.maps == index.maps
    loaded.save(tmp_path / "again")
    assert (tmp_path / "again" / "index.json").read_bytes() == (tmp_path / "index.json").read_bytes()


def test_row_order_changes_representatives_only(tmp_path):
    rows = generated_rows(300, seed=3)
    queries = generated_queries(rows, seed=4)
    forward = CompanyIndex.build(table_of(rows))
    backward = CompanyIndex.build(table_of(rows[::-1]))
    strip = lambda m: None if m is None else (m.section, m.rule, m.confidence, m.ambiguous)  # noqa: E731
    assert [strip(forward.lookup(q)) for q in queries] == [strip(backward.lookup(q)) for q in queries]


def test_keys_with_the_same_answer_share_one_entry():
    index = CompanyIndex.build(table_of(generated_rows(300, seed=5)))
    entries = [e for m in index.maps.values() for e in m.values()]
    assert len({id(e) for e in entries}) == len(set(entries)) < len(entries)
    assert len({id(e.sections) for e in entries}) == len({e.sections for e in entries})


def test_empty_index_finds_nothing():
    assert CompanyIndex.empty().lookup("上海华金制药股份有限公司") is None and len(CompanyIndex.empty()) == 0


def test_a_region_and_an_industry_word_match_only_with_their_region():
    # 投资 ends three other cores: it says what a company does, not which one. 湖南投资 is known by its region.
    rows = [("湖南投资集团股份有限公司", "湖南投资", "G54"), ("甲乙投资有限公司", "", "L72"),
            ("丙丁投资有限公司", "", "L72"), ("戊己投资有限公司", "", "J67"), ("上海百润香精香料股份有限公司", "百润股份", "C14")]
    index = CompanyIndex.build(table_of(rows))
    assert index.lookup("宜宾市投资有限责任公司") is None  # before: table:core 湖南投资 (toll roads)
    assert index.lookup("湖南投资集团有限公司").matched_name == "湖南投资集团股份有限公司"  # its stem
    assert index.lookup("湖南投资").rule == "table:short_name"
    # A distinctive core still matches under another region: 百润 is one company wherever it is registered.
    assert index.lookup("北京百润香精香料有限公司").rule == "table:core"


def test_industry_words_are_the_cores_that_end_other_cores():
    from extractor.rules.industry.index import industry_words

    assert industry_words(["投资", "甲乙投资", "丙丁投资", "戊己投资", "百润", "百润香精"]) == {"投资"}
    assert industry_words(["投资", "甲乙投资", "丙丁投资"]) == frozenset()  # two are not enough
