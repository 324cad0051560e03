"""Post-processing rules (schemas/*.yaml as data), pipeline files and record checks: no model needed."""
import logging

import pytest
from conftest import ROOT

from extractor.data.documents import Entity
from extractor.data.sample import GBT4754_SECTIONS
from extractor.model.predict import PredictOptions
from extractor.nightly.config import PipelineError, load_pipeline, parse_pipeline
from extractor.nightly.runner import check_record
from extractor.nightly.sources import SourceRecord
from extractor.rules.fields import extract_fields, field_strings
from extractor.rules.schema import Schema, SchemaError

NIGHTLY = ROOT / "schemas" / "resume_nightly.yaml"
DERIVE = ROOT / "tests" / "data" / "resume_derive.yaml"  # the nightly rules before the industry resolver


@pytest.fixture(scope="module")
def rules() -> Schema:
    return Schema.load(NIGHTLY)


@pytest.fixture(scope="module")
def derive_rules() -> Schema:
    return Schema.load(DERIVE)


def one(text, rules, label, field):
    values = extract_fields(text, [Entity(0, len(text), label)], rules)[field]
    return values[0] if values else None


@pytest.mark.parametrize("surface,level", [
    ("本科学历", "本科"), ("大学本科", "本科"), ("学士学位", "本科"), ("统招本科", "本科"), ("专科学历", "大专"),
    ("硕士研究生", "硕士"), ("MBA", "硕士"), ("EMBA", "硕士"), ("工商管理硕士", "硕士"), ("博士学位", "博士"),
    ("职高", "中专"), ("高中毕业", "高中"),
])
def test_education_surface_forms_map_to_levels(rules, surface, level):
    assert one(surface, rules, "EDU", "education").value == level


def test_education_keeps_the_highest_level_with_its_span(rules):
    text = "2010年本科毕业，2016年获博士学位，中间读过MBA"
    at = {s: text.index(s) for s in ("本科", "博士学位", "MBA")}
    spans = [Entity(at[s], at[s] + len(s), "EDU", score) for s, score in (("本科", 0.9), ("博士学位", 0.4), ("MBA", 0.8))]
    (value,) = extract_fields(text, spans, rules)["education"]
    b = at["博士学位"]
    assert (value.value, value.raw, value.start, value.end, value.score) == ("博士", "博士学位", b, b + 4, 0.4)
    assert value.rule == "contains:博士"  # the name of the rule that produced the value is kept


def test_major_suffixes_and_aliases(rules):
    v = one("计算机专业", rules, "PRO", "major")
    assert (v.value, v.rule) == ("计算机科学与技术", "strip+map")
    assert one("金融学专业", rules, "PRO", "major").value == "金融学"
    assert one("会计", rules, "PRO", "major").value == "会计学"


def test_a_major_needs_two_characters(rules):
    assert one("双专业", rules, "PRO", "major") is None  # 双: two majors, not a major's name
    assert one("法学专业", rules, "PRO", "major").value == "法学"
    ner = Schema.load(ROOT / "schemas" / "resume_ner.yaml")
    assert one("双专业", ner, "PRO", "major") is None and one("化学", ner, "PRO", "major").value == "化学"


def school_then_major(text: str, org_end: int, schema: Schema):
    """The major of ``text`` when the model tagged ORG up to ``org_end`` and PRO from there to 专业's end."""
    pro_end = text.index("专业") + 2
    spans = [Entity(0, org_end, "ORG"), Entity(org_end, pro_end, "PRO")]
    return extract_fields(text, spans, schema)["major"][0]


