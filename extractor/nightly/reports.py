"""Accuracy reports: the ``evaluate`` metrics plus value distributions and examples, written as
JSON, CSV, Markdown and one self-contained HTML page, and compared with the previous report."""
from __future__ import annotations

import csv
import html
import io
import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional, Sequence

from extractor.data.documents import Document, Entity
from extractor.model.metrics import Scorer, gold_field_values
from extractor.nightly.safe_files import (
    exclusive_temporary,
    markdown_code,
    markdown_text,
    remove_stale_temporaries,
    writing,
)
from extractor.rules.schema import Schema

REPORT_FORMATS = ("json", "csv", "md", "html")


class ReportCollector:
    """Wraps a Scorer: also counts predicted values per field and keeps a few misses and false positives."""

    def __init__(self, schema: Schema, labels: Optional[Sequence[str]] = None, examples: int = 10):
        self.schema = schema
        self.scorer = Scorer(schema, labels)
        self.examples = examples
        self.distributions: dict[str, Counter] = {name: Counter() for name in schema.field_names}
        self.misses: dict[str, list[dict]] = {name: [] for name in schema.field_names}
        self.false_positives: dict[str, list[dict]] = {name: [] for name in schema.field_names}

    @property
    def n_docs(self) -> int:
        return self.scorer.n_docs

    def add(self, doc: Document, predicted: Sequence[Entity]) -> None:
        pred = self.scorer.add(doc, predicted)
        gold = gold_field_values(doc, self.schema)
        for name in self.schema.field_names:
            g, p = gold.get(name), pred.get(name)
            self.distributions[name][p if p is not None else "(none)"] += 1
            if g == p:
                continue
            example = {"doc_id": doc.doc_id, "gold": g, "predicted": p, "excerpt": _excerpt(doc, predicted)}
            # A wrong value is both a miss of the gold value and a false positive of the predicted one.
            if g is not None and len(self.misses[name]) < self.examples:
                self.misses[name].append(example)
            if p is not None and len(self.false_positives[name]) < self.examples:
                self.false_positives[name].append(example)

    def result(self, **info) -> dict:
        metrics = self.scorer.result()
        metrics.update(info)
        metrics["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        metrics["distributions"] = {k: dict(v.most_common(25)) for k, v in self.distributions.items()}
        metrics["examples"] = {"misses": self.misses, "false_positives": self.false_positives}
        return metrics


def _excerpt(doc: Document, predicted: Sequence[Entity], width: int = 120) -> str:
    text = doc.text.replace("\n", " ")
    return text[:width] + ("…" if len(text) > width else "")


def compare(current: dict, previous: Optional[dict], max_f1_drop: float) -> list[dict]:
    """Fields whose F1 dropped by more than ``max_f1_drop`` (absolute) since ``previous``."""
    if not previous:
        return []
    drops = []
    for name, m in current.get("fields", {}).items():
        before = previous.get("fields", {}).get(name)
        if before is None:
            continue
        drop = before["f1"] - m["f1"]
        if drop > max_f1_drop:
            drops.append({"field": name, "previous_f1": before["f1"], "f1": m["f1"], "drop": round(drop, 6)})
    return drops


def write_report(report: dict, directory: str | Path, max_f1_drop: float,
                 min_docs: int = 0) -> tuple[dict[str, Path], list[dict]]:
    """Write report-<stamp>.{json,csv,md,html}; returns the paths and the regressions.

    A report on at least ``min_docs`` documents is compared with ``latest.json`` and becomes the new
    ``latest.json``; a smaller one is only written. A file that cannot be written is an ``OutputError``
    naming the report directory (and the file, where the OS names it).
    """
    with writing(directory):
        return _write_report(report, Path(directory), max_f1_drop, min_docs)


def remove_report_temporaries(directory: str | Path) -> None:
    """Remove the temporary latest.json a killed run left in the report directory."""
    directory = Path(directory)
    remove_stale_temporaries(directory / "latest.json")
    (directory / "latest.json.tmp").unlink(missing_ok=True)  # the name releases before this one used


def remove_unfinished_reports(directory: str | Path, run_ids: Iterable[int]) -> list[Path]:
    """Remove what runs that never finished their report wrote of it (a kill between two of its files
    leaves a partial set); the run that reports their documents writes a whole one. Returns the files removed."""
    directory = Path(directory)
    removed = []
    for run_id in sorted(set(run_ids)):
        for fmt in REPORT_FORMATS:
            for path in directory.glob(f"report-*-run{run_id}.{fmt}"):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _write_report(report: dict, directory: Path, max_f1_drop: float,
                  min_docs: int) -> tuple[dict[str, Path], list[dict]]:
    directory.mkdir(parents=True, exist_ok=True)
    latest = directory / "latest.json"
    remove_report_temporaries(directory)
    comparable = report["n_docs"] >= min_docs
    previous = json.loads(latest.read_text(encoding="utf-8")) if latest.exists() and comparable else None
    regressions = compare(report, previous, max_f1_drop)
    report = dict(report, regressions=regressions, max_f1_drop=max_f1_drop, compared=comparable,
                  previous=previous.get("created_at") if previous else None)
    stamp = report["created_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    if report.get("run_id") is not None:
        stamp += f"-run{report['run_id']}"
    paths = {fmt: directory / f"report-{stamp}.{fmt}" for fmt in REPORT_FORMATS}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["csv"].write_text(report_csv(report), encoding="utf-8")
    paths["md"].write_text(report_markdown(report, previous), encoding="utf-8")
    paths["html"].write_text(report_html(report, previous), encoding="utf-8")
    if comparable:
        fd, tmp = exclusive_temporary(latest, f"tmp-{os.getpid()}")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(report, indent=2, ensure_ascii=False))
        tmp.replace(latest)  # the comparison baseline only moves once the whole report is written
    return paths, regressions


def report_csv(report: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["kind", "name", "precision", "recall", "f1", "accuracy", "support"])
    for name, m in report["fields"].items():
        w.writerow(["field", name, m["precision"], m["recall"], m["f1"], m["accuracy"], m["support"]])
    for name, m in report["labels"].items():
        w.writerow(["label", name, m["precision"], m["recall"], m["f1"], "", m["support"]])
    for key in ("micro", "macro"):
        m = report[key]
        w.writerow(["span", key, m["precision"], m["recall"], m["f1"], "", ""])
    w.writerow(["document", "exact_match", "", "", "", report["doc_exact_match"], report["n_docs"]])
    return out.getvalue()


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{x * 100:.2f}"  # None: no such figure (a schema without fields)


def _delta(name: str, report: dict, previous: Optional[dict]) -> str:
    if not previous or name not in previous.get("fields", {}):
        return ""
    d = report["fields"][name]["f1"] - previous["fields"][name]["f1"]
    return f"{d * 100:+.2f}"


def report_markdown(report: dict, previous: Optional[dict] = None) -> str:
    lines = [f"# Accuracy report: {report.get('pipeline', '')}", "",
             f"{report['created_at']} · model {report.get('model_version', '?')} · rules "
             f"{report.get('rules_version', '?')} · {report['n_docs']} documents · document exact match "
             f"**{_pct(report['doc_exact_match'])}%**", "",
             "| field | P | R | F1 | Δ F1 | accuracy | support |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in report["fields"].items():
        lines.append(f"| {name} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | "
                     f"{_delta(name, report, previous)} | {_pct(m['accuracy'])} | {m['support']} |")
    lines += ["", "| span label | P | R | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name, m in report["labels"].items():
        lines.append(f"| {name} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | {m['support']} |")
    m = report["micro"]
    lines.append(f"| micro | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | |")
    if report.get("regressions"):
        lines += ["", f"**Regressions** (F1 drop > {report['max_f1_drop']}):"]
        lines += [f"- {r['field']}: {_pct(r['previous_f1'])} → {_pct(r['f1'])}" for r in report["regressions"]]
    for kind in ("misses", "false_positives"):
        lines += ["", f"## {kind.replace('_', ' ').capitalize()}", ""]
        for name, items in report["examples"][kind].items():
            for ex in items[:5]:
                lines.append(f"- {name} {markdown_code(ex['doc_id'])}: gold {markdown_text(ex['gold'])}, "
                             f"predicted {markdown_text(ex['predicted'])}")
    return "\n".join(lines) + "\n"


def _bars(title: str, items: list[tuple[str, float]], scale: float, fmt) -> str:
    """A horizontal bar chart as inline SVG (no scripts, no external files)."""
    bar_h, label_w, chart_w = 18, 260, 320
    h = bar_h * len(items) + 28
    rows = [f'<text x="0" y="14" class="t">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(items):
        y = 24 + i * bar_h
        w = 0 if scale <= 0 else max(1, int(chart_w * value / scale))
        rows.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{html.escape(label[:30])}</text>'
                    f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{bar_h - 5}" class="b"/>'
                    f'<text x="{label_w + w + 4}" y="{y + 12}">{html.escape(fmt(value))}</text>')
    return f'<svg width="{label_w + chart_w + 80}" height="{h}" role="img">{"".join(rows)}</svg>'


def report_html(report: dict, previous: Optional[dict] = None) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>Accuracy report</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "svg text{font-size:12px}svg .t{font-weight:bold}.b{fill:#4a7fb5}.bad{color:#b00}</style></head><body>",
        f"<h1>Accuracy report: {e(str(report.get('pipeline', '')))}</h1>",
        f"<p>{e(report['created_at'])} · model {e(str(report.get('model_version')))} · rules "
        f"{e(str(report.get('rules_version')))} · {report['n_docs']} documents · document exact match "
        f"<b>{_pct(report['doc_exact_match'])}%</b></p>",
    ]
    if report.get("regressions"):
        parts.append("<p class='bad'><b>Regression:</b> " + "; ".join(
            f"{e(r['field'])} F1 {_pct(r['previous_f1'])} → {_pct(r['f1'])}" for r in report["regressions"]) + "</p>")
    parts.append("<h2>Fields</h2><table><tr><th>field</th><th>P</th><th>R</th><th>F1</th><th>Δ F1</th>"
                 "<th>accuracy</th><th>support</th></tr>")
    for name, m in report["fields"].items():
        parts.append(f"<tr><td>{e(name)}</td><td>{_pct(m['precision'])}</td><td>{_pct(m['recall'])}</td>"
                     f"<td>{_pct(m['f1'])}</td><td>{_delta(name, report, previous)}</td>"
                     f"<td>{_pct(m['accuracy'])}</td><td>{m['support']}</td></tr>")
    parts.append("</table>")
    for metric in ("precision", "recall", "f1"):
        parts.append(_bars(f"{metric} per field (%)",
                           [(n, m[metric] * 100) for n, m in report["fields"].items()], 100, lambda v: f"{v:.1f}"))
    parts.append("<h2>Span labels</h2><table><tr><th>label</th><th>P</th><th>R</th><th>F1</th><th>support</th></tr>")
    for name, m in list(report["labels"].items()) + [("micro", {**report["micro"], "support": ""})]:
        parts.append(f"<tr><td>{e(name)}</td><td>{_pct(m['precision'])}</td><td>{_pct(m['recall'])}</td>"
                     f"<td>{_pct(m['f1'])}</td><td>{m['support']}</td></tr>")
    parts.append("</table><h2>Predicted values</h2>")
    for name, dist in report.get("distributions", {}).items():
        items = sorted(dist.items(), key=lambda kv: -kv[1])[:15]
        parts.append(_bars(name, [(k, float(v)) for k, v in items], max((v for _, v in items), default=1),
                           lambda v: str(int(v))))
    for kind, title in (("misses", "Misses"), ("false_positives", "False positives")):
        parts.append(f"<h2>{title}</h2><table><tr><th>field</th><th>doc</th><th>gold</th><th>predicted</th>"
                     "<th>text</th></tr>")
        for name, items in report.get("examples", {}).get(kind, {}).items():
            for ex in items:
                parts.append(f"<tr><td>{e(name)}</td><td>{e(ex['doc_id'])}</td><td>{e(str(ex['gold']))}</td>"
                             f"<td>{e(str(ex['predicted']))}</td><td style='text-align:left'>{e(ex['excerpt'])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
