"""What a user chooses about a model, without loading torch: the prediction options, the runtimes, the
heads and the CRF tag schemes.

The command line builds its choices and defaults from these names when it starts, so this module (and
everything it imports) stays free of torch: ``extractor --help`` need not load a deep-learning library.
The modules that implement the choices (``predict.py``, ``runtime.py``, ``heads.py``, ``crf.py``) import
them from here.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional, get_args, get_type_hints

RUNTIMES = ("torch", "torch-int8", "onnx", "onnx-int8")  # extractor/model/runtime.py
HEAD_TYPES = ("gp", "egp", "crf")  # extractor/model/heads.py
TAG_ROLES = {"bio": "BI", "bioes": "BIES"}  # a CRF tag scheme's roles per type (extractor/model/crf.py)
TAG_SCHEMES = tuple(sorted(TAG_ROLES))

# Padded tokens per forward pass: the best of 512-8192 for the BiLSTM (1024-2048) and near the best
# for a 4-layer 768 BERT (512; 1024 is 7% slower there), docs/benchmarks.md.
DEFAULT_BATCH_TOKENS = 1024


@dataclass(frozen=True)
class PredictOptions:
    """How a model predicts, wherever it runs (CLI, local pipeline, Ray actor, benchmark).

    A pipeline's ``predict:`` section has exactly these keys (``extractor.nightly.config``), so a
    field added here is a pipeline setting too. Frozen and plain, so it pickles to Ray actors and
    spawned benchmark processes unchanged.
    """

    # At most this many windows per forward pass.
    windows_per_batch: int = 32
    # A batch is also capped at this many padded tokens (windows x longest window): on a CPU one
    # 360-token window already fills the matrix units, and wider batches only spill the
    # (B, heads, T, T) attention and (B, a, T, T) span scores out of cache (docs/benchmarks.md).
    # A longer window goes alone. None: windows count alone.
    tokens_per_batch: Optional[int] = DEFAULT_BATCH_TOKENS
    max_span_len: Optional[int] = None  # longest span in tokens; None: the model's own setting
    threshold: float = 0.0  # span score above which a span is an entity (GlobalPointer's natural cut is 0)
    window_tokens: Optional[int] = None  # window length; None: the model's own (a transformer's position limit)
    window_stride: Optional[int] = None  # tokens between window starts; None: the model's own
    runtime: str = "torch"  # what runs the network: one of RUNTIMES (extractor/model/runtime.py)
    threads: Optional[int] = None  # compute threads; None: torch's current setting
    # Batches run concurrently, one thread each (extractor/model/runtime.py: run_batches); 1 gives
    # every thread to one batch at a time, as the reference code's one-at-a-time loop does. None: one per thread.
    streams: Optional[int] = None

    def __post_init__(self) -> None:
        for spec in fields(self):
            problem = option_problem(spec.name, getattr(self, spec.name))
            if problem:
                raise ValueError(f"{spec.name} {problem}")
        if isinstance(self.threshold, int):
            object.__setattr__(self, "threshold", float(self.threshold))
        if self.window_tokens is not None and self.window_stride is not None \
                and not self.window_stride < self.window_tokens:
            raise ValueError("window_stride must be below window_tokens")


def option_problem(name: str, value: Any) -> Optional[str]:
    """What is wrong with ``value`` for the ``PredictOptions`` field ``name`` ("must be ..."), or None.
    Checked from the field's declared type, so a new field needs no new check."""
    hint = get_type_hints(PredictOptions)[name]
    optional = type(None) in get_args(hint)
    kind = next((t for t in get_args(hint) if t is not type(None)), hint)
    if value is None:
        return None if optional else f"must be set (a {kind.__name__}), got null"
    or_null = " or null" if optional else ""
    if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        return f"must be a positive integer{or_null}, got {value!r}"
    if kind is float and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        return f"must be a number{or_null}, got {value!r}"
    if kind is str and not isinstance(value, str):
        return f"must be a string{or_null}, got {value!r}"
    return None


# The options that change which values come out (the rest only change speed): part of the model version a
# pipeline records, so that changing one reprocesses every document.
VALUE_OPTIONS = ("threshold", "max_span_len", "window_tokens", "window_stride")
