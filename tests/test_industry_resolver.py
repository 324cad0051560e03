"""IndustryResolver: precedence, min_confidence, directory format and content hash; one real-data check."""

import json
from pathlib import Path

import pandas as pd
import pytest

from extractor.rules.industry.classifier import ClassifierConfig
from extractor.rules.industry.resolver import IndustryResolver, fit_resolver
from extractor.rules.industry.table import ColumnMapping, CompanyTable
from tests.test_industry_classifier import CORES, WORDS

MAPPING = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "code")
SMALL = ClassifierConfig(buckets=1 << 12, epochs=20, learning_rate=0.1, calibration_fraction=0.2)
COMPANIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "companies" / "listed_companies.csv"


def frame() -> pd.DataFrame:
    rows = [(f"{core}{word}股份有限公司", f"{core}{word[0]}", section)
            for section, words in WORDS.items() for word in words for core in CORES]
    rows.append(("上海百润香精香料股份有限公司", "百润股份", "C14"))
    return pd.DataFrame(rows, columns=["full_name", "short_name", "code"])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("resolver")
    info = fit_resolver(CompanyTable.from_frame(frame(), MAPPING), directory, SMALL)
    return directory, info


def test_directory_holds_the_manifest_index_and_classifier(fitted):
    directory, info = fitted
    assert sorted(p.name for p in directory.iterdir()) == [
        "classifier.json", "classifier.safetensors", "index.json", "resolver.json"]
    manifest = json.loads((directory / "resolver.json").read_text(encoding="utf-8"))
    assert manifest["content_hash"] == info.content_hash and manifest["companies"] == 145
    assert manifest["mapping"] == {"names": {"full_name": "full_name", "short_name": "short_name"}, "code": "code"}


def test_table_match_comes_first_then_the_classifier(fitted):
    resolver = IndustryResolver.load(fitted[0])
    assert resolver.content_hash == fitted[1].content_hash
    table = resolver.resolve("上海百润香精香料股份有限公司")
    assert (table.section, table.rule, table.matched_name) == ("C", "table:full_name", "上海百润香精香料股份有限公司")
    assert resolver.resolve("百润股份").rule == "table:short_name"
    learned = resolver.resolve("东湖新城置业有限公司")
    assert (learned.section, learned.rule, learned.matched_name) == ("K", "classifier", None)
    assert 0 < learned.confidence <= 1
    assert resolver.resolve("（）") is None


def test_min_confidence_gives_an_empty_section_with_a_reason(fitted):
    resolver = IndustryResolver.load(fitted[0], min_confidence=0.999)
    empty = resolver.resolve("某某无关名称")
    assert empty.section is None and empty.rule == "classifier"
    assert empty.reason.startswith("classifier ") and empty.reason.endswith(" < 1.00")
    assert resolver.resolve("上海百润香精香料股份有限公司", min_confidence=0.5).section == "C"


def test_content_hash_is_stable_across_fits_and_changes_with_the_table(tmp_path, fitted):
    again = fit_resolver(CompanyTable.from_frame(frame(), MAPPING), tmp_path / "again", SMALL)
    assert again.content_hash == fitted[1].content_hash
    changed = frame()
    changed.loc[0, "code"] = "K70"
    other = fit_resolver(CompanyTable.from_frame(changed, MAPPING), tmp_path / "changed", SMALL)
    assert other.content_hash != fitted[1].content_hash


def test_load_refuses_files_that_no_longer_match_the_hash(tmp_path, fitted):
    info = fit_resolver(CompanyTable.from_frame(frame(), MAPPING), tmp_path, SMALL)
    (tmp_path / "index.json").write_text('{"format": 1, "maps": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="content hash"):
        IndustryResolver.load(tmp_path)
    assert info.content_hash


@pytest.mark.skipif(not COMPANIES.exists(), reason="real listed-company table not present (../shared/data)")
def test_real_table_resolves_well_known_listed_companies(tmp_path):
    mapping = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "csrc_division")
    table = CompanyTable.from_csv(COMPANIES, mapping)
    assert table.report.rows_bad_code == 2 and len(table) > 5000
    fit_resolver(table, tmp_path, ClassifierConfig(buckets=1 << 16, epochs=2))
    resolver = IndustryResolver.load(tmp_path)
    assert resolver.resolve("浦发银行").section == "J"
    assert resolver.resolve("招商银行北京分行").section == "J"
    assert resolver.resolve("上海百润香精香料股份有限公司").section == "C"
