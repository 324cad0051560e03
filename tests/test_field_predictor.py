"""FieldPredictor, the one predictor both engines use, on its own; and the engine checks that need no Ray."""
import pickle
import sys
from dataclasses import replace

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from conftest import ROOT

import extractor.nightly.field_predictor as batch
from extractor.cli import main
from extractor.data.documents import write_documents
from extractor.data.sample import generate_documents
from extractor.model.predict import PredictOptions
from extractor.nightly.config import PipelineError, load_pipeline
from extractor.nightly.field_predictor import (
    FieldPredictor,
    FieldPredictorSettings,
    entities_from_rows,
    field_values_from_rows,
)
from extractor.nightly.outputs import wide_columns, wide_row
from extractor.rules.fields import extract_fields

RULES = str(ROOT / "schemas" / "resume_nightly.yaml")
OPTIONS = PredictOptions(max_span_len=12, windows_per_batch=4, threshold=0.0)
SETTINGS = FieldPredictorSettings(schema=RULES)


@pytest.fixture(scope="module")
def predictor(tiny_model_dir):
    return FieldPredictor(str(tiny_model_dir), OPTIONS, SETTINGS)


@pytest.fixture(scope="module")
def docs():
    return list(generate_documents(6, seed=3))


def expected_columns(p):
    return wide_columns(p.schema) + ["field_values", "entities", "n_windows", "error"]


