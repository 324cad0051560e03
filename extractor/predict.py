"""Documents in, entity spans out: windows -> model -> spans -> merged per document."""
from __future__ import annotations

from typing import Iterable, Iterator, Optional, Sequence

import torch

from .documents import Document, Entity
from .model import LoadedModel
from .windows import Window, collate, encode_document, make_windows, to_entities, window_to_doc_spans


class Predictor:
    """Streams documents through a model in length-sorted batches; output keeps input order."""

    def __init__(
        self,
        loaded: LoadedModel,
        batch_size: int = 32,
        max_span_len: Optional[int] = None,
        threshold: float = 0.0,
        chunk_docs: int = 512,
    ):
        self.loaded = loaded
        self.batch_size = batch_size
        self.max_span_len = max_span_len if max_span_len is not None else loaded.config.get("max_span_len")
        self.threshold = threshold
        self.chunk_docs = chunk_docs
        window = loaded.config["window"]
        self.max_tokens, self.stride = window["max_tokens"], window["stride"]
        self.windows_made = 0

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
        tok = self.loaded.tokenizer
        model = self.loaded.model
        model.eval()
        encoded = [encode_document(d, tok) for d in docs]
        windows: list[Window] = []
        for n, enc in enumerate(encoded):
            windows.extend(make_windows(n, enc, tok, self.max_tokens, self.stride))
        self.windows_made += len(windows)
        windows.sort(key=lambda w: len(w.input_ids))  # similar lengths share a batch: little padding
        spans: list[list[tuple[int, int, int, float]]] = [[] for _ in docs]
        for b in range(0, len(windows), self.batch_size):
            batch = windows[b : b + self.batch_size]
            ids, mask = collate(batch, tok.pad_id)
            output = model(ids, mask)  # span scores (gp, egp) or tag emissions (crf)
            for w, found in zip(batch, model.head.decode(output, mask, self.threshold, self.max_span_len)):
                spans[w.doc_index].extend(window_to_doc_spans(w, found, len(encoded[w.doc_index].ids)))
        labels = self.loaded.labels
        entities = [to_entities(s, enc.offsets, labels) for s, enc in zip(spans, encoded)]
        # A flat schema, or a head that tags flat spans (CRF; its windows may still disagree where they overlap).
        flat = not (self.loaded.schema.nested and model.head.nested)
        return [non_overlapping(e) for e in entities] if flat else entities


def non_overlapping(entities: list[Entity]) -> list[Entity]:
    """For flat schemas: keep the best-scoring spans that overlap no better one."""
    kept: list[Entity] = []
    for e in sorted(entities, key=lambda e: -(e.score or 0.0)):
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: (e.start, e.end))
