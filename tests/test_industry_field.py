"""The industry field end to end on hand-made bios: which employer, precedence of the sources, the rule
trace, confidence, the empty reason, partial gold fields and the rules version."""
import dataclasses

import pandas as pd
import pytest

from extractor.data.documents import Document, Entity
from extractor.model.metrics import Scorer, format_table, gold_field_values
from extractor.paths import SCHEMAS_DIR
from extractor.rules.fields import extract_fields
from extractor.rules.industry.classifier import ClassifierConfig
from extractor.rules.industry.resolver import fit_resolver
from extractor.rules.industry.table import ColumnMapping, CompanyTable
from extractor.rules.schema import Schema, SchemaError

SMALL = ClassifierConfig(buckets=1 << 12, epochs=20, learning_rate=0.1, calibration_fraction=0.2)


def bio(text: str, *orgs: str, extra: tuple = ()) -> Document:
    """A document whose ORG entities are the given names where they first occur."""
    entities = [Entity(text.index(o), text.index(o) + len(o), "ORG") for o in orgs]
    return Document("d", text, tuple(entities) + tuple(extra))


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load(SCHEMAS_DIR / "resume_ner.yaml")


@pytest.fixture(scope="module")
def resolver_dir(tmp_path_factory):
    rows = [("星河纺织股份有限公司", "星河纺织", "C17"), ("远帆海运股份有限公司", "远帆海运", "G55"),
            ("青禾软件股份有限公司", "青禾软件", "I65"), ("丰实置业股份有限公司", "丰实置业", "K70")]
    rows += [(f"{core}{word}股份有限公司", f"{core}{word}", code) for core in "甲乙丙丁戊己庚辛"
             for word, code in (("纺织", "C17"), ("海运", "G55"), ("软件", "I65"), ("置业", "K70"))]
    frame = pd.DataFrame(rows, columns=["full_name", "short_name", "code"])
    mapping = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "code")
    directory = tmp_path_factory.mktemp("resolver")
    fit_resolver(CompanyTable.from_frame(frame, mapping), directory, SMALL)
    return directory


def industry(doc: Document, schema: Schema):
    notes: dict = {}
    values = extract_fields(doc.text, doc.entities, schema, notes)["industry"]
    return (values[0] if values else None), notes.get("industry")


def test_the_current_employer_not_the_past_one_gives_the_industry(schema):
    doc = bio("张三，曾任湘江钢铁有限公司总经理，现任长风律师事务所合伙人。", "湘江钢铁有限公司", "长风律师事务所")
    value, _ = industry(doc, schema.with_industry("none"))
    assert (value.raw, value.code, value.value) == ("长风律师事务所", "L", "租赁和商务服务业")
    assert value.rule == "keyword:律师事务所 <- employer current:现任"
    assert value.confidence == pytest.approx(0.95)


def test_a_school_studied_at_is_not_the_employer_but_one_taught_at_is(schema):
    studied = bio("李四，毕业于东岭大学，现任北港钢铁有限公司董事长。", "东岭大学", "北港钢铁有限公司")
    assert industry(studied, schema.with_industry("none"))[0].code == "C"
    teaches = bio("王五，现为东岭大学教授、博士生导师。", "东岭大学")
    value, _ = industry(teaches, schema.with_industry("none"))
    assert value.code == "P" and ("teaches:" in value.rule or "current:" in value.rule)


def test_the_table_comes_before_keywords_and_the_classifier(schema, resolver_dir):
    # 星河纺织 is a textile maker by its table row; the keyword rules alone say the same from 纺织,
    # but only the table knows 丰实置业 by its short name inside a longer name.
    doc = bio("赵六，现任上海丰实置业股份有限公司总经理。", "上海丰实置业股份有限公司")
    value, _ = industry(doc, schema.with_industry(resolver_dir))
    assert value.code == "K" and value.rule.startswith("table:")
    assert value.confidence >= 0.9


def test_a_post_at_a_company_the_table_knows_makes_it_the_employer(schema, resolver_dir):
    # 远帆海运 is in the table (shipping, G); its unlisted subsidiary 远帆起重机械 makes cranes (C).
    doc = bio("周九，现任远帆海运股份有限公司总裁助理、远帆起重机械有限公司总经理。", "远帆海运股份有限公司", "远帆起重机械有限公司")
    assert industry(doc, schema.with_industry("none"))[0].raw == "远帆起重机械有限公司"
    value, _ = industry(doc, schema.with_industry(resolver_dir))
    assert (value.raw, value.code) == ("远帆海运股份有限公司", "G")
    assert value.rule.endswith("<- employer current:现任 known_company")


def test_an_institution_keyword_beats_the_classifier_for_a_company_the_table_lacks(schema, resolver_dir):
    doc = bio("钱七，现任南湖大学经济学院院长。", "南湖大学经济学院")
    value, _ = industry(doc, schema.with_industry(resolver_dir))
    assert value.code == "P" and value.rule.startswith("keyword:")


def test_the_classifier_answers_for_an_unseen_company_with_no_keyword(schema, resolver_dir):
    doc = bio("孙八，现任壬癸软件股份有限公司总经理。", "壬癸软件股份有限公司")
    value, _ = industry(doc, schema.with_industry(resolver_dir))
    assert value is not None and value.code == "I"
    assert value.rule.split(" <- ")[0] in ("classifier", "keyword:软件")


def test_below_min_confidence_the_field_is_empty_and_the_reason_recorded(schema):
    strict = dataclasses.replace(schema, fields=tuple(
        dataclasses.replace(f, employer=dataclasses.replace(f.employer, min_confidence=0.99)) if f.employer else f
        for f in schema.fields))
    doc = bio("周九，现任北港钢铁有限公司董事长。", "北港钢铁有限公司")
    value, reason = industry(doc, strict.with_industry("none"))
    assert value is None
    assert "北港钢铁有限公司" in reason and "keyword:钢铁" in reason and "below 0.99" in reason


