"""Every setting that changes a value is in the version the ledger compares: the predict options that change
values (threshold, span and window settings) are folded into the run's model version, so a run with other
settings reprocesses everything; run rows record the runtime and the engine."""
import json

from click.testing import CliRunner
from conftest import ROOT
from sqlalchemy import create_engine, select

from extractor.cli import main
from extractor.data.documents import Document, write_documents
from extractor.data.sample import generate_documents
from extractor.model.directory import load_model
from extractor.model.predict import PredictOptions, prediction_version
from extractor.nightly import database as db

N_DOCS = 12


def test_only_value_changing_options_that_differ_from_the_model_change_the_version(tiny_model_dir):
    loaded = load_model(tiny_model_dir)
    window = loaded.config["window"]
    same = [PredictOptions(), PredictOptions(windows_per_batch=3, tokens_per_batch=None, runtime="torch-int8",
                                             threads=1, streams=1),
            PredictOptions(threshold=0, window_tokens=window["max_tokens"], window_stride=window["stride"])]
    assert {prediction_version(loaded, o) for o in same} == {loaded.version}
    changed = [PredictOptions(threshold=100), PredictOptions(threshold=0.5), PredictOptions(max_span_len=3),
               PredictOptions(window_tokens=window["max_tokens"] // 2, window_stride=window["max_tokens"] // 4)]
    versions = [prediction_version(loaded, o) for o in changed]
    assert len(set(versions)) == len(versions)
    assert all(v.startswith(loaded.version + "+p") and len(v) <= 64 for v in versions)
    assert prediction_version(loaded, PredictOptions(threshold=100)) == versions[0]  # stable


def run(workdir, model, url, **overrides):
    settings = {"model": str(model), "schema": str(ROOT / "schemas" / "resume_nightly.yaml"), "database": url,
                "predict.runtime": "torch", "industry": "none", **overrides}
    args = ["run", str(ROOT / "pipelines" / "parquet.yaml"),
            *[x for k, v in settings.items() for x in ("--set", f"{k}={v}")]]
    result = CliRunner().invoke(main, args, catch_exceptions=False, env={"EXTRACTOR_WORKDIR": str(workdir)})
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_a_run_with_threshold_100_then_the_normal_run_reprocesses_everything(tiny_model_dir, tmp_path):
    docs = [Document(f"cv-{i:03d}", d.text, d.entities) for i, d in enumerate(generate_documents(N_DOCS, seed=3))]
    write_documents(docs, tmp_path / "resumes.parquet")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    strict = run(tmp_path, tiny_model_dir, url, **{"predict.threshold": 100})
    assert strict["n_processed"] == N_DOCS
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(db.field_values)).first() is None  # no span scores above 100
    normal = run(tmp_path, tiny_model_dir, url)
    assert (normal["n_processed"], normal["n_skipped"]) == (N_DOCS, 0)
    assert normal["model_version"] == load_model(tiny_model_dir).version != strict["model_version"]
    with engine.connect() as conn:
        versions = {r[0] for r in conn.execute(select(db.field_values.c.model_version))}
        runs = [tuple(r) for r in conn.execute(select(db.runs.c.runtime, db.runs.c.engine))]
    assert versions == {normal["model_version"]}
    assert runs == [("torch", "local"), ("torch", "local")]
    again = run(tmp_path, tiny_model_dir, url)
    assert (again["n_processed"], again["n_skipped"]) == (0, N_DOCS)
    # The sinks hold the values of the settings that ran last.
    assert normal["outputs"]
