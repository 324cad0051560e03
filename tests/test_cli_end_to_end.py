"""train -> predict -> evaluate through the command line, for every encoder kind and head."""
import csv
import json

import pytest
from conftest import ROOT, TINY_BILSTM, invoke, options

from extractor.data.documents import read_documents, write_documents
from extractor.model.directory import load_model
from extractor.model.predict import PredictOptions, Predictor

SCHEMA = str(ROOT / "schemas" / "resume.yaml")
TINY_BERT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory, sample_docs):
    root = tmp_path_factory.mktemp("data")
    write_documents(sample_docs[:36], root / "train.jsonl")
    write_documents(sample_docs[36:], root / "dev.parquet")
    return root


def train(data, out, *extra):
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--dev", data / "dev.parquet",
                    "--out", out, "--max-tokens", 64, "--stride", 48, "--seed", 3, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bilstm_model(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bilstm") / "model"
    summary = train(data, out, "--epochs", 3, *options(TINY_BILSTM))
    assert summary["best_epoch"] >= 1
    return out


def test_model_directory_is_self_contained(bilstm_model):
    names = {p.name for p in bilstm_model.iterdir()}
    assert names == {"config.json", "model.safetensors", "vocab.json", "schema.yaml", "metrics.json"}
    config = json.loads((bilstm_model / "config.json").read_text())
    assert config["labels"] == ["EDU", "PRO", "IND", "ORG"] and len(config["model_version"]) == 16
    metrics = json.loads((bilstm_model / "metrics.json").read_text())
    assert len(metrics["history"]) == 3 and metrics["dev"]["n_docs"] == 12


def test_predict_writes_jsonl_parquet_and_csv(bilstm_model, data, tmp_path):
    for name in ("pred.jsonl", "pred.parquet", "pred.csv"):
        result = invoke("predict", "--model", bilstm_model, "--input", data / "dev.parquet", "--output", tmp_path / name)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout.strip().splitlines()[-1])["documents"] == 12
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {"doc_id", "entities", "fields", "values"} <= set(rows[0])
    assert set(rows[0]) <= {"doc_id", "entities", "fields", "values", "notes"}  # notes: why a field is empty
    assert set(rows[0]["fields"]) == {"education", "industry", "major"}
    for row in rows:  # every value is traced: its field's string, its span and the rule that made it
        for v in row["values"]:
            assert v["value"] in row["fields"][v["field"]].split("|") and v["rule"]
    dev = {d.doc_id: d.text for d in read_documents(data / "dev.parquet")}
    for row in rows:
        for e in row["entities"]:
            assert dev[row["doc_id"]][e["start"]:e["end"]] == e["text"] and "score" in e
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "pred.parquet")
    assert table.num_rows == 12 and {"doc_id", "entities", "education", "industry", "major"} <= set(table.column_names)
    with (tmp_path / "pred.csv").open() as fh:
        spans = list(csv.DictReader(fh))
    assert len(spans) == sum(len(r["entities"]) for r in rows)


def test_evaluate_writes_the_documented_keys(bilstm_model, data, tmp_path):
    out = tmp_path / "metrics.json"
    result = invoke("evaluate", "--model", bilstm_model, "--gold", data / "dev.parquet", "--output", out)
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert m["n_docs"] == 12
    assert set(m["labels"]) == {"EDU", "PRO", "IND", "ORG"}
    assert set(m["micro"]) == set(m["macro"]) == {"precision", "recall", "f1"}
    assert set(m["fields"]) == {"education", "industry", "major"}
    assert set(m["fields"]["education"]) == {"precision", "recall", "f1", "accuracy", "support"}
    assert 0.0 <= m["doc_exact_match"] <= 1.0
    # The saved model reproduces the dev score it was selected on.
    saved = json.loads((bilstm_model / "metrics.json").read_text())["dev"]
    assert m["micro"] == saved["micro"]


def test_saved_model_predicts_like_the_trained_one(bilstm_model, sample_docs):
    a = load_model(bilstm_model)
    b = load_model(bilstm_model)
    docs = sample_docs[36:]
    first = [spans for _, spans in Predictor(a, PredictOptions(windows_per_batch=4)).predict(docs)]
    second = [spans for _, spans in Predictor(b, PredictOptions(windows_per_batch=1)).predict(docs)]  # batching does not change results
    assert [[(e.start, e.end, e.label) for e in s] for s in first] == [[(e.start, e.end, e.label) for e in s] for s in second]


def test_training_is_reproducible_with_a_seed(data, tmp_path):
    a = train(data, tmp_path / "a", "--epochs", 1, *options(TINY_BILSTM))
    b = train(data, tmp_path / "b", "--epochs", 1, *options(TINY_BILSTM))
    va = json.loads((tmp_path / "a" / "config.json").read_text())["model_version"]
    vb = json.loads((tmp_path / "b" / "config.json").read_text())["model_version"]
    assert va == vb and a["dev_micro_f1"] == b["dev_micro_f1"]


def test_efficient_head_and_sparse_loss_train(data, tmp_path):
    train(data, tmp_path / "egp", "--epochs", 1, "--head", "egp", "--loss", "sparse", *options(TINY_BILSTM))
    config = json.loads((tmp_path / "egp" / "config.json").read_text())
    assert config["head"]["type"] == "egp"
    result = invoke("evaluate", "--model", tmp_path / "egp", "--gold", data / "dev.parquet")
    assert result.exit_code == 0


