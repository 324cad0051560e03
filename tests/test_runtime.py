"""Prediction runtimes (fp32, torch int8, ONNX, ONNX int8), `extractor export` and `extractor bench speed`."""
import json

import pytest
import torch
from conftest import TINY_BILSTM, invoke

from extractor.model.directory import load_model
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.runtime import OnnxForward, TorchForward, load_runtime
from extractor.model.train import TrainConfig, train
from extractor.model.windows import collate, encode_document, make_windows
from extractor.nightly.config import PipelineError, parse_pipeline

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def bilstm_dir(tmp_path_factory, sample_docs, resume_schema):
    out = tmp_path_factory.mktemp("rt-bilstm") / "model"
    cfg = TrainConfig(encoder="bilstm", epochs=4, max_tokens=64, stride=48, seed=5, encoder_options=TINY_BILSTM)
    train(cfg, resume_schema, sample_docs[:36], sample_docs[36:], out, progress=False)
    return out


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, sample_docs, resume_schema, tiny_hf_dir):
    out = tmp_path_factory.mktemp("rt-bert") / "model"
    cfg = TrainConfig(encoder=str(tiny_hf_dir), epochs=2, max_tokens=64, stride=48, seed=5, lr=1e-3)
    train(cfg, resume_schema, sample_docs[:36], sample_docs[36:], out, progress=False)
    return out


@pytest.fixture(scope="module")
def exported(bilstm_dir, bert_dir):
    for model_dir in (bilstm_dir, bert_dir):
        result = invoke("export", "--model", model_dir, "--format", "onnx", "--quantize", "int8")
        assert result.exit_code == 0, result.output
    return {"bilstm": bilstm_dir, "bert": bert_dir}


def windows_batch(loaded, docs):
    windows = []
    for n, doc in enumerate(docs):
        windows += make_windows(n, encode_document(doc, loaded.tokenizer), loaded.tokenizer, 64, 48)
    return collate(windows[:12], loaded.tokenizer.pad_id)


def spans(predictor, docs):
    return {(d.doc_id, e.start, e.end, e.label) for d, ents in predictor.predict(docs) for e in ents}


def agreement(a: set, b: set) -> float:
    return 1.0 if not a | b else len(a & b) / len(a | b)


@pytest.mark.parametrize("kind", ["bilstm", "bert"])
def test_onnx_export_matches_torch_on_padded_batches(exported, kind, sample_docs):
    model_dir = exported[kind]
    info = json.loads((model_dir / "onnx" / "export.json").read_text())
    loaded = load_model(model_dir)
    assert info["model_version"] == loaded.version and set(info["files"]) == {"onnx", "onnx-int8"}
    ids, mask = windows_batch(loaded, sample_docs[36:])
    assert (mask == 0).any(), "the batch must contain padding"
    expected = TorchForward(loaded.model)(ids, mask)
    got = OnnxForward(model_dir / "onnx" / "model.onnx")(ids, mask)
    real = expected > -1e11
    assert got.shape == expected.shape and torch.equal(real, got > -1e11)
    assert (got[real] - expected[real]).abs().max() < 1e-3


# int8 moves no span score of the tiny test models by this much (measured: at most 0.38 for onnx-int8 and 0.05 for
# torch-int8 on the tiny BERT).
INT8_SCORE_ERROR = 0.5


@pytest.mark.parametrize("kind", ["bilstm", "bert"])
def test_every_runtime_predicts_what_fp32_predicts(exported, kind, sample_docs):
    loaded = load_model(exported[kind])
    docs = sample_docs[36:42]

    def predicted(threshold: float, runtime: str = "torch") -> set:
        return spans(Predictor(loaded, PredictOptions(threshold=threshold, runtime=runtime)), docs)

    # A threshold below 0 makes many borderline spans: a tougher comparison than the few confident ones.
    reference = predicted(-1.0)
    assert len(reference) > 20
    assert predicted(-1.0, "onnx") == reference
    # An int8 runtime finds every span fp32 scores clearly above the threshold and none it scores clearly below.
    # Not a share of equal spans: 84% of the tiny BERT's span scores lie within 0.5 of -1, so how many cross it
    # depended on the random initialisation, and that share passed or failed by PYTHONHASHSEED.
    surely_in, perhaps_in = predicted(-1.0 + INT8_SCORE_ERROR), predicted(-1.0 - INT8_SCORE_ERROR)
    for runtime in ("torch-int8", "onnx-int8"):
        found = predicted(-1.0, runtime)
        assert surely_in <= found, (runtime, sorted(surely_in - found)[:5])
        assert found <= perhaps_in, (runtime, sorted(found - perhaps_in)[:5])


