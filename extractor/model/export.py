"""Export a model directory's network to ONNX (optionally int8) for the ``onnx`` runtimes.

Writes into ``MODEL/onnx/``: ``model.onnx`` (fp32), ``model.int8.onnx`` with ``--quantize int8``
(ONNX Runtime dynamic quantisation: int8 weights, activations quantised per batch), and
``export.json`` naming the model version it was made from, so a retrained model is never paired
with a stale export. Each file is checked against PyTorch on a padded batch before it is kept.
"""
from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Optional

import torch

from extractor.model.directory import LoadedModel, load_model, read_config
from extractor.model.globalpointer import NEG_INF
from extractor.model.runtime import ONNX_DIR, ONNX_FILES, OnnxForward, TorchForward, export_problem
from extractor.model.windows import Window, collate

log = logging.getLogger(__name__)

OPSET = 17
# fp32 ONNX must match PyTorch to rounding; int8 is judged by F1 (docs/benchmarks.md), not here.
FP32_TOLERANCE = 1e-3


def _probe_batch(loaded: LoadedModel, lengths: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded windows of the given lengths, of real vocabulary ids (not pad or markers)."""
    tok = loaded.tokenizer
    generator = torch.Generator().manual_seed(0)
    first = 5  # past pad/unk/markers in both tokenizers' vocabularies
    windows = [Window(0, 0, n, torch.randint(first, max(first + 1, len(tok)), (n,), generator=generator).tolist(), 0)
               for n in lengths]
    return collate(windows, tok.pad_id)


def _max_span_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    real = (a > NEG_INF / 2) & (b > NEG_INF / 2)  # masked spans hold NEG_INF in both: compare real entries
    return float((a[real] - b[real]).abs().max()) if real.any() else 0.0


def export_onnx(model_dir: str | Path, quantize: Optional[str] = None) -> dict:
    """Write MODEL/onnx/model.onnx (and model.int8.onnx); returns what export.json records."""
    if quantize not in (None, "int8"):
        raise ValueError(f"--quantize must be int8, got {quantize!r}")
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise ValueError("ONNX export needs onnx and onnxruntime: pip install 'resume-extractor[onnx]'") from None
    loaded = load_model(model_dir)
    out_dir = Path(model_dir) / ONNX_DIR
    out_dir.mkdir(exist_ok=True)
    fp32_path = out_dir / ONNX_FILES["onnx"]
    started = time.perf_counter()

    # Batch and token dims that differ from every other dim, so the output's dynamic axes can be told apart.
    ids, mask = _probe_batch(loaded, (13, 9, 4))
    output = TorchForward(loaded.model)(ids, mask)
    B, T = ids.shape
    names = {B: "batch", T: "tokens"}
    dynamic_axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                    "output": {d: names[n] for d, n in enumerate(output.shape) if n in names}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter about packed sequences and python scalars
        torch.onnx.export(loaded.model, (ids, mask), str(fp32_path), input_names=["input_ids", "attention_mask"],
                          output_names=["output"], dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)

    # Check on other shapes than the traced one: a shape baked into the graph shows up here.
    check_ids, check_mask = _probe_batch(loaded, (21, 30, 2, 17))
    expected = TorchForward(loaded.model)(check_ids, check_mask)
    fp32_diff = _max_span_diff(OnnxForward(fp32_path)(check_ids, check_mask), expected)
    if fp32_diff > FP32_TOLERANCE:
        fp32_path.unlink()
        raise ValueError(f"ONNX export of {model_dir} disagrees with PyTorch (max |diff| {fp32_diff:.2g}); "
                         "this encoder cannot be exported faithfully")
    info = {"model_version": loaded.version, "opset": OPSET, "onnxruntime": onnxruntime.__version__,
            "torch": torch.__version__, "files": {"onnx": fp32_path.name}, "max_abs_diff": {"onnx": fp32_diff}}
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = out_dir / ONNX_FILES["onnx-int8"]
        # Matrix products and LSTMs only: quantised embedding tables save memory but cost accuracy.
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm", "LSTM"])
        info["files"]["onnx-int8"] = int8_path.name
        info["max_abs_diff"]["onnx-int8"] = _max_span_diff(OnnxForward(int8_path)(check_ids, check_mask), expected)
    info["seconds"] = round(time.perf_counter() - started, 2)
    (out_dir / "export.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    log.info("exported %s to %s in %.1fs", model_dir, out_dir, info["seconds"])
    return info


def prepare_runtime(model_dir: str | Path, runtime: str) -> None:
    """Export when a pipeline's onnx runtime has no current export: missing, or from a retrained model."""
    if runtime not in ONNX_FILES:
        return
    config = read_config(Path(model_dir) / "config.json")
    problem = export_problem(Path(model_dir), runtime, config.get("model_version", "unsaved"))
    if problem is not None:
        log.info("%s: exporting for runtime %s", problem, runtime)
        export_onnx(model_dir, quantize="int8" if runtime == "onnx-int8" else None)