def test_bert_from_scratch_trains_predicts_and_evaluates(data, tmp_path):
    train(data, tmp_path / "bert", "--epochs", 1, "--encoder", "bert-scratch", *options(TINY_BERT))
    assert (tmp_path / "bert" / "encoder" / "config.json").exists()
    result = invoke("evaluate", "--model", tmp_path / "bert", "--gold", data / "dev.parquet", "--output", tmp_path / "m.json")
    assert result.exit_code == 0, result.output


def test_local_pretrained_checkpoint_end_to_end(data, tiny_hf_dir, tmp_path):
    """Path (a): a Hugging Face directory on disk, random weights, saved by save_pretrained."""
    out = tmp_path / "hf"
    train(data, out, "--epochs", 1, "--encoder", tiny_hf_dir)
    assert {"config.json", "model.safetensors", "schema.yaml", "metrics.json", "encoder"} <= {p.name for p in out.iterdir()}
    assert (out / "encoder" / "tokenizer.json").exists() and (out / "encoder" / "config.json").exists()
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))
    # The model directory does not need the original checkpoint any more.
    result = invoke("predict", "--model", out, "--input", data / "dev.parquet", "--output", tmp_path / "p.jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    dev = {d.doc_id: d.text for d in read_documents(data / "dev.parquet")}
    assert all(dev[r["doc_id"]][e["start"]:e["end"]] == e["text"] for r in rows for e in r["entities"])
    result = invoke("evaluate", "--model", out, "--gold", data / "dev.parquet", "--output", tmp_path / "m.json")
    assert result.exit_code == 0 and json.loads((tmp_path / "m.json").read_text())["n_docs"] == 12


def test_long_documents_are_windowed_not_truncated(bilstm_model, sample_docs):
    loaded = load_model(bilstm_model)
    long_docs = [d for d in sample_docs if len(d.text) > 1000]
    assert long_docs
    predictor = Predictor(loaded)
    for doc, spans in predictor.predict(long_docs):
        assert len({(e.start, e.end, e.label) for e in spans}) == len(spans)
        assert all(0 <= e.start < e.end <= len(doc.text) for e in spans)
    assert predictor.windows_made > len(long_docs)  # 64-token windows: every long document is split


def test_clear_errors_for_bad_inputs(data, tmp_path):
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--out", tmp_path / "x",
                    "--encoder", tmp_path / "nowhere")
    assert result.exit_code == 1 and "local Hugging Face model directory" in result.output
    result = invoke("predict", "--model", tmp_path, "--input", data / "dev.parquet", "--output", tmp_path / "p.jsonl")
    assert result.exit_code == 1 and "not a model directory" in result.output
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--out", tmp_path / "y",
                    "--max-tokens", 64, "--stride", 64)
    assert result.exit_code == 1 and "stride" in result.output
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--out", tmp_path / "z",
                    "--encoder-option", "num_hidden_layers=2")
    assert result.exit_code == 1 and "num_hidden_layers" in result.output and "hidden_size" in result.output


def test_training_without_dev_keeps_the_lowest_loss_epoch(data, tmp_path):
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--out", tmp_path / "nodev",
                    "--max-tokens", 64, "--stride", 48, "--epochs", 2, *options(TINY_BILSTM))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "nodev" / "metrics.json").read_text())
    losses = [row["loss"] for row in metrics["history"]]
    assert metrics["best_epoch"] == 1 + losses.index(min(losses)) and metrics["dev"] is None


def test_time_budget_stops_before_an_epoch_that_would_not_fit(data, tmp_path):
    summary = train(data, tmp_path / "budget", "--epochs", 5, "--max-minutes", 0.0001, *options(TINY_BILSTM))
    metrics = json.loads((tmp_path / "budget" / "metrics.json").read_text())
    assert len(metrics["history"]) == 1 and summary["best_epoch"] == 1
    # One epoch of a tiny model is not a usable model: the budget's cut is said loudly, in the summary too.
    assert metrics["stopped_by"] == "time budget"
    assert "--max-minutes budget stopped training" in summary["warning"] == metrics["warning"]


@pytest.mark.parametrize("ema, recorded", [("0", None), ("0.9", 0.9)])
def test_ema_decay_is_a_training_option(data, tmp_path, ema, recorded):
    train(data, tmp_path / "m", "--epochs", 1, "--ema", ema, *options(TINY_BILSTM))
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["config"]["ema"] == recorded


@pytest.mark.parametrize("flags, rates", [((), (2e-3, 2e-3)), (("--lr", "1e-3"), (1e-3, 1e-3)),
                                          (("--head-lr", "6e-3"), (2e-3, 6e-3))])
def test_learning_rates_are_training_options_and_recorded_as_used(data, tmp_path, flags, rates):
    train(data, tmp_path / "m", "--epochs", 1, *flags, *options(TINY_BILSTM))
    config = json.loads((tmp_path / "m" / "metrics.json").read_text())["config"]
    assert (config["lr"], config["head_lr"]) == rates


def test_a_head_learning_rate_of_zero_is_refused(data, tmp_path):
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--out", tmp_path / "m",
                    "--head-lr", 0)
    assert result.exit_code == 2 and "--head-lr" in result.output


def test_ema_decay_of_one_is_refused(data, tmp_path):
    result = invoke("train", "--schema", SCHEMA, "--train", data / "train.jsonl", "--out", tmp_path / "m", "--ema", 1)
    assert result.exit_code == 2 and "--ema" in result.output