def test_torch_int8_quantises_linear_and_lstm_layers(bilstm_dir):
    from torch.ao.nn.quantized import dynamic

    forward = load_runtime(load_model(bilstm_dir), "torch-int8")
    modules = list(forward.model.modules())
    assert any(isinstance(m, dynamic.Linear) for m in modules) and any(isinstance(m, dynamic.LSTM) for m in modules)
    assert not any(type(m) in (torch.nn.Linear, torch.nn.LSTM) for m in modules)


def test_padding_to_the_full_window_changes_nothing(bilstm_dir, bert_dir, sample_docs):
    for model_dir in (bilstm_dir, bert_dir):
        loaded = load_model(model_dir)
        dynamic = spans(Predictor(loaded, PredictOptions(threshold=-1.0)), sample_docs[36:42])
        padded = spans(Predictor(loaded, PredictOptions(threshold=-1.0, windows_per_batch=1), pad_to_window=True), sample_docs[36:42])
        assert agreement(padded, dynamic) == 1.0


def test_onnx_runtime_without_export_names_the_command(tmp_path, bilstm_dir):
    import shutil

    copy = shutil.copytree(bilstm_dir, tmp_path / "m", ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(FileNotFoundError, match="extractor export --model .* --format onnx --quantize int8"):
        Predictor.from_directory(copy, PredictOptions(runtime="onnx-int8"))


def test_stale_export_is_refused(tmp_path, exported):
    import shutil

    copy = shutil.copytree(exported["bilstm"], tmp_path / "m")
    config = json.loads((copy / "config.json").read_text())
    config["model_version"] = "0123456789abcdef"  # as if retrained in place
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="exported from model version .*: run `extractor export"):
        Predictor.from_directory(copy, PredictOptions(runtime="onnx"))


def test_unknown_runtime_is_a_clear_error(bilstm_dir):
    with pytest.raises(ValueError, match="unknown runtime 'gpu'.*torch, torch-int8, onnx, onnx-int8"):
        Predictor.from_directory(bilstm_dir, PredictOptions(runtime="gpu"))
    raw = {"source": {"type": "parquet", "path": "x.parquet"}, "model": "m", "database": "sqlite://",
           "runtime": "int4"}
    with pytest.raises(PipelineError, match="runtime must be one of"):
        parse_pipeline(raw, "p.yaml")
    assert parse_pipeline(dict(raw, runtime="onnx-int8"), "p.yaml").predict.runtime == "onnx-int8"


def test_bench_speed_writes_every_figure(exported, tmp_path):
    out = tmp_path / "bench.json"
    result = invoke("--threads", "1", "bench", "speed", "--encoder", exported["bilstm"], "--lengths", "16,40",
                    "--latency-docs", "2", "--mixed-docs", "6", "--batch-size", "4", "--json", out)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["machine"]["threads"] == 1 and figures["settings"]["lengths"] == [16, 40]
    (entry,) = figures["encoders"].values()
    assert set(entry["paths"]) == {"naive", "fp32", "torch-int8", "onnx", "onnx-int8"}
    for path in entry["paths"].values():
        assert set(path["latency"]) == {"16", "40"}
        assert path["latency"]["40"]["p95_ms"] >= path["latency"]["40"]["p50_ms"] > 0
        assert path["docs_per_s"] > 0 and path["chars_per_s"] > 0 and path["peak_rss_mib"] > 50
    assert entry["summary"]["fastest_runtime"] in {"torch-int8", "onnx", "onnx-int8"}
    assert "fp32_throughput_vs_naive" in entry["summary"]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {k: v["summary"] for k, v in figures["encoders"].items()}
    # The bench exported a copy; the user's model directory is untouched.
    assert json.loads((exported["bilstm"] / "onnx" / "export.json").read_text())["model_version"]