@pytest.mark.parametrize("schema_file", ["resume_ner.yaml", "resume.yaml"])
def test_a_major_cut_by_the_school_name_before_it_is_repaired(schema_file):
    schema = Schema.load(ROOT / "schemas" / schema_file)
    text = "东北工学院金属压力加工专业本科毕业"
    v = school_then_major(text, text.index("加工"), schema)  # the model's cut: ORG 东北工学院金属压力
    assert (v.value, v.raw, v.start, v.rule) == ("金属压力加工", "金属压力加工专业", 5, "repair_cut+strip")
    # A school cut where it ends, or a tail that names a part of the school, is left alone.
    whole = school_then_major(text, text.index("金属"), schema)
    assert (whole.value, whole.start, whole.rule) == ("金属压力加工", 5, "strip")
    for text, org in (("兰州大学经济系国际经济专业", "兰州大学经济系"), ("中国科学院上海硅酸盐研究所材料学专业",
                      "中国科学院上海硅酸盐研究所"), ("湖南大学邵阳分校内燃机专业", "湖南大学邵阳分校")):
        v = school_then_major(text, len(org), schema)
        assert v.start == len(org) and v.rule == "strip", text


def test_the_cut_repair_needs_the_span_just_before_and_of_its_labels():
    schema = Schema.load(ROOT / "schemas" / "resume_ner.yaml")
    text = "东北工学院金属压力加工专业"
    apart = [Entity(0, 7, "ORG"), Entity(9, 13, "PRO")]  # not adjacent: nothing to give back
    assert extract_fields(text, apart, schema)["major"][0].raw == "加工专业"
    other_label = [Entity(0, 9, "LOC"), Entity(9, 13, "PRO")]
    assert extract_fields(text, other_label, schema)["major"][0].raw == "加工专业"


@pytest.mark.parametrize("repair,error", [
    ("[ORG]", "repair_cut must be a mapping"),
    ("{labels: [X], after: [大学]}", "repair_cut.labels must name schema labels"),
    ("{labels: [ORG]}", "repair_cut.after must list"),
])
def test_bad_cut_repairs_are_rejected(repair, error):
    with pytest.raises(SchemaError, match=error):
        Schema.from_yaml(f"labels: [ORG, PRO]\nfields:\n  major: {{labels: [PRO], repair_cut: {repair}}}\n")


@pytest.mark.parametrize("value", ["0", "two", "true", "1.5"])
def test_min_chars_must_be_a_whole_number_of_at_least_one(value):
    with pytest.raises(SchemaError, match="normalize.min_chars"):
        Schema.from_yaml(f"labels: [A]\nfields:\n  f: {{labels: [A], normalize: {{min_chars: {value}}}}}\n")


def test_every_gbt4754_section_has_its_code(rules):
    codes = next(f for f in rules.fields if f.name == "industry").codes
    assert set(codes) == set(GBT4754_SECTIONS)
    assert sorted(codes.values()) == [chr(c) for c in range(ord("A"), ord("T") + 1)]
    v = one("互联网行业", rules, "IND", "industry")
    assert (v.value, v.code) == ("信息传输、软件和信息技术服务业", "I")


def test_industry_is_derived_from_the_employer_when_none_is_stated(derive_rules):
    text = "毕业于北京大学，2018年加入招商银行任客户经理"
    school, bank = text.index("北京大学"), text.index("招商银行")
    spans = [Entity(school, school + 4, "ORG", 0.9), Entity(bank, bank + 4, "ORG", 0.7)]
    (v,) = extract_fields(text, spans, derive_rules)["industry"]
    # The school is skipped; the bank gives the section, and the value keeps the span it came from.
    assert (v.value, v.code, v.raw, v.start, v.end, v.score) == ("金融业", "J", "招商银行", bank, bank + 4, 0.7)
    assert v.rule == "derived:ORG:contains:银行"


def test_a_stated_industry_wins_over_the_employer(rules, derive_rules):
    text = "招商银行（互联网）"
    spans = [Entity(0, 4, "ORG"), Entity(5, 8, "IND")]
    for schema in (rules, derive_rules):
        (v,) = extract_fields(text, spans, schema)["industry"]
        assert v.value == "信息传输、软件和信息技术服务业" and not v.rule.startswith("derived")
        assert "employer" not in v.rule


