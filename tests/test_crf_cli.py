"""The CRF head through the command line (train --head crf, evaluate, predict, the nightly
runner) and `bench heads` end to end, on tiny models."""
import json
import logging

import pytest
from click.testing import CliRunner
from conftest import ROOT, TINY_BILSTM, invoke, options
from test_nightly import Setup, nightly_docs

from extractor.cli import main
from extractor.data.documents import Document, Entity, write_documents
from extractor.model.directory import load_model
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.train import TrainConfig, train
from extractor.rules.schema import Schema

SCHEMA = str(ROOT / "schemas" / "resume.yaml")  # nested: true
FLAT_SCHEMA = ROOT / "schemas" / "resume_ner.yaml"  # nested: false
# Enough steps for the tiny BiLSTM to learn the synthetic résumés (about 65 dev F1 for a CRF, 50 for GP).
LEARN = ("--epochs", 6, "--patience", 6, "--batch-size", 4, "--lr", 0.01)


@pytest.fixture(scope="module")
def data(tmp_path_factory, sample_docs):
    root = tmp_path_factory.mktemp("crf-data")
    write_documents(sample_docs[:36], root / "train.jsonl")
    write_documents(sample_docs[36:], root / "dev.jsonl")
    return root


def train_cli(data, out, *extra):
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--dev", data / "dev.jsonl",
                    "--out", out, "--max-tokens", 64, "--stride", 48, "--seed", 3, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def crf_model(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("crf") / "model"
    train_cli(data, out, "--head", "crf", *LEARN, *options(TINY_BILSTM))
    return out


def test_crf_model_learns_and_saves_its_head(crf_model):
    config = json.loads((crf_model / "config.json").read_text())
    assert config["head"] == {"type": "crf", "tags": "bioes"}
    metrics = json.loads((crf_model / "metrics.json").read_text())
    assert metrics["config"]["head"] == "crf"
    # Chance is ~0: a span must match its gold span exactly, type included.
    assert metrics["dev"]["micro"]["f1"] > 0.4, metrics["history"]


def test_evaluate_and_predict_a_crf_model(crf_model, data, tmp_path):
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", "--model", crf_model, "--gold", data / "dev.jsonl", "--output", out)
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert m["micro"] == json.loads((crf_model / "metrics.json").read_text())["dev"]["micro"]
    result = invoke("predict", "--model", crf_model, "--input", data / "dev.jsonl", "--output", tmp_path / "p.jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    spans = [e for r in rows for e in r["entities"]]
    assert len(rows) == 12 and spans
    assert all(0 < e["score"] <= 1 for e in spans)  # span posterior probabilities
    for r in rows:  # one tag path: never two overlapping spans
        ents = sorted((e["start"], e["end"]) for e in r["entities"])
        assert all(a[1] <= b[0] for a, b in zip(ents, ents[1:]))


def test_crf_predictions_do_not_depend_on_batching(crf_model, sample_docs):
    loaded = load_model(crf_model)
    docs = sample_docs[36:]
    one = [s for _, s in Predictor(loaded, PredictOptions(windows_per_batch=1)).predict(docs)]
    many = [s for _, s in Predictor(loaded, PredictOptions(windows_per_batch=5)).predict(docs)]
    assert [[(e.start, e.end, e.label) for e in s] for s in one] == [[(e.start, e.end, e.label) for e in s] for s in many]
    assert [e.score for s in one for e in s] == pytest.approx([e.score for s in many for e in s], abs=1e-4)


def test_the_nightly_runner_runs_a_crf_model(crf_model, tmp_path):
    s = Setup("parquet", "sqlite", tmp_path, crf_model)
    s.write_source(nightly_docs(12))
    summary = s.run()
    assert (summary["status"], summary["n_processed"]) == ("succeeded", 12)
    assert len(s.csv_rows()) == 12 and s.value_rows()


def test_bio_tags_nested_schema_warning_and_a_transformer_encoder(data, tmp_path, tiny_hf_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="extractor"):
        train_cli(data, tmp_path / "bio", "--head", "crf", "--tags", "bio", "--epochs", 1, "--encoder", tiny_hf_dir)
    assert any("nested: true" in r.getMessage() and "crf" in r.getMessage() for r in caplog.records)
    assert json.loads((tmp_path / "bio" / "config.json").read_text())["head"] == {"type": "crf", "tags": "bio"}
    result = invoke("evaluate", "--model", tmp_path / "bio", "--gold", data / "dev.jsonl")
    assert result.exit_code == 0, result.output


def test_tags_is_for_the_crf_head_only(data, tmp_path):
    result = CliRunner().invoke(main, ["train", "--schema", SCHEMA, "--train", str(data / "train.jsonl"),
                                       "--out", str(tmp_path / "m"), "--head", "gp", "--tags", "bio"])
    assert result.exit_code == 2 and "--tags applies to --head crf only" in result.output


def test_overlapping_gold_spans_are_dropped_with_one_warning(tmp_path, caplog):
    schema = Schema.load(FLAT_SCHEMA)
    text = "张三，北京大学计算机系教授。"
    nested = [Entity(0, 2, "NAME"), Entity(3, 7, "ORG"), Entity(3, 5, "LOC"), Entity(3, 10, "ORG")]
    docs = [Document(f"d{i}", text, nested) for i in range(20)]  # 40 windows' worth of batches
    cfg = TrainConfig(epochs=1, head="crf", max_tokens=16, stride=8, batch_size=2, encoder_options=TINY_BILSTM)
    with caplog.at_level(logging.WARNING, logger="extractor"):
        train(cfg, schema, docs, [], tmp_path / "m")
    warnings = [r.getMessage() for r in caplog.records if "overlap" in r.getMessage()]
    assert len(warnings) == 1  # once per run, not per batch
    assert warnings[0].startswith("40 gold entities in 20 documents")  # (3,7) and (3,5) lose to (3,10)
    assert not any("nested: true" in r.getMessage() for r in caplog.records)  # this schema is flat


def test_bench_heads_end_to_end(data, tmp_path):
    out = tmp_path / "bench.json"
    result = invoke("--threads", 1, "bench", "heads", "--train", data / "train.jsonl", "--dev", data / "dev.jsonl",
                    "--schema", SCHEMA, "--epochs", 1, "--repeats", 1, "--max-tokens", 64, "--stride", 48,
                    "--json", out, *options(TINY_BILSTM))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "dev micro F1" in result.stdout and "train s/epoch" in result.stdout and "predict docs/s" in result.stdout
    assert json.loads(lines[-1])["output"] == str(out)
    report = json.loads(out.read_text())
    assert report["heads"] == ["gp", "crf"] and report["epochs"] == 1 and report["dev_docs"] == 12
    assert {"torch_threads", "cpu_count", "torch"} <= set(report["machine"]) and report["machine"]["torch_threads"] == 1
    for head in ("gp", "crf"):
        r = report["results"][head]
        assert r["head"]["type"] == head and len(r["epoch_train_seconds"]) == 1
        assert r["sec_per_epoch"] > 0 and r["predict_docs_per_s"] > 0 and len(r["predict_seconds"]) == 1
        assert set(r["dev_micro"]) == {"precision", "recall", "f1"}
        assert set(r["dev_labels"]) == {"EDU", "PRO", "IND", "ORG"}
    ratio = report["ratios"]["gp_vs_crf"]
    res = report["results"]
    assert ratio["train_speedup"] == pytest.approx(res["crf"]["sec_per_epoch"] / res["gp"]["sec_per_epoch"], rel=1e-2)
    assert ratio["predict_speedup"] == pytest.approx(
        res["gp"]["predict_docs_per_s"] / res["crf"]["predict_docs_per_s"], rel=1e-2)
    assert ratio["f1_diff"] == pytest.approx(res["gp"]["dev_micro"]["f1"] - res["crf"]["dev_micro"]["f1"], abs=1e-6)
    assert set(ratio["targets_met"]) == {"train_speedup", "predict_speedup", "f1_diff"}


def test_bench_heads_rejects_unknown_heads(data):
    result = CliRunner().invoke(main, ["bench", "heads", "--train", str(data / "train.jsonl"), "--dev",
                                       str(data / "dev.jsonl"), "--schema", SCHEMA, "--heads", "gp,lstm"])
    assert result.exit_code == 2 and "--heads" in result.output