def test_bench_speed_rejects_unknown_encoders():
    result = invoke("bench", "speed", "--encoder", "gpt-9", "--mixed-docs", "1", "--latency-docs", "1")
    assert result.exit_code == 1 and "unknown bench encoder 'gpt-9'" in result.output


def test_evaluate_and_predict_take_a_runtime(exported, tmp_path, sample_docs):
    from extractor.data.documents import write_documents

    gold = tmp_path / "gold.jsonl"
    write_documents(sample_docs[36:42], gold)
    scores = {}
    for runtime in ("torch", "onnx"):
        result = invoke("evaluate", "--model", exported["bilstm"], "--gold", gold, "--runtime", runtime,
                        "--output", tmp_path / f"{runtime}.json")
        assert result.exit_code == 0, result.output
        metrics = json.loads((tmp_path / f"{runtime}.json").read_text())
        assert metrics["runtime"] == runtime
        scores[runtime] = metrics["micro"]
    assert scores["onnx"] == scores["torch"]
    bare = tmp_path / "bare"
    import shutil

    shutil.copytree(exported["bilstm"], bare, ignore=shutil.ignore_patterns("onnx"))
    result = invoke("predict", "--model", bare, "--input", gold, "--output", tmp_path / "p.jsonl", "--runtime", "onnx")
    assert result.exit_code == 1 and "extractor export --model" in result.output


def test_pipelines_export_on_first_use_and_after_the_model_changed(tmp_path, bilstm_dir):
    import shutil

    from extractor.model.export import prepare_runtime

    copy = shutil.copytree(bilstm_dir, tmp_path / "m", ignore=shutil.ignore_patterns("onnx"))
    prepare_runtime(copy, "torch")
    assert not (copy / "onnx").exists()
    prepare_runtime(copy, "onnx-int8")
    int8 = copy / "onnx" / "model.int8.onnx"
    first = int8.stat().st_mtime_ns
    prepare_runtime(copy, "onnx-int8")  # current: left alone
    assert int8.stat().st_mtime_ns == first
    config = json.loads((copy / "config.json").read_text())
    config["model_version"] = "fedcba9876543210"  # as if retrained in place
    (copy / "config.json").write_text(json.dumps(config))
    prepare_runtime(copy, "onnx-int8")
    assert json.loads((copy / "onnx" / "export.json").read_text())["model_version"] == "fedcba9876543210"
    assert Predictor.from_directory(copy, PredictOptions(runtime="onnx-int8")).options.runtime == "onnx-int8"


def test_onnx_runtime_gets_the_threads_and_torch_keeps_one(exported):
    before = torch.get_num_threads()
    try:
        predictor = Predictor.from_directory(exported["bilstm"], PredictOptions(runtime="onnx-int8", threads=2))
        assert predictor.forward.session(2).get_session_options().intra_op_num_threads == 2
        assert torch.get_num_threads() == 1  # torch only decodes now: its workers must not spin on the cores
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("runtime", ["torch", "torch-int8", "onnx-int8"])
def test_concurrent_streams_predict_what_one_stream_predicts(exported, runtime, sample_docs):
    before = torch.get_num_threads()
    try:
        loaded = load_model(exported["bilstm"])
        docs = sample_docs[30:48]
        one = Predictor(loaded, PredictOptions(threshold=-1.0, windows_per_batch=2, runtime=runtime, threads=1))
        two = Predictor(loaded, PredictOptions(threshold=-1.0, windows_per_batch=2, runtime=runtime, threads=2))
        assert two.forward.threads == 2

        def predicted(predictor):
            return [(d.doc_id, [(e.start, e.end, e.label, round(e.score, 3)) for e in ents])
                    for d, ents in predictor.predict(docs)]

        reference = predicted(one)
        outside = torch.get_num_threads()
        streamed = predicted(two)
        assert streamed == reference and sum(len(e) for _, e in reference) > 20
        if runtime == "onnx-int8":
            assert set(two.forward._sessions) == {1, 2}  # the 1-thread session served the streams
        else:
            assert torch.get_num_threads() == outside  # set back after the streams ran on one thread each
    finally:
        torch.set_num_threads(before)