def test_nightly_rules_take_the_industry_of_the_current_employer(rules):
    text = "毕业于北京大学，2018年加入招商银行任客户经理"
    school, bank = text.index("北京大学"), text.index("招商银行")
    spans = [Entity(school, school + 4, "ORG", 0.9), Entity(bank, bank + 4, "ORG", 0.7)]
    (v,) = extract_fields(text, spans, rules)["industry"]
    assert (v.value, v.code, v.raw, v.start, v.end, v.score) == ("金融业", "J", "招商银行", bank, bank + 4, 0.7)
    assert v.rule.startswith("keyword:银行 <- employer ") and v.confidence == pytest.approx(0.95)


def test_product_schema_does_not_derive(resume_schema):
    # The generator's gold fields come from resume.yaml: no mention there still means no industry.
    assert field_strings("招商银行", [Entity(0, 4, "ORG")], resume_schema)["industry"] is None


def test_the_same_span_twice_is_one_value():
    schema = Schema.from_yaml("labels: [A, B]\nfields:\n  f: {labels: [A, B], select: all}\n")
    values = extract_fields("本科", [Entity(0, 2, "A"), Entity(0, 2, "B")], schema)["f"]
    assert len(values) == 1


def test_rules_version_follows_the_rules_text(tmp_path, rules, resume_schema):
    assert rules.rules_version != resume_schema.rules_version and len(rules.rules_version) == 16
    (tmp_path / "base.yaml").write_text((ROOT / "schemas" / "resume.yaml").read_text(encoding="utf-8"),
                                        encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nfields:\n  major: {select: all}\n", encoding="utf-8")
    first = Schema.load(child)
    assert next(f for f in first.fields if f.name == "major").select == "all"
    assert next(f for f in first.fields if f.name == "education").select == "highest"  # inherited
    child.write_text("extends: base.yaml\nfields:\n  major: {select: first}\n", encoding="utf-8")
    assert Schema.load(child).rules_version != first.rules_version


def test_bad_derive_rule_is_rejected():
    with pytest.raises(SchemaError, match="derive.labels"):
        Schema.from_yaml("labels: [A]\nfields:\n  f: {labels: [A], derive: {labels: [Z], contains: []}}\n")


def test_pipeline_variables_and_overrides(tmp_path):
    cfg = load_pipeline(ROOT / "pipelines" / "nightly.yaml", {"docs_per_commit": "7", "source.table": "cv"},
                        variables={"EXTRACTOR_WORKDIR": "/data/x"})
    assert cfg.source.url == "sqlite:////data/x/resumes.db" and cfg.source.table == "cv" and cfg.docs_per_commit == 7
    assert cfg.model == "/data/x/model" and cfg.sinks[0].type == "csv"
    parquet = load_pipeline(ROOT / "pipelines" / "parquet.yaml", variables={"EXTRACTOR_WORKDIR": "w"})
    assert parquet.source.type == "parquet" and {s.type for s in parquet.sinks} == {"csv", "parquet"}


@pytest.mark.parametrize("text,error", [
    ("source: {type: parquet, path: x}\nmodel: m\n", "missing required key 'database'"),
    ("source: {type: ftp}\nmodel: m\ndatabase: sqlite://\n", "source.type"),
    ("source: {type: sql, url: 'sqlite://'}\nmodel: m\ndatabase: sqlite://\n", "exactly one of"),
    ("source: {type: parquet, path: '${NOPE_NOT_SET}'}\nmodel: m\ndatabase: sqlite://\n", "unset variables"),
    ("source: {type: parquet, path: x}\nmodel: m\ndatabase: sqlite://\ndocs_per_commit: 0\n", "docs_per_commit"),
    ("source: {type: parquet, path: x, columns: {txt: a}}\nmodel: m\ndatabase: sqlite://\n", "unknown keys"),
])
def test_pipeline_errors_name_the_problem(tmp_path, text, error):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PipelineError, match=error):
        load_pipeline(path)


