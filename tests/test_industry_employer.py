"""Employer choice on hand-made bios (invented names), and the policy as data."""

from pathlib import Path

import pytest
import yaml

from extractor.rules.industry.employer import (
    DEFAULT_POLICY_PATH,
    EmployerPolicy,
    PolicyError,
    choose_employer,
    load_policy,
)


def spans_of(text: str, *names: str) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of each invented name, as an NER model would give."""
    spans = []
    for name in names:
        start = text.find(name)
        assert start >= 0, name
        while start >= 0:
            spans.append((start, start + len(name)))
            start = text.find(name, start + 1)
    return spans


def chosen(text: str, *names: str, policy: EmployerPolicy | None = None):
    return choose_employer(text, spans_of(text, *names), policy)


def test_current_employer_beats_past_one():
    text = "张三，男，1970年出生。曾任甲乙机械有限公司总经理，现任丙丁电子股份有限公司副总经理。"
    choice = chosen(text, "甲乙机械有限公司", "丙丁电子股份有限公司")
    assert choice.text == "丙丁电子股份有限公司"
    assert choice.cue == "current:现任"
    assert (choice.start, choice.end) == (text.index("丙丁"), text.index("丙丁") + len("丙丁电子股份有限公司"))


def test_current_wins_even_when_named_first():
    text = "李四，现任戊己化工有限公司董事长。曾任庚辛贸易公司经理。"
    assert chosen(text, "戊己化工有限公司", "庚辛贸易公司").text == "戊己化工有限公司"


def test_latest_year_wins_without_current_cue():
    text = "王五，2001年至2005年任壬癸纺织有限公司经理；2006年至2012年任子丑物流有限公司副总经理。"
    choice = chosen(text, "壬癸纺织有限公司", "子丑物流有限公司")
    assert choice.text == "子丑物流有限公司"
    assert choice.cue == "latest_year:2012"


def test_ongoing_date_range_is_current():
    text = "赵六，2003年至2008年任寅卯药业有限公司总经理，2008年10月至今任辰巳钢铁股份有限公司董事、总经理。"
    choice = chosen(text, "寅卯药业有限公司", "辰巳钢铁股份有限公司")
    assert choice.text == "辰巳钢铁股份有限公司"
    assert choice.cue == "current:至今"


def test_school_studied_at_is_not_chosen():
    text = "孙七，1990年毕业于午未大学经济系，获硕士学位。现任申酉投资有限公司财务总监。"
    assert chosen(text, "午未大学经济系", "申酉投资有限公司").text == "申酉投资有限公司"


def test_school_with_only_study_cue_still_loses_to_undated_company():
    text = "周八，午未大学工商管理硕士。戌亥电器有限公司副总经理。"
    assert chosen(text, "午未大学", "戌亥电器有限公司").text == "戌亥电器有限公司"


def test_school_is_employer_when_person_teaches_there():
    text = "吴九，经济学博士，甲子大学经济学院教授、博士生导师，兼任乙丑实业股份有限公司独立董事。"
    choice = chosen(text, "甲子大学经济学院", "乙丑实业股份有限公司")
    assert choice.text == "甲子大学经济学院"
    assert choice.cue == "teaches:教授"


def test_full_time_post_beats_board_seat_elsewhere():
    text = "郑十，现任丙寅软件股份有限公司独立董事，丁卯水泥有限公司总经理。"
    assert chosen(text, "丙寅软件股份有限公司", "丁卯水泥有限公司").text == "丁卯水泥有限公司"


def test_concurrent_executive_post_beats_board_seat():
    text = "钱一，2007年至今担任戊辰药业股份有限公司董事，兼任己巳投资发展有限公司财务总监。"
    assert chosen(text, "戊辰药业股份有限公司", "己巳投资发展有限公司").text == "己巳投资发展有限公司"


def test_shareholder_is_skipped():
    text = "陈二，现任庚午控股有限公司股东，辛未电缆有限公司副总经理。"
    assert chosen(text, "庚午控股有限公司", "辛未电缆有限公司").text == "辛未电缆有限公司"


def test_bare_company_reference_loses_to_a_named_one():
    text = "刘三，现任本公司董事、壬申港口集团有限公司副总经理。"
    assert chosen(text, "本公司", "壬申港口集团有限公司").text == "壬申港口集团有限公司"


def test_no_org_gives_none():
    assert choose_employer("杨四，男，1960年出生，本科学历。", []) is None


def test_only_bare_reference_is_still_chosen():
    text = "黄五，现任本公司副总经理。"
    choice = choose_employer(text, [(text.index("本公司"), text.index("本公司") + 3)])
    assert choice is not None and choice.text == "本公司"


def test_span_with_score_is_accepted():
    text = "现任癸酉银行股份有限公司行长。"
    start = text.index("癸酉")
    choice = choose_employer(text, [(start, start + len("癸酉银行股份有限公司"), 0.93)])
    assert (choice.start, choice.end) == (start, start + len("癸酉银行股份有限公司"))


def raw_policy() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def test_custom_cue_from_yaml_changes_the_choice(tmp_path: Path):
    text = "某甲，就职于甲戌电子有限公司，在职于乙亥化纤有限公司。"
    names = ("甲戌电子有限公司", "乙亥化纤有限公司")
    assert chosen(text, *names).text == "甲戌电子有限公司"  # no cue: first named, by tie_break
    raw = raw_policy()
    raw["status_cues"]["current"]["words"].append("在职于")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    choice = chosen(text, *names, policy=load_policy(path))
    assert choice.text == "乙亥化纤有限公司"
    assert choice.cue == "current:在职于"


def test_tie_break_last_from_yaml():
    text = "某乙，丙子电子有限公司工程师；丁丑化纤有限公司工程师。"
    names = ("丙子电子有限公司", "丁丑化纤有限公司")
    raw = raw_policy()
    raw["tie_break"] = "last"
    choice = chosen(text, *names, policy=EmployerPolicy.from_dict(raw))
    assert choice.text == "丁丑化纤有限公司"
    assert choice.cue == "last_org"


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda raw: raw["penalties"].pop("studied"), "penalties.studied"),
        (lambda raw: raw["status_cues"]["past"].update(weight="heavy"), "status_cues.past.weight"),
        (lambda raw: raw.update(tie_break="middle"), "tie_break"),
        (lambda raw: raw["date_cues"][0].update(pattern="(unclosed"), "date_cues[0].pattern"),
        (lambda raw: raw["roles"]["staff"]["words"].append("董事"), "董事"),
        (lambda raw: raw["known_company"].pop("min_match"), "known_company.min_match"),
    ],
)
def test_malformed_policy_names_file_and_key(tmp_path: Path, change, key):
    raw = raw_policy()
    change(raw)
    path = tmp_path / "bad_policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(path) in str(error.value)
    assert key in str(error.value)


def test_invalid_yaml_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("status_cues: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="broken.yaml"):
        load_policy(path)


SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.mark.skipif(not (SHARED / "data" / "resume_ner" / "industry_dev.jsonl").exists(),
                    reason="labelled Resume NER dev data (shared, unlicensed) not present")
def test_dev_agreement_on_confident_rows():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "industry_employer.py"
    spec = importlib.util.spec_from_file_location("industry_employer_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    result = benchmark.employer_agreement(benchmark.load_dev(SHARED), load_policy(), named_only=False)
    assert result["by_confidence"]["high+medium"]["rows"] == 79
    assert result["by_confidence"]["high+medium"]["text"] >= 0.9


def test_current_parent_beats_its_named_unit():
    text = "某丙，2010年至今服务于丙辰电梯，现任丙辰电梯销售中心总经理。"
    assert chosen(text, "丙辰电梯", "丙辰电梯销售中心").text == "丙辰电梯"


def test_post_hung_on_another_with_jian_is_secondary():
    text = "某丁，历任丁巳出版社编辑、副总编辑兼《戊午》杂志主编。"
    assert chosen(text, "丁巳出版社", "《戊午》杂志").text == "丁巳出版社"


def table_of(*known: str, confidence: float = 0.99):
    """A company table that knows the given names with one match confidence."""
    return lambda name: confidence if name in known else 0.0


def test_executive_post_at_a_company_the_table_knows_beats_a_top_post_at_its_subsidiary():
    text = "某戊，现任甲乙重工股份有限公司总裁助理、甲乙船运有限公司总经理。"
    names = ("甲乙重工股份有限公司", "甲乙船运有限公司")
    assert chosen(text, *names).text == "甲乙船运有限公司"  # without a table the top post wins
    choice = choose_employer(text, spans_of(text, *names), table_knows=table_of("甲乙重工股份有限公司"))
    assert choice.text == "甲乙重工股份有限公司"
    assert choice.cue == "current:现任 known_company"


def test_a_board_seat_at_a_known_company_does_not_beat_a_full_time_post_elsewhere():
    text = "某己，2007年4月至今担任丙丁药业股份有限公司董事，兼任戊己投资发展有限公司财务总监。"
    names = ("丙丁药业股份有限公司", "戊己投资发展有限公司")
    choice = choose_employer(text, spans_of(text, *names), table_knows=table_of("丙丁药业股份有限公司"))
    assert choice.text == "戊己投资发展有限公司"


def test_a_weak_table_match_or_a_policy_without_the_key_gives_no_weight():
    text = "某庚，现任庚辛电子股份有限公司总裁助理、庚辛物流有限公司总经理。"
    names = ("庚辛电子股份有限公司", "庚辛物流有限公司")
    weak = table_of("庚辛电子股份有限公司", confidence=0.7)  # a prefix of a table name, not the name
    assert choose_employer(text, spans_of(text, *names), table_knows=weak).text == "庚辛物流有限公司"
    raw = raw_policy()
    del raw["known_company"]
    policy = EmployerPolicy.from_dict(raw)
    assert policy.known_company is None
    choice = choose_employer(text, spans_of(text, *names), policy, table_of("庚辛电子股份有限公司"))
    assert choice.text == "庚辛物流有限公司"


def test_known_company_is_named_only_when_it_decided():
    text = "某辛，曾任壬癸纺织有限公司经理，现任子丑化工股份有限公司副总经理。"
    names = ("壬癸纺织有限公司", "子丑化工股份有限公司")
    choice = choose_employer(text, spans_of(text, *names), table_knows=table_of("子丑化工股份有限公司"))
    assert (choice.text, choice.cue) == ("子丑化工股份有限公司", "current:现任")
