"""How fast can a 4-layer, 768-hidden BERT be on this CPU? The floor set by its int8 matrix products.

    python benchmarks/int8_gemm_floor.py --tokens 130 --threads 2

Builds one ONNX graph per weight matrix shape of a BERT layer (Q, K, V and attention output
768x768; FFN in 768x3072 and out 3072x768), quantises it the way ``extractor export --quantize
int8`` does (ONNX Runtime dynamic int8: DynamicQuantizeMatMul), and times it alone on a
(tokens x in) input. The encoder's dense products are 4 layers x those 6 matrices; summing
their measured times gives the time a 4-layer BERT must spend on matrix products before anything
else (attention scores, softmax, layer norms, GELU, embeddings, the GlobalPointer head). Prints
JSON: per-shape milliseconds and GMAC/s, and the floor in milliseconds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

LAYER_SHAPES = {"q": (768, 768), "k": (768, 768), "v": (768, 768), "attention_out": (768, 768),
                "ffn_in": (768, 3072), "ffn_out": (3072, 768)}


def matmul_model(path: Path, n_in: int, n_out: int) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array((np.random.default_rng(0).standard_normal((n_in, n_out)) * 0.02)
                                     .astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["tokens", n_out])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def time_ms(model: Path, tokens: int, n_in: int, threads: int, repeats: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((tokens, n_in)).astype(np.float32)
    for _ in range(20):
        session.run(None, {"x": x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, {"x": x})
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=130, help="rows: a 128-character document + [CLS], [SEP]")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    shapes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (n_in, n_out) in LAYER_SHAPES.items():
            fp32 = matmul_model(Path(tmp) / f"{name}.onnx", n_in, n_out)
            int8 = Path(tmp) / f"{name}.int8.onnx"
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
            ms = time_ms(int8, args.tokens, n_in, args.threads, args.repeats)
            shapes[name] = {"shape": [args.tokens, n_in, n_out], "ms": round(ms, 3),
                            "gmac_per_s": round(args.tokens * n_in * n_out / ms / 1e6, 1)}
    per_layer = sum(s["ms"] for s in shapes.values())
    macs = args.layers * sum(args.tokens * n_in * n_out for n_in, n_out in LAYER_SHAPES.values())
    print(json.dumps({"tokens": args.tokens, "threads": args.threads, "layers": args.layers, "shapes": shapes,
                      "encoder_gmac": round(macs / 1e9, 3), "floor_ms": round(args.layers * per_layer, 2)}, indent=2))


if __name__ == "__main__":
    main()