@pytest.mark.parametrize("doc_id,text,reason", [
    ("a", None, "null_text"), ("a", "", "empty_text"), ("a", "  \n", "empty_text"), ("a", 42, "non_string_text"),
    ("a", "x" * 101, "oversize"), ("a", "本科\ufffd", "undecodable"), ("a", "本科\ud800", "undecodable"),
    ("a", b"\xff\xfe", "undecodable"), (None, "本科", "missing_id"), ("", "本科", "missing_id"),
    (1.5, "本科", "bad_id"),
])
def test_bad_records_are_quarantined_with_a_reason(doc_id, text, reason):
    checked = check_record(SourceRecord(3, doc_id, text), max_chars=100, gold_configured=False)
    assert checked.reason == reason and checked.position == 3 and checked.detail


def test_good_records_become_documents():
    doc = check_record(SourceRecord(0, 17, "本科".encode()), max_chars=100, gold_configured=False)
    assert (doc.doc_id, doc.text) == ("17", "本科")
    gold = check_record(SourceRecord(0, "g", "本科", gold_entities='[{"start": 0, "end": 2, "label": "EDU"}]'),
                        max_chars=100, gold_configured=True)
    assert gold.entities == [Entity(0, 2, "EDU")]
    bad = check_record(SourceRecord(0, "g", "本科", gold_entities='[{"start": 0, "end": 9, "label": "EDU"}]'),
                       max_chars=100, gold_configured=True)
    assert bad.reason == "bad_gold"


NEW_STYLE = """
name: p
source: {type: parquet, path: x.parquet}
model: m
database: "sqlite://"
docs_per_commit: 7
predict: {windows_per_batch: 3, tokens_per_batch: 500, max_span_len: 12, threshold: 0.5, runtime: onnx,
          window_tokens: 64, window_stride: 48}
ray: {docs_per_call: 9}
"""
OLD_STYLE = """
name: p
source: {type: parquet, path: x.parquet}
model: m
database: "sqlite://"
batch_size: 7
predict_batch_size: 3
predict_batch_tokens: 500
max_span_len: 12
threshold: 0.5
runtime: onnx
window: {max_tokens: 64, stride: 48}
ray: {batch_size: 9}
"""


def test_an_old_style_pipeline_parses_as_the_new_style_and_warns_once(tmp_path, caplog):
    path = tmp_path / "p.yaml"
    path.write_text(NEW_STYLE, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        new = load_pipeline(path)
    assert not caplog.records
    path.write_text(OLD_STYLE, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        old = load_pipeline(path)
    assert old == new
    assert old.predict == PredictOptions(windows_per_batch=3, tokens_per_batch=500, max_span_len=12, threshold=0.5,
                                         runtime="onnx", window_tokens=64, window_stride=48)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in warning and "predict.windows_per_batch" in warning and "docs_per_commit" in warning \
        and "ray.docs_per_call" in warning and "predict.window_stride" in warning
    # --set takes the old names too, into the new places
    caplog.clear()
    path.write_text(NEW_STYLE, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_pipeline(path, {"runtime": "torch", "window.stride": "32"}).predict.window_stride == 32
    assert len(caplog.records) == 1


@pytest.mark.parametrize("predict,error", [
    ("{batch_size: 4}", "predict has unknown keys ['batch_size']; it takes windows_per_batch, "),
    ("{windows_per_batch: 0}", "predict.windows_per_batch must be a positive integer, got 0"),
    ("{threshold: high}", "predict.threshold must be a number, got 'high'"),
    ("{runtime: gpu}", "predict.runtime must be one of torch, torch-int8, onnx, onnx-int8"),
    ("{window_tokens: 64, window_stride: 64}", "predict.window_stride must be below window_tokens"),
    ("[1]", "predict must be a mapping"),
])
def test_bad_predict_settings_are_rejected_in_one_line(predict, error):
    with pytest.raises(PipelineError) as exc:
        load_pipeline(ROOT / "pipelines" / "parquet.yaml", {"predict": predict})
    assert error in str(exc.value) and "\n" not in str(exc.value)


def test_an_old_key_beside_its_new_name_is_an_error():
    raw = {"source": {"type": "parquet", "path": "x.parquet"}, "model": "m", "database": "sqlite://",
           "runtime": "onnx", "predict": {"runtime": "torch"}}
    with pytest.raises(PipelineError, match="runtime and predict.runtime both set"):
        parse_pipeline(raw, "p.yaml")
