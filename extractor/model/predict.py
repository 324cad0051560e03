"""Documents in, entity spans out: windows -> model -> spans -> merged per document."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import torch

from extractor.data.documents import Document, Entity
from extractor.model.directory import LoadedModel, load_model
from extractor.model.options import VALUE_OPTIONS, PredictOptions  # PredictOptions re-exported: callers import it here
from extractor.model.runtime import load_runtime, run_batches
from extractor.model.windows import (
    Window,
    collate,
    encode_document,
    make_windows,
    to_entities,
    window_to_doc_spans,
)

def prediction_version(loaded: LoadedModel, options: PredictOptions) -> str:
    """The version of what ``loaded`` predicts with ``options``: the weights' version, followed by ``+p`` and
    a short hash of the value-changing options that differ from the model's own settings (none differ: the
    weights' version alone, as before)."""
    window = loaded.config["window"]
    own = {"threshold": 0.0, "max_span_len": loaded.config.get("max_span_len"),
           "window_tokens": window["max_tokens"], "window_stride": window["stride"]}
    changed = {key: getattr(options, key) for key in VALUE_OPTIONS
               if getattr(options, key) is not None and getattr(options, key) != own[key]}
    if not changed:
        return loaded.version
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]
    return f"{loaded.version}+p{digest}"


class Predictor:
    """Streams documents through a model in length-sorted batches; output keeps input order.

    ``options.runtime`` picks what runs the network: ``torch`` (fp32), ``torch-int8`` (dynamic int8
    quantisation of the linear and LSTM layers), ``onnx`` or ``onnx-int8`` (ONNX Runtime on the
    files ``extractor export`` wrote into the model directory). Decoding is the same for all.
    """

    def __init__(self, loaded: LoadedModel, options: PredictOptions = PredictOptions(), *,
                 chunk_docs: int = 512, pad_to_window: bool = False):
        self.loaded = loaded
        self.options = options
        # The window and span settings resolved against the model's own.
        self.max_span_len = (options.max_span_len if options.max_span_len is not None
                             else loaded.config.get("max_span_len"))
        self.chunk_docs = chunk_docs
        window = loaded.config["window"]
        self.max_tokens = options.window_tokens if options.window_tokens is not None else window["max_tokens"]
        self.stride = options.window_stride if options.window_stride is not None else window["stride"]
        self._check_windows()
        # Padding every batch to the full window is how the reference GlobalPointer code predicts;
        # kept as an option to measure it against (``extractor bench speed``), never faster.
        self.pad_to = self.max_tokens if pad_to_window else None
        self.forward = load_runtime(loaded, options.runtime, options.threads)
        self.windows_made = 0

    def _check_windows(self) -> None:
        """Windows must hold text after their markers and overlap (a span crossing a boundary is whole in some
        window): checked now, naming the settings, not when the first document is cut into windows."""
        tok = self.loaded.tokenizer
        content = self.max_tokens - (tok.cls_id is not None) - (tok.sep_id is not None)
        if not 0 < self.stride < content:
            tokens = ("predict.window_tokens" if self.options.window_tokens is not None
                      else "the model's window.max_tokens")
            stride = "predict.window_stride" if self.options.window_stride is not None else "the model's window.stride"
            raise ValueError(f"{tokens} = {self.max_tokens} and {stride} = {self.stride} do not fit: windows of "
                             f"{self.max_tokens} tokens hold {content} of text, and the stride must be in (0, {content}) "
                             "for windows to overlap")

    @classmethod
    def from_directory(cls, model_dir: str | Path, options: PredictOptions = PredictOptions()) -> "Predictor":
        """Load the model in ``model_dir`` and wrap it."""
        return cls(load_model(model_dir), options)

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
        for batch, (_, mask), output in zip(batches, inputs, run_batches(self.forward, inputs, self.options.streams)):
            for w, found in zip(batch, head.decode(output, mask, self.options.threshold, self.max_span_len)):
                spans[w.doc_index].extend(window_to_doc_spans(w, found, len(encoded[w.doc_index].ids)))
        labels = self.loaded.labels
        entities = [to_entities(s, enc.offsets, labels) for s, enc in zip(spans, encoded)]
        # A flat schema, or a head that tags flat spans (CRF; its windows may still disagree where they overlap).
        flat = not (self.loaded.schema.nested and head.nested)
        return [non_overlapping(e) for e in entities] if flat else entities

    def batches(self, windows: Sequence[Window]) -> Iterator[Sequence[Window]]:
        """Consecutive runs of ``windows``: at most ``windows_per_batch`` windows, and at most
        ``tokens_per_batch`` padded tokens (windows x the longest) unless one window is longer on its own."""
        max_windows, max_tokens = self.options.windows_per_batch, self.options.tokens_per_batch
        start = 0
        while start < len(windows):
            end, longest = start + 1, self._padded(windows[start])
            while end < len(windows) and end - start < max_windows:
                longest_with_next = max(longest, self._padded(windows[end]))
                if max_tokens is not None and (end - start + 1) * longest_with_next > max_tokens:
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