def test_run_batches_keeps_order_and_bounds_what_is_in_flight():
    import contextlib
    import threading
    import time

    from extractor.model.runtime import run_batches

    class Recorder:
        threads = 2
        running = peak = 0

        def __call__(self, ids, mask):
            with lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            time.sleep(0.01 * (3 - int(ids[0, 0]) % 3))  # later batches may finish first
            with lock:
                self.running -= 1
            return ids * 10

        def with_threads(self, n):
            return contextlib.nullcontext()

    lock = threading.Lock()
    forward = Recorder()
    batches = [(torch.full((1, 3), i), torch.ones(1, 3)) for i in range(9)]
    out = list(run_batches(forward, batches))
    assert [int(o[0, 0]) for o in out] == [10 * i for i in range(9)]
    assert forward.peak == 2


def test_batch_tokens_caps_padded_tokens_per_batch(bilstm_dir, sample_docs):
    loaded = load_model(bilstm_dir)
    predictor = Predictor(loaded, PredictOptions(windows_per_batch=32, tokens_per_batch=150, threshold=-1.0))
    windows = []
    for n, doc in enumerate(sample_docs[:20]):
        windows += make_windows(n, encode_document(doc, loaded.tokenizer), loaded.tokenizer, 64, 48)
    windows.sort(key=lambda w: len(w.input_ids))
    batches = list(predictor.batches(windows))
    assert [w for b in batches for w in b] == windows  # every window once, in order
    assert all(len(b) * max(len(w.input_ids) for w in b) <= 150 or len(b) == 1 for b in batches)
    assert max(len(b) for b in batches) > 1  # short windows still share a batch
    uncapped = spans(Predictor(loaded, PredictOptions(threshold=-1.0)), sample_docs[36:42])
    assert spans(Predictor(loaded, PredictOptions(threshold=-1.0, tokens_per_batch=150)), sample_docs[36:42]) == uncapped


def test_a_file_left_by_an_earlier_export_is_not_used(tmp_path, exported):
    import shutil

    from extractor.model.export import export_onnx

    copy = shutil.copytree(exported["bilstm"], tmp_path / "m")
    export_onnx(copy)  # fp32 only: model.int8.onnx stays on disk from the int8 export before
    assert (copy / "onnx" / "model.int8.onnx").exists()
    with pytest.raises(ValueError, match="not part of the latest export"):
        Predictor.from_directory(copy, PredictOptions(runtime="onnx-int8"))


# onnx-int8 quantises activations per tensor, over the whole batch (DynamicQuantizeLSTM, DynamicQuantizeLinear):
# a window's scores move slightly with the windows that share its batch. The documented bound
# (docs/benchmarks.md, "onnx-int8 and batch composition"): decoded-span scores moved 0.058-0.069 on this model, 0.045 on a demo-sized one.
INT8_BATCH_SCORE_BOUND = 0.15


def test_onnx_int8_depends_on_batch_composition_only_within_the_documented_bound(exported, sample_docs):
    loaded = load_model(exported["bilstm"])
    docs = sample_docs[30:48]

    def scored(runtime, **batching):
        predictor = Predictor(loaded, PredictOptions(threshold=-1.0, runtime=runtime, threads=1, streams=1, **batching))
        return [{(e.start, e.end, e.label): e.score for e in ents} for _, ents in predictor.predict(docs)]

    for runtime, bound in (("onnx", 1e-4), ("onnx-int8", INT8_BATCH_SCORE_BOUND)):
        alone = scored(runtime, windows_per_batch=1)  # every window its own batch: no neighbours at all
        assert sum(map(len, alone)) > 20
        for batching in ({}, {"windows_per_batch": 4}, {"windows_per_batch": 64, "tokens_per_batch": None}):
            batched = scored(runtime, **batching)
            same = sum(set(a) == set(b) for a, b in zip(alone, batched))
            assert same >= 0.9 * len(docs), (runtime, batching, same)  # measured: every document
            if runtime == "onnx":
                assert same == len(docs), batching  # fp32: batch-independent to float precision
            diff = max(abs(a[k] - b[k]) for a, b in zip(alone, batched) for k in set(a) & set(b))
            assert diff <= bound, (runtime, batching, diff)
