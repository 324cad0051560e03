"""Documents in, entity spans out: windows -> model -> spans -> merged per document."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import torch

from extractor.data.documents import Document, Entity
from extractor.model.directory import LoadedModel, load_model
from extractor.model.runtime import load_runtime, run_batches
from extractor.model.windows import (
    Window,
    collate,
    encode_document,
    make_windows,
    to_entities,
    window_to_doc_spans,
)

# Padded tokens per forward pass: the best of 512-8192 for the BiLSTM (1024-2048) and near the best
# for a 4-layer 768 BERT (512; 1024 is 7% slower there), docs/benchmarks.md.
DEFAULT_BATCH_TOKENS = 1024


class Predictor:
    """Streams documents through a model in length-sorted batches; output keeps input order.

    ``runtime`` picks what runs the network: ``torch`` (fp32), ``torch-int8`` (dynamic int8
    quantisation of the linear and LSTM layers), ``onnx`` or ``onnx-int8`` (ONNX Runtime on the
    files ``extractor export`` wrote into the model directory). Decoding is the same for all.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        batch_size: int = 32,
        max_span_len: Optional[int] = None,
        threshold: float = 0.0,
        chunk_docs: int = 512,
        max_tokens: Optional[int] = None,
        stride: Optional[int] = None,
        runtime: str = "torch",
        pad_to_window: bool = False,
        threads: Optional[int] = None,
        batch_tokens: Optional[int] = DEFAULT_BATCH_TOKENS,
        streams: Optional[int] = None,
    ):
        self.loaded = loaded
        self.batch_size = batch_size
        # A batch is also capped at ``batch_tokens`` padded tokens (windows x longest window): on a CPU
        # one 360-token window already fills the matrix units, and wider batches only spill the
        # (B, heads, T, T) attention and (B, a, T, T) span scores out of cache (measured in
        # docs/benchmarks.md). Short windows still share a batch. None: windows count alone.
        self.batch_tokens = batch_tokens
        # Batches run concurrently, one thread each (extractor/model/runtime.py: run_batches); 1 gives
        # every thread to one batch at a time, as the reference code's one-at-a-time loop does.
        self.streams = streams
        self.max_span_len = max_span_len if max_span_len is not None else loaded.config.get("max_span_len")
        self.threshold = threshold
        self.chunk_docs = chunk_docs
        window = loaded.config["window"]
        self.max_tokens = max_tokens if max_tokens is not None else window["max_tokens"]
        self.stride = stride if stride is not None else window["stride"]
        self.runtime = runtime
        # Padding every batch to the full window is how the reference GlobalPointer code predicts;
        # kept as an option to measure it against (``extractor bench speed``), never faster.
        self.pad_to = self.max_tokens if pad_to_window else None
        self.forward = load_runtime(loaded, runtime, threads)
        self.windows_made = 0

    @classmethod
    def from_directory(cls, model_dir: str | Path, **options: Any) -> "Predictor":
        """Load the model in ``model_dir`` and wrap it; ``options`` are this class's keyword arguments."""
        return cls(load_model(model_dir), **options)

    def predict(self, docs: Iterable[Document]) -> Iterator[tuple[Document, list[Entity]]]:
        chunk: list[Document] = []
        for doc in docs:
            chunk.append(doc)
            if len(chunk) >= self.chunk_docs:
                yield from zip(chunk, self.predict_chunk(chunk))
                chunk = []
        if chunk:
            yield from zip(chunk, self.predict_chunk(chunk))

    @torch.inference_mode()
    def predict_chunk(self, docs: Sequence[Document]) -> list[list[Entity]]:
        tok, head = self.loaded.tokenizer, self.loaded.model.head
        encoded = [encode_document(d, tok) for d in docs]
        windows: list[Window] = []
        for n, enc in enumerate(encoded):
            windows.extend(make_windows(n, enc, tok, self.max_tokens, self.stride))
        self.windows_made += len(windows)
        # Similar lengths share a batch (little padding); longest first, so concurrent streams end on
        # short batches rather than one stream finishing a long one alone.
        windows.sort(key=lambda w: len(w.input_ids), reverse=True)
        spans: list[list[tuple[int, int, int, float]]] = [[] for _ in docs]
        batches = list(self.batches(windows))
        inputs = [collate(batch, tok.pad_id, self.pad_to) for batch in batches]
        # span scores (gp, egp) or tag emissions (crf), one batch after another as they are ready
        for batch, (_, mask), output in zip(batches, inputs, run_batches(self.forward, inputs, self.streams)):
            for w, found in zip(batch, head.decode(output, mask, self.threshold, self.max_span_len)):
                spans[w.doc_index].extend(window_to_doc_spans(w, found, len(encoded[w.doc_index].ids)))
        labels = self.loaded.labels
        entities = [to_entities(s, enc.offsets, labels) for s, enc in zip(spans, encoded)]
        # A flat schema, or a head that tags flat spans (CRF; its windows may still disagree where they overlap).
        flat = not (self.loaded.schema.nested and head.nested)
        return [non_overlapping(e) for e in entities] if flat else entities

    def batches(self, windows: Sequence[Window]) -> Iterator[Sequence[Window]]:
        """Consecutive runs of ``windows``: at most ``batch_size`` windows, and at most ``batch_tokens``
        padded tokens (windows x the longest) unless a single window is longer than that on its own."""
        start = 0
        while start < len(windows):
            end, longest = start + 1, self._padded(windows[start])
            while end < len(windows) and end - start < self.batch_size:
                longest_with_next = max(longest, self._padded(windows[end]))
                if self.batch_tokens is not None and (end - start + 1) * longest_with_next > self.batch_tokens:
                    break
                end, longest = end + 1, longest_with_next
            yield windows[start:end]
            start = end

    def _padded(self, window: Window) -> int:
        return self.pad_to or len(window.input_ids)


def non_overlapping(entities: list[Entity]) -> list[Entity]:
    """For flat schemas: keep the best-scoring spans that overlap no better one."""
    kept: list[Entity] = []
    for e in sorted(entities, key=lambda e: -(e.score or 0.0)):
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: (e.start, e.end))
