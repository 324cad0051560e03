"""onnx-int8 and batch composition (docs/benchmarks.md): each window alone (windows_per_batch=1, no
neighbours) against the batches PredictOptions makes, on generated documents (seed 11).

    python benchmarks/int8_batch_composition.py MODEL_DIR N_DOCS full[,lstm-only,matmul-only,fp32]

MODEL_DIR needs an int8 export (``extractor export --model MODEL_DIR --format onnx --quantize int8``).
``full`` is that file; ``lstm-only`` / ``matmul-only`` re-quantise model.onnx with only those ops int8
(to tell which quantised op makes the dependence); ``fp32`` is model.onnx. Prints, per variant and
batching: documents whose decoded spans are identical, spans that appear or vanish, the largest change
of a decoded span's score, and the largest change of any raw span score (and of those within 2 of the
threshold 0).
"""
import json
import sys
import tempfile
import time

import torch
from pathlib import Path
from extractor.data.sample import generate_documents
from extractor.model.directory import load_model
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.runtime import OnnxForward
from extractor.model.windows import collate
from extractor.model.globalpointer import NEG_INF
torch.set_num_threads(1)
md = Path(sys.argv[1]); n_docs = int(sys.argv[2]); variants = sys.argv[3].split(",")
docs = list(generate_documents(n_docs, seed=11))
loaded = load_model(md)
from onnxruntime.quantization import QuantType, quantize_dynamic
files = {"full": md / "onnx/model.int8.onnx", "fp32": md / "onnx/model.onnx"}
for name, ops in (("lstm-only", ["LSTM"]), ("matmul-only", ["MatMul", "Gemm"])):
    if name in variants:
        files[name] = Path(tempfile.mkdtemp()) / f"model.{name}.onnx"
        quantize_dynamic(str(md / "onnx/model.onnx"), str(files[name]), weight_type=QuantType.QInt8, op_types_to_quantize=ops)
settings = {"wpb1": dict(windows_per_batch=1), "default(32,1024tok)": dict(),
            "wpb8": dict(windows_per_batch=8), "wpb64,notokcap": dict(windows_per_batch=64, tokens_per_batch=None)}
report = {}
for v in variants:
    def predictor(**kw):
        p = Predictor(loaded, PredictOptions(threads=1, streams=1, **kw)); p.forward = OnnxForward(files[v], threads=1); return p
    t = time.time()
    results = {}
    for name, kw in settings.items():
        results[name] = [{(e.start, e.end, e.label): e.score for e in ents} for _, ents in predictor(**kw).predict(docs)]
    ref = results["wpb1"]
    out = {}
    for name in settings:
        if name == "wpb1": continue
        same = sum(set(a) == set(b) for a, b in zip(ref, results[name]))
        n_ents = sum(len(a) for a in ref); changed = sum(len(set(a) ^ set(b)) for a, b in zip(ref, results[name]))
        ent_diff = max((abs(a[k] - b[k]) for a, b in zip(ref, results[name]) for k in set(a) & set(b)), default=0.0)
        out[name] = {"docs_identical_spans": f"{same}/{len(ref)}", "spans_in_symdiff": changed, "ref_spans": n_ents,
                     "max_entity_score_diff": round(ent_diff, 4)}
    # raw scores: every window alone vs in the default batches
    p = predictor()
    tok = loaded.tokenizer
    from extractor.model.windows import encode_document, make_windows
    wins = [w for n, d in enumerate(docs) for w in make_windows(n, encode_document(d, tok), tok, p.max_tokens, p.stride)]
    wins.sort(key=lambda w: len(w.input_ids), reverse=True)
    raw = 0.0; raw_near = 0.0
    for batch in p.batches(wins):
        o = p.forward(*collate(batch, tok.pad_id))
        for b, w in enumerate(batch):
            L = len(w.input_ids)
            a = p.forward(*collate([w], tok.pad_id))[0]; c = o[b][..., :L, :L]
            real = (a > NEG_INF / 2) & (c > NEG_INF / 2)
            diff = (a[real] - c[real]).abs()
            raw = max(raw, float(diff.max()))
            near = real & (a.abs() < 2)  # scores near the threshold 0, where a change flips a span
            if near.any(): raw_near = max(raw_near, float((a[near] - c[near]).abs().max()))
    out["raw_window_alone_vs_default_batch"] = {"max_abs": round(raw, 4), "max_abs_where_|score|<2": round(raw_near, 4), "windows": len(wins)}
    out["seconds"] = round(time.time() - t, 1)
    report[v] = out
    print(v, json.dumps(out, indent=1), flush=True)