def test_no_organisation_means_no_industry_and_says_so(schema):
    value, reason = industry(bio("吴十，中国国籍，本科学历。"), schema)
    assert value is None and reason == "no organisation span"


def test_an_explicit_industry_mention_wins_over_the_employer(resume_schema):
    text = "就职于北港钢铁有限公司，行业：互联网。"
    doc = Document("d", text, (Entity(3, 11, "ORG"), Entity(text.index("互联网"), text.index("互联网") + 3, "IND")))
    assert extract_fields(text, doc.entities, resume_schema)["industry"][0].value == "信息传输、软件和信息技术服务业"


def test_the_resolver_is_part_of_the_rules_version(schema, resolver_dir, tmp_path):
    none, full = schema.with_industry("none"), schema.with_industry(resolver_dir)
    assert none.rules_version != full.rules_version
    assert full.rules_version == schema.with_industry(resolver_dir).rules_version


def test_a_change_in_how_names_match_the_table_is_a_new_rules_version(schema, resolver_dir, monkeypatch):
    before, keywords_only = schema.with_industry(resolver_dir).rules_version, schema.with_industry("none").rules_version
    monkeypatch.setattr("extractor.rules.industry.from_employer.MATCHING_REVISION", 99)
    assert schema.with_industry(resolver_dir).rules_version != before
    assert schema.with_industry("none").rules_version == keywords_only  # no table, nothing matched differently


def test_a_schema_keeps_its_policy_and_keywords_inline_so_its_text_is_self_contained(schema, tmp_path):
    assert "employer_policy.yaml" not in schema.source and "现任" in schema.source
    copied = Schema.from_yaml(schema.source, str(tmp_path / "schema.yaml"), base=tmp_path)
    assert copied.rules_version == schema.rules_version


def test_an_unknown_precedence_source_is_refused(tmp_path):
    text = (SCHEMAS_DIR / "resume_ner.yaml").read_text(encoding="utf-8").replace(
        "min_confidence: 0.5", "min_confidence: 0.5\n      precedence: [table, horoscope]")
    path = tmp_path / "schema.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "industry").symlink_to(SCHEMAS_DIR / "industry")
    with pytest.raises(SchemaError, match="precedence"):
        Schema.load(path)


def test_gold_fields_may_give_only_some_fields_and_a_section_letter(schema):
    text = "郑一，本科学历，现任北港钢铁有限公司董事长。"
    edu = Entity(text.index("本科学历"), text.index("本科学历") + 4, "EDU")
    doc = dataclasses.replace(bio(text, "北港钢铁有限公司", extra=(edu,)), fields={"industry": "C"})
    gold = gold_field_values(doc, schema)
    assert gold == {"education": "本科", "major": None, "industry": "制造业"}
    named = dataclasses.replace(doc, fields={"industry": "制造业"})
    assert gold_field_values(named, schema)["industry"] == "制造业"


def test_evaluation_counts_industry_by_rule_and_exact_match_over_all_fields(schema):
    scorer = Scorer(schema.with_industry("none"))
    right = dataclasses.replace(bio("现任北港钢铁有限公司董事长。", "北港钢铁有限公司"), fields={"industry": "C"})
    wrong = dataclasses.replace(bio("现任北港钢铁有限公司董事长。", "北港钢铁有限公司"), fields={"industry": "F"})
    for doc in (right, wrong):
        scorer.add(doc, doc.entities)
    m = scorer.result()
    assert m["fields"]["industry"]["accuracy"] == 0.5 and m["doc_exact_match"] == 0.5
    assert m["fields"]["industry"]["by_rule"] == {"keyword": {"n": 2, "right": 1}}
    assert "industry by rule" in format_table(m)


def test_a_schema_without_fields_has_no_document_exact_match():
    schema = Schema.from_yaml("labels: [A, B]\n")
    scorer = Scorer(schema)
    scorer.add(Document("d", "ab", (Entity(0, 1, "A"),)), [Entity(0, 1, "A")])
    m = scorer.result()
    assert m["doc_exact_match"] is None
    assert "document exact match: absent" in format_table(m)


def test_the_error_table_counts_an_explicit_mention_as_one_rule():
    nightly = Schema.load(SCHEMAS_DIR / "resume_nightly.yaml").with_industry("none")
    text = "就职于北港钢铁有限公司，行业：互联网。"
    ind = Entity(text.index("互联网"), text.index("互联网") + 3, "IND")
    mention = Document("a", text, (Entity(3, 11, "ORG"), ind))
    employer = Document("b", "现任北港钢铁有限公司董事长。", (Entity(2, 10, "ORG"),))
    scorer = Scorer(nightly)
    for doc in (mention, employer):
        scorer.add(doc, doc.entities)
    assert scorer.result()["fields"]["industry"]["by_rule"] == {"mention": {"n": 1, "right": 1},
                                                                "keyword": {"n": 1, "right": 1}}


def test_a_policy_file_that_is_not_yaml_is_a_schema_error_naming_it(tmp_path):
    (tmp_path / "industry").mkdir()
    (tmp_path / "schema.yaml").write_text((SCHEMAS_DIR / "resume_ner.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "industry" / "gbt4754_keywords.yaml").symlink_to(SCHEMAS_DIR / "industry" / "gbt4754_keywords.yaml")
    (tmp_path / "industry" / "employer_policy.yaml").write_text("cues: [unclosed\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="employer_policy.yaml: not valid YAML"):
        Schema.load(tmp_path / "schema.yaml")
