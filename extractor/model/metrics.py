"""Span metrics (strict) and field metrics (normalised values), with document exact match."""
from __future__ import annotations

from collections import Counter
from typing import Optional, Sequence

from extractor.data.documents import Document, Entity
from extractor.rules.fields import FieldValue, extract_fields, field_strings, joined
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
        # Per employer-derived field, per rule that produced the predicted value (or ``empty``): documents
        # and right ones, the industry error table.
        self.by_rule: dict[str, Counter] = {f.name: Counter() for f in schema.fields if f.employer is not None}
        self.right_by_rule: dict[str, Counter] = {name: Counter() for name in self.by_rule}
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
        values = extract_fields(doc.text, predicted, self.schema)
        pred_fields = {name: joined(vals) for name, vals in values.items()}
        all_equal = True
        for name in self.schema.field_names:
            g, p = gold_fields.get(name), pred_fields.get(name)
            self.field_gold[name] += g is not None
            self.field_pred[name] += p is not None
            self.field_tp[name] += g is not None and p == g
            self.field_equal[name] += p == g
            all_equal &= p == g
            if name in self.by_rule:
                rule = rule_kind(values[name])
                self.by_rule[name][rule] += 1
                self.right_by_rule[name][rule] += p == g
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
                **({"by_rule": {rule: {"n": n, "right": self.right_by_rule[name][rule]}
                                for rule, n in self.by_rule[name].most_common()}} if name in self.by_rule else {}),
            }
            for name in self.schema.field_names
        }
        return {
            "n_docs": self.n_docs,
            "labels": labels,
            "micro": micro,
            "macro": macro,
            "fields": fields,
            # With no fields there is no such figure: absent, never a perfect 100%.
            "doc_exact_match": round(self.exact / self.n_docs, 6) if self.n_docs and fields else None,
        }


def rule_kind(values: Sequence[FieldValue]) -> str:
    """What produced a field's value, for the error table: ``mention`` (the field's own span, e.g. an
    IND mention), ``table:short_name``, ``classifier``, ``keyword`` (whatever the keyword) or ``empty``."""
    if not values:
        return "empty"
    rule, employer, _ = values[0].rule.partition(" <- employer ")
    if not employer:
        return "mention"
    return "keyword" if rule.startswith("keyword:") else rule


def gold_field_values(doc: Document, schema: Schema) -> dict:
    """Gold fields as given (a code such as a section letter becomes its canonical value); a field the
    document does not give is derived from its gold entities through the same rules as predictions."""
    given = doc.fields or {}
    missing = [name for name in schema.field_names if name not in given]
    derived = field_strings(doc.text, doc.entities, schema) if missing else {}
    return {spec.name: spec.canonical(given[spec.name]) if spec.name in given else derived.get(spec.name)
            for spec in schema.fields}


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
        lines += _rule_table(metrics["fields"])
    exact = metrics["doc_exact_match"]
    shown = "absent (the schema has no fields)" if exact is None else f"{exact * 100:.2f}%"
    lines.append(f"\ndocuments: {metrics['n_docs']}   document exact match: {shown}")
    return "\n".join(lines)


def _rule_table(fields: dict) -> list[str]:
    """Per employer-derived field: documents, right and wrong by the rule that gave the value."""
    lines = []
    for name, m in fields.items():
        rules = m.get("by_rule")
        if not rules:
            continue
        lines += ["", f"{name + ' by rule':<32}{'docs':>6}{'right':>7}{'wrong':>7}"]
        for rule, r in rules.items():
            lines.append(f"{rule:<32}{r['n']:6d}{r['right']:7d}{r['n'] - r['right']:7d}")
    return lines
