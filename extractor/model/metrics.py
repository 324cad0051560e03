"""Span metrics (strict) and field metrics (normalised values), with document exact match."""
from __future__ import annotations

from collections import Counter
from typing import Optional, Sequence

from extractor.data.documents import Document, Entity
from extractor.rules.fields import field_strings
from extractor.rules.schema import Schema


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 6), "recall": round(r, 6), "f1": round(f, 6)}


class Scorer:
    """Accumulates documents one at a time, so evaluation can stream."""

    def __init__(self, schema: Schema, labels: Optional[Sequence[str]] = None):
        self.schema = schema
        self.labels = list(labels if labels is not None else schema.labels)
        self.tp, self.n_pred, self.n_gold = Counter(), Counter(), Counter()
        self.field_tp, self.field_pred, self.field_gold, self.field_equal = Counter(), Counter(), Counter(), Counter()
        self.n_docs = self.exact = 0

    def add(self, doc: Document, predicted: Sequence[Entity]) -> dict:
        """Score one document; returns its predicted field values."""
        gold_spans = {(e.start, e.end, e.label) for e in doc.entities}
        pred_spans = {(e.start, e.end, e.label) for e in predicted}
        for _, _, label in gold_spans:
            self.n_gold[label] += 1
        for _, _, label in pred_spans:
            self.n_pred[label] += 1
        for _, _, label in gold_spans & pred_spans:
            self.tp[label] += 1

        gold_fields = gold_field_values(doc, self.schema)
        pred_fields = field_strings(doc.text, predicted, self.schema)
        all_equal = True
        for name in self.schema.field_names:
            g, p = gold_fields.get(name), pred_fields.get(name)
            self.field_gold[name] += g is not None
            self.field_pred[name] += p is not None
            self.field_tp[name] += g is not None and p == g
            self.field_equal[name] += p == g
            all_equal &= p == g
        self.n_docs += 1
        self.exact += all_equal
        return pred_fields

    def result(self) -> dict:
        labels = {
            lab: {**_prf(self.tp[lab], self.n_pred[lab], self.n_gold[lab]), "support": self.n_gold[lab]}
            for lab in self.labels
        }
        micro = _prf(sum(self.tp.values()), sum(self.n_pred.values()), sum(self.n_gold.values()))
        scored = [labels[lab] for lab in self.labels if self.n_gold[lab] or self.n_pred[lab]]
        macro = {
            k: round(sum(v[k] for v in scored) / len(scored), 6) if scored else 0.0
            for k in ("precision", "recall", "f1")
        }
        fields = {
            name: {
                **_prf(self.field_tp[name], self.field_pred[name], self.field_gold[name]),
                "accuracy": round(self.field_equal[name] / self.n_docs, 6) if self.n_docs else 0.0,
                "support": self.field_gold[name],
            }
            for name in self.schema.field_names
        }
        return {
            "n_docs": self.n_docs,
            "labels": labels,
            "micro": micro,
            "macro": macro,
            "fields": fields,
            "doc_exact_match": round(self.exact / self.n_docs, 6) if self.n_docs else 0.0,
        }


def gold_field_values(doc: Document, schema: Schema) -> dict:
    """Gold fields as given, else derived from gold entities through the same rules as predictions."""
    if doc.fields is not None:
        return {name: doc.fields.get(name) or None for name in schema.field_names}
    return field_strings(doc.text, doc.entities, schema)


def format_table(metrics: dict) -> str:
    """A fixed-width table for the terminal."""
    lines = [f"{'':<14}{'P':>8}{'R':>8}{'F1':>8}{'support':>9}"]
    for name, m in metrics["labels"].items():
        lines.append(f"{name:<14}{m['precision']*100:8.2f}{m['recall']*100:8.2f}{m['f1']*100:8.2f}{m['support']:9d}")
    for key in ("micro", "macro"):
        m = metrics[key]
        lines.append(f"{key:<14}{m['precision']*100:8.2f}{m['recall']*100:8.2f}{m['f1']*100:8.2f}")
    if metrics["fields"]:
        lines.append("")
        lines.append(f"{'field':<14}{'P':>8}{'R':>8}{'F1':>8}{'acc':>8}{'support':>9}")
        for name, m in metrics["fields"].items():
            lines.append(
                f"{name:<14}{m['precision']*100:8.2f}{m['recall']*100:8.2f}{m['f1']*100:8.2f}"
                f"{m['accuracy']*100:8.2f}{m['support']:9d}"
            )
    lines.append(f"\ndocuments: {metrics['n_docs']}   document exact match: {metrics['doc_exact_match']*100:.2f}%")
    return "\n".join(lines)
