"""Two people in one document: where the first person's record ends, and the industry of the first."""
import pytest

from extractor.data.documents import Document, Entity
from extractor.paths import SCHEMAS_DIR
from extractor.rules.fields import extract_fields
from extractor.rules.industry.employer import PolicyError
from extractor.rules.industry.records import RecordRule, first_record_end
from extractor.rules.schema import Schema

RULE = RecordRule.from_dict({"start_after_name": r"(?:先生|女士)?[：:，,]?\s*(?:男|女|性别)|(?:先生|女士)[：:]",
                             "openers": ["姓名："]}, "test")


def persons(text: str, *names: str) -> list[tuple[int, int]]:
    spans, at = [], 0
    for name in names:
        at = text.index(name, at)
        spans.append((at, at + len(name)))
        at += len(name)
    return spans


@pytest.mark.parametrize(
    "text, names, second",
    [
        ("张先生现任甲公司董事。监事：王凤仙，女，汉族，任乙公司审计部部长。", ("张", "王凤仙"), "王凤仙"),
        ("刘义传，男，任甲公司总经理。◆董事郑扬宏男，51岁，现任乙公司董事长。", ("刘义传", "郑扬宏"), "郑扬宏"),
        ("冯淑华女士，历任甲委员会处长。董事刘振宇先生：现任乙公司经理。", ("冯淑华", "刘振宇"), "刘振宇"),
        # A résumé form's 姓名： opens a record even when no person span was found in it.
        ("龙虹女士，现任甲银行副行长。姓名：苏壮强性别：男，至今乙公司董事长", ("龙虹",), "姓名："),
    ],
)
def test_a_second_person_introduced_after_the_first_starts_a_second_record(text, names, second):
    assert first_record_end(text, persons(text, *names), RULE) == text.index(second)


@pytest.mark.parametrize(
    "text, names",
    [
        ("袁端淇先生：曾用名袁彪，1964年出生，现任甲公司董事长。", ("袁端淇", "袁彪")),  # the same surname
        ("JerryMa(马磊)先生：男，现任甲公司总裁。", ("JerryMa", "马磊")),  # an alias in brackets
        ("梁桂添先生与梁桂秋先生一起创立甲公司，现任董事长。", ("梁桂添", "梁桂秋")),
        ("1998年梁桂添先生与陈桂秋先生一起创立甲公司。", ("梁桂添", "陈桂秋")),  # named in passing
        ("姓名：张三性别：男，现任甲公司经理。", ("张三",)),  # the form's own opener
        ("吴赞吴赞平先生：副总经理。", ("吴赞", "吴赞平")),
    ],
)
def test_one_person_mentioned_twice_or_another_in_passing_is_one_record(text, names):
    assert first_record_end(text, persons(text, *names), RULE) is None


def test_without_a_records_rule_every_document_is_one_record():
    text = "张先生现任甲公司董事。监事：王凤仙，女，任乙公司部长。"
    assert first_record_end(text, persons(text, "张", "王凤仙"), None) is None


@pytest.mark.parametrize("raw", [{"openers": ["姓名："]}, {"start_after_name": "(", "openers": []},
                                 {"start_after_name": "男", "openers": "姓名："}, "男"])
def test_a_malformed_records_rule_is_a_policy_error(raw):
    with pytest.raises(PolicyError, match="records"):
        RecordRule.from_dict(raw, "policy.yaml")


def test_the_industry_is_the_first_persons_and_the_trace_says_so():
    schema = Schema.load(SCHEMAS_DIR / "resume_ner.yaml")
    text = "龙虹女士，现任盛京银行北京分行副行长。姓名：苏壮强性别：男2003年10月—至今沈阳房产实业董事长"
    entities = [Entity(text.index(o), text.index(o) + len(o), "ORG") for o in ("盛京银行北京分行", "沈阳房产实业")]
    entities += [Entity(0, 2, "NAME"), Entity(text.index("苏壮强"), text.index("苏壮强") + 3, "NAME")]
    value = extract_fields(text, Document("d", text, tuple(entities)).entities, schema)["industry"][0]
    assert (value.value, value.raw) == ("金融业", "盛京银行北京分行")
    assert value.rule.endswith("first_person")
