"""source.query runs as one read-only statement: an injected second statement is refused with one line
and exit 1, and the database is left as it was."""
import pytest
from sqlalchemy import create_engine, inspect, text
from test_nightly import BACKENDS, nightly_docs, pg_database, setup_for, tiny_model  # noqa: F401 (fixtures)

from extractor.nightly.config import ColumnMap
from extractor.nightly.sources import SourceError, SqlSource

INJECTIONS = [
    "SELECT * FROM resumes) AS q0; DROP TABLE victim; COMMIT; SELECT * FROM (SELECT * FROM resumes",
    "SELECT * FROM resumes) AS q0; COMMIT; DROP TABLE victim; SELECT * FROM (SELECT * FROM resumes",
    "SELECT * FROM resumes WHERE doc_id = 'x'; DROP TABLE victim --'",
]


def add_victim(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE victim (x INTEGER)"))
    engine.dispose()


def has_victim(url):
    engine = create_engine(url)
    try:
        return inspect(engine).has_table("victim")
    finally:
        engine.dispose()


@pytest.mark.parametrize("query", INJECTIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_statement_in_the_query_is_refused(setup_for, backend, query):
    s = setup_for("nightly", backend)
    s.write_source(nightly_docs(3))
    add_victim(s.source_url)
    out = s.run(expect=1, **{"source.table": "", "source.query": query, "predict.runtime": "torch"})
    assert "single SELECT statement" in out and "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert has_victim(s.source_url)


@pytest.mark.parametrize("query", [
    "SELECT * FROM resumes WHERE doc_id <> ';'",
    "SELECT * FROM resumes WHERE doc_id <> 'it''s; fine' -- a comment; with a semicolon",
    "SELECT * FROM resumes /* ; */ WHERE doc_id <> \"x;\"",
])
def test_semicolons_inside_strings_and_comments_are_not_statements(tmp_path, query):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE resumes (doc_id TEXT, text TEXT, \"x;\" TEXT)"))
        conn.execute(text("INSERT INTO resumes VALUES ('a', '本科', 'y')"))
    assert [r.doc_id for r in SqlSource(url, None, query, ColumnMap())] == ["a"]


def test_sqlite_source_connections_cannot_write(tmp_path):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    add_victim(url)
    source = SqlSource(url, "victim", None, ColumnMap(id="x", text="x"))
    with source.engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only|query_only"):
        conn.exec_driver_sql("DROP TABLE victim")
    assert has_victim(url)
    with pytest.raises(SourceError, match="single SELECT"):
        SqlSource(url, None, "SELECT 1; SELECT 2", ColumnMap(id="x", text="x"))