def test_pandas_in_pandas_out(predictor, docs):
    df = pd.DataFrame({"doc_id": [d.doc_id for d in docs] + ["blank"], "text": [d.text for d in docs] + ["  "],
                       "batch": 7})
    out = predictor(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == expected_columns(predictor) + ["batch"]  # other input columns are carried
    assert list(out["doc_id"]) == list(df["doc_id"]) and (out["batch"] == 7).all()
    # Exactly what the rules make of the spans, documented columns included.
    def plain(value):
        return None if not isinstance(value, (list, tuple)) and pd.isna(value) else value

    for d, (_, row) in zip(docs, out.iterrows()):
        entities = entities_from_rows(list(row["entities"]))
        chosen = extract_fields(d.text, entities, predictor.schema)
        assert {k: plain(row[k]) for k in wide_columns(predictor.schema)} == wide_row(d.doc_id, chosen, predictor.schema)
        assert field_values_from_rows(list(row["field_values"])) == {k: v for k, v in chosen.items() if v}
        assert row["n_windows"] >= 1 and plain(row["error"]) is None
        assert all(d.text[e.start:e.end] == e_row["text"] for e, e_row in zip(entities, row["entities"]))
    # A bad row is reported, not raised: one blank text must not stop a batch job.
    blank = out.iloc[-1]
    assert blank["error"].startswith("empty_text") and len(blank["field_values"]) == 0 and blank["n_windows"] == 0


def test_arrow_in_arrow_out(predictor, docs):
    table = pa.table({"doc_id": [d.doc_id for d in docs], "text": [d.text for d in docs]})
    out = predictor(table)
    assert isinstance(out, pa.Table) and out.schema == predictor.arrow_schema()
    assert out.column_names == expected_columns(predictor)
    assert out.schema.field("field_values").type.value_type.names == \
        ["field", "ordinal", "value", "code", "raw", "start", "end", "score", "rule", "confidence"]
    assert out.schema.field("entities").type.value_type.names == ["start", "end", "label", "text", "score"]
    rows = out.to_pylist()
    predictions = predictor.predict_documents(docs)
    for d, row, p in zip(docs, rows, predictions):
        assert row["doc_id"] == d.doc_id
        assert row == {**wide_row(d.doc_id, p.fields, predictor.schema), **{k: row[k] for k in
                       ("field_values", "entities", "n_windows", "error")}}
        assert entities_from_rows(row["entities"]) == p.entities and row["n_windows"] == p.n_windows
        for v in row["field_values"]:
            assert d.text[v["start"]:v["end"]] == v["raw"]
    # n_windows per document adds up to what the model was actually given.
    before = predictor.predictor.windows_made
    again = predictor(table)
    assert sum(again.column("n_windows").to_pylist()) == predictor.predictor.windows_made - before
    assert predictor(table.slice(0, 0)).num_rows == 0


def test_the_model_loads_once_per_instance(tiny_model_dir, docs, monkeypatch):
    loads = []
    real = batch.load_model
    monkeypatch.setattr(batch, "load_model", lambda d: loads.append(d) or real(d))
    p = FieldPredictor(str(tiny_model_dir), replace(OPTIONS, threads=1), SETTINGS)
    table = pa.table({"doc_id": [d.doc_id for d in docs], "text": [d.text for d in docs]})
    for _ in range(3):
        p(table)
    assert loads == [str(tiny_model_dir)]


def test_options_travel_pickled_and_are_checked(tiny_model_dir, predictor, docs):
    cfg = load_pipeline(ROOT / "pipelines" / "parquet.yaml", {"model": str(tiny_model_dir), "schema": RULES,
                                                              "industry": "none"})
    options = replace(cfg.predict, threads=1)
    settings = batch.field_predictor_settings(cfg, predictor.schema, model_version=predictor.model_version)
    assert pickle.loads(pickle.dumps((options, settings))) == (options, settings)  # as Ray ships them to actors
    # The rules travel as text: a worker needs no schema file, and gets the same rules version.
    p = FieldPredictor(str(tiny_model_dir), options, replace(settings, schema="/nonexistent/rules.yaml"))
    assert p.rules_version == predictor.rules_version
    with pytest.raises(ValueError, match="expected model_version"):
        FieldPredictor(str(tiny_model_dir), options, replace(settings, model_version="0123456789abcdef"))
    with pytest.raises(ValueError, match="missing \\['text'\\]"):
        predictor(pa.table({"doc_id": ["a"]}))
    with pytest.raises(ValueError, match="clash"):
        predictor(pa.table({"doc_id": ["a"], "text": ["本科"], "entities": [1]}))
    with pytest.raises(TypeError):
        predictor([{"doc_id": "a", "text": "本科"}])


# ---------------------------------------------------------------- engine checks that need no Ray

def run_cli(tmp_path, *args):
    # industry none: the work directory holds no fitted resolver; these checks are about the engine.
    return CliRunner().invoke(main, ["run", *[str(a) for a in args], "--industry", "none"],
                              env={"EXTRACTOR_WORKDIR": str(tmp_path)})


def test_ray_engine_refuses_a_sql_source_and_a_missing_parquet_sink(tmp_path, tiny_model_dir):
    out = run_cli(tmp_path, ROOT / "pipelines" / "nightly.yaml", "--engine", "ray", "--set", f"model={tiny_model_dir}")
    assert out.exit_code == 1 and "--engine ray reads Parquet" in out.output and "'sql'" in out.output
    write_documents(generate_documents(3, seed=1), tmp_path / "resumes.parquet")
    out = run_cli(tmp_path, ROOT / "pipelines" / "parquet.yaml", "--engine", "ray", "--set", f"model={tiny_model_dir}",
                  "--set", f"sinks=[{{type: csv, path: {tmp_path}/f.csv}}]")
    assert out.exit_code == 1 and "add a sink" in out.output
    assert not list(tmp_path.rglob("*.db"))  # nothing written


def test_missing_ray_is_a_clear_error(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where the extra is not installed
    write_documents(generate_documents(3, seed=1), tmp_path / "resumes.parquet")
    out = run_cli(tmp_path, ROOT / "pipelines" / "parquet.yaml", "--engine", "ray", "--set", f"model={tiny_model_dir}")
    assert out.exit_code == 1, out.output
    assert "pip install 'resume-extractor[ray]'" in out.output and "Traceback" not in out.output
    assert not list(tmp_path.rglob("*.db"))
    out = run_cli(tmp_path, ROOT / "pipelines" / "parquet.yaml", "--address", "auto")
    assert out.exit_code == 2 and "--address is for --engine ray" in out.output


@pytest.mark.parametrize("ray_cfg, message", [
    ("{concurrency: 0}", "ray.concurrency must be"), ("{concurrency: [3, 2]}", "ray.concurrency must be"),
    ("{num_cpus_per_actor: 0}", "ray.num_cpus_per_actor must be"), ("{docs_per_call: -1}", "ray.docs_per_call must be"),
    ("{actors: 2}", "ray has unknown keys ['actors']"), ("[2]", "ray must be a mapping"),
])
def test_ray_settings_are_validated(ray_cfg, message):
    with pytest.raises(PipelineError) as exc:
        load_pipeline(ROOT / "pipelines" / "parquet.yaml", {"ray": ray_cfg})
    assert message in str(exc.value)


def test_ray_settings_parse():
    cfg = load_pipeline(ROOT / "pipelines" / "parquet.yaml",
                        {"ray": "{concurrency: [1, 4], docs_per_call: 64, num_cpus_per_actor: 2, address: auto}"})
    assert (cfg.ray.concurrency, cfg.ray.docs_per_call, cfg.ray.num_cpus_per_actor, cfg.ray.address) == \
        ((1, 4), 64, 2.0, "auto")
    assert load_pipeline(ROOT / "pipelines" / "parquet.yaml", {"ray.concurrency": "3"}).ray.concurrency == (3, 3)
    assert load_pipeline(ROOT / "pipelines" / "parquet.yaml").ray.concurrency is None
