"""What runs the network at prediction time: (input_ids, attention_mask) -> the head's raw output.

- ``torch``      fp32 PyTorch, under ``inference_mode``.
- ``torch-int8`` the same model with its Linear and LSTM layers dynamically quantised to int8
                 (weights int8, activations quantised per batch); nothing to prepare.
- ``onnx``       ONNX Runtime on ``onnx/model.onnx``, written by ``extractor export``.
- ``onnx-int8``  ONNX Runtime on ``onnx/model.int8.onnx`` (``extractor export --quantize int8``).

Every runtime returns a torch tensor, so decoding (and therefore the spans) is shared.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import threading
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn

from extractor.model.directory import LoadedModel
from extractor.model.options import RUNTIMES
ONNX_DIR = "onnx"
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}


class TorchForward:
    """PyTorch under ``inference_mode``. ``threads`` is torch's intra-op thread count for one call;
    torch's setting is process-wide, so ``with_threads`` sets it and puts the old one back."""

    def __init__(self, model: nn.Module, threads: Optional[int] = None):
        self.model = model
        self.threads = threads or torch.get_num_threads()

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.model.training:  # training hands its model over between epochs
            self.model.eval()
        return self.model(input_ids, attention_mask)

    @contextlib.contextmanager
    def with_threads(self, threads: int) -> Iterator[None]:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose Linear and LSTM layers compute with int8 weights."""
    with warnings.catch_warnings():
        # torch.ao's eager quantisation is deprecated in favour of torchao, which is not a dependency here.
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.Linear, nn.LSTM}, dtype=torch.qint8)
    return quantized


class OnnxForward:
    """ONNX Runtime over an exported model; inputs and outputs as torch tensors.

    A session's thread count is fixed when it is made, so there is one session per thread count
    used: ``threads`` for a lone batch (made here, so a broken file fails at load), one thread for
    concurrent streams (made on first use).
    """

    def __init__(self, path: Path, threads: Optional[int] = None):
        self.path = path
        self.threads = threads or torch.get_num_threads()
        self._call_threads = self.threads
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.session(self.threads)  # a broken file fails here, not at the first batch

    def session(self, threads: int) -> Any:
        with self._lock:
            if threads not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                self._sessions[threads] = ort.InferenceSession(str(self.path), options,
                                                               providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.session(self._call_threads).run(None, feed)[0])

    @contextlib.contextmanager
    def with_threads(self, threads: int) -> Iterator[None]:
        before, self._call_threads = self._call_threads, threads
        try:
            yield
        finally:
            self._call_threads = before


Forward = Union[TorchForward, OnnxForward]


# Concurrent streams pay once there are this many batches per stream; with fewer (one document of
# a few windows: the latency case) a stream would finish a long batch on one thread while the
# other threads idle, so every thread works on one batch at a time instead.
MIN_BATCHES_PER_STREAM = 4


def run_batches(forward: Forward, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                streams: Optional[int] = None) -> Iterator[torch.Tensor]:
    """The network's output for each (input_ids, attention_mask) batch, in order.

    With many batches, each batch gets one thread and ``forward.threads`` batches run at once: on
    this project's 2-core machine that is 1.1-1.7x faster than splitting every batch across the
    threads (docs/benchmarks.md, batches of 1,024 tokens), since no thread waits for the other at
    every layer and time step. ``streams=1`` gives every thread to one batch at a time.
    """
    streams = min(streams or forward.threads, forward.threads)
    if streams <= 1 or len(batches) < MIN_BATCHES_PER_STREAM * streams:
        with forward.with_threads(forward.threads):
            yield from (forward(ids, mask) for ids, mask in batches)
        return
    with forward.with_threads(1), ThreadPoolExecutor(streams, thread_name_prefix="extractor-forward") as pool:
        in_flight: deque = deque()
        for ids, mask in batches:
            in_flight.append(pool.submit(forward, ids, mask))
            if len(in_flight) > streams:  # bounded: outputs wait for the decoder, not pile up
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def load_runtime(loaded: LoadedModel, runtime: str = "torch", threads: Optional[int] = None) -> Forward:
    """``threads``: compute threads (default: torch's current setting)."""
    if runtime == "torch":
        return TorchForward(loaded.model, threads)
    if runtime == "torch-int8":
        return TorchForward(quantize_dynamic_int8(loaded.model), threads)
    if runtime in ONNX_FILES:
        forward = OnnxForward(onnx_path(loaded, runtime), threads)
        # torch now only decodes; its idle OpenMP workers would spin on the cores ONNX Runtime's
        # threads need (measured: 3 ms -> 8 ms per document, and 4 ms scheduler-tick jitter).
        # A second onnx predictor in this process must then be given ``threads``.
        torch.set_num_threads(1)
        return forward
    raise ValueError(f"unknown runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")


def onnx_path(loaded: LoadedModel, runtime: str) -> Path:
    """The exported file for ``runtime``, checked to belong to this very model."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ValueError(f"runtime {runtime!r} needs ONNX Runtime: pip install 'resume-extractor[onnx]'") from None
    if loaded.directory is None:
        raise ValueError(f"runtime {runtime!r} needs a saved model directory with an ONNX export")
    problem = export_problem(Path(loaded.directory), runtime, loaded.version)
    if problem is not None:
        quantize = " --quantize int8" if runtime == "onnx-int8" else ""
        error = FileNotFoundError if problem.endswith("is missing") else ValueError
        raise error(f"{problem}: run `extractor export --model {loaded.directory} --format onnx{quantize}`")
    return Path(loaded.directory) / ONNX_DIR / ONNX_FILES[runtime]


def export_problem(model_dir: Path, runtime: str, model_version: str) -> Optional[str]:
    """Why ``runtime``'s exported file cannot serve this model version (missing, stale), or None."""
    path = model_dir / ONNX_DIR / ONNX_FILES[runtime]
    if not path.exists():
        return f"{path} is missing"
    info_path = model_dir / ONNX_DIR / "export.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    if info.get("model_version") != model_version or path.name not in info.get("files", {}).values():
        # Weights retrained in place, or a file left by an earlier export (an fp32-only re-export keeps
        # the old int8 file): either would silently predict with an old model.
        return (f"{path} was exported from model version {info.get('model_version')}, but the model is now "
                f"{model_version}" if info.get("model_version") != model_version else
                f"{path} is not part of the latest export (of model version {model_version})")
    return None


def default_threads() -> int:
    """One compute thread per core this process may use (containers often allow fewer than the host has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
