"""`extractor industry fit` from CSV and SQL, and the resolver through evaluate and the nightly run:
values traced to the table, kept with their confidence, and a new table reprocessing the next night."""
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select
from test_nightly import RULES, Setup, nightly_docs

from extractor.cli import main
from extractor.data.documents import Document, Entity, write_documents
from extractor.data.sample.companies import company_rows
from extractor.nightly import database as db

ROWS = [("星河纺织股份有限公司", "星河纺织", "C17"), ("远帆海运股份有限公司", "远帆海运", "G55"),
        ("青禾软件股份有限公司", "青禾软件", "I65"), ("丰实置业股份有限公司", "丰实置业", "K70")]


def cli(*args, expect=0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return json.loads(result.output.strip().splitlines()[-1]) if expect == 0 else result.output


def fit(source, out, *extra, expect=0):
    return cli("industry", "fit", "--companies", source, "--name-column", "full_name", "--name-column",
               "short_name", "--code-column", "code", "--out", out, *extra, expect=expect)


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("companies") / "companies.csv"
    pd.DataFrame(ROWS * 3, columns=["full_name", "short_name", "code"]).to_csv(path, index=False)
    return path


def test_fit_from_csv_and_from_a_sql_table_or_query_give_the_same_resolver(tmp_path, table_csv):
    from_csv = fit(table_csv, tmp_path / "a")
    assert from_csv["companies"] == 12 and (tmp_path / "a" / "classifier.safetensors").exists()
    assert not list((tmp_path / "a").glob("*.pkl")) and not list((tmp_path / "a").glob("*.pt"))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    pd.read_csv(table_csv).to_sql("companies", create_engine(url), index=False)
    assert fit(url, tmp_path / "b", "--table", "companies")["content_hash"] == from_csv["content_hash"]
    query = fit(url, tmp_path / "q", "--query", "SELECT full_name, short_name, code FROM companies")
    assert query["content_hash"] == from_csv["content_hash"]
    assert "exactly one of --table or --query" in fit(url, tmp_path / "x", expect=2)
    assert "error:" in fit(tmp_path / "missing.csv", tmp_path / "y", expect=1)


def test_evaluate_with_a_resolver_scores_industry_by_table_and_reports_errors_by_rule(tmp_path, table_csv,
                                                                                        tiny_model_dir):
    fit(table_csv, tmp_path / "resolver")
    text = "现任上海丰实置业股份有限公司总经理。"
    org = Entity(2, 14, "ORG")
    gold = tmp_path / "gold.jsonl"
    write_documents([Document("d1", text, (org,), {"industry": "K"})], gold)
    with_table = cli("evaluate", "--model", tiny_model_dir, "--gold", gold, "--schema", RULES,
                     "--industry", tmp_path / "resolver")
    keywords = cli("evaluate", "--model", tiny_model_dir, "--gold", gold, "--schema", RULES, "--industry", "none")
    assert with_table["rules_version"] != keywords["rules_version"]
    # A barely trained model predicts what it predicts; the table reports every document under one rule.
    assert sum(r["n"] for r in with_table["fields"]["industry"]["by_rule"].values()) == with_table["n_docs"] == 1
    bad = cli("evaluate", "--model", tiny_model_dir, "--gold", gold, "--schema", RULES, "--industry",
              tmp_path / "nowhere", expect=1)
    assert "not an industry resolver directory" in bad and "Traceback" not in bad
    unused = cli("evaluate", "--model", tiny_model_dir, "--gold", gold, "--industry", tmp_path / "resolver", expect=1)
    assert "no field that takes its industry from the employer" in unused


def test_the_nightly_run_uses_the_pipelines_resolver_and_a_new_table_reprocesses(tmp_path, tiny_model_dir):
    s = Setup("nightly", "sqlite", tmp_path, tiny_model_dir)
    docs = nightly_docs(12)
    s.write_source(docs)
    table = tmp_path / "companies.csv"
    pd.DataFrame(company_rows(), columns=["full_name", "short_name", "code"]).to_csv(table, index=False)
    fit(table, tmp_path / "industry")
    first = s.run(industry=tmp_path / "industry")
    assert (first["status"], first["n_processed"]) == ("succeeded", 12)
    with s.engine().connect() as conn:
        rows = conn.execute(select(db.field_values.c.rule, db.field_values.c.confidence)
                            .where(db.field_values.c.field == "industry")).all()
    employer_rows = [r for r in rows if " <- employer " in r.rule]
    assert all(r.confidence is not None and 0 < r.confidence <= 1 for r in employer_rows)
    assert s.run(industry=tmp_path / "industry")["n_skipped"] == 12  # same resolver: nothing to do
    smaller = pd.read_csv(table).iloc[::2]
    smaller.to_csv(table, index=False)
    fit(table, tmp_path / "industry2")
    again = s.run(industry=tmp_path / "industry2")
    assert again["n_processed"] == 12 and again["rules_version"] != first["rules_version"]
