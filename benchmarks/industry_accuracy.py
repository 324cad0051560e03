"""Industry accuracy and document exact match on real Resume NER dev bios (issue 10's acceptance figures).

The gold: the dev bios whose employer label (``industry_dev.jsonl``) is high or medium confidence, with
their industry section as a gold field; education and major come from the gold EDU and PRO entities
through the same rules. The spans: a model's predictions (``--model``, trained from scratch on Resume
NER train), or the gold entities (``--gold-spans``, which isolates employer choice and resolution).
Three resolvers: fitted on the full company table, fitted on the table without every company a dev bio
names (unseen companies), and none (keyword rules only).

Nothing here is written into the repository: converted data and fitted resolvers go to ``--work``.

    python benchmarks/industry_accuracy.py --model /tmp/rn/model --dev-docs /tmp/rn/dev.jsonl \\
        --labels ../shared/data/resume_ner/industry_dev.jsonl \\
        --companies ../shared/data/companies/listed_companies.csv --work /tmp/rn/industry
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from industry_resolver import dev_companies  # noqa: E402  (the benchmarks folder is not a package)

from extractor.data.documents import Document, read_documents  # noqa: E402
from extractor.model.metrics import Scorer  # noqa: E402
from extractor.paths import SCHEMAS_DIR  # noqa: E402
from extractor.rules.industry.resolver import fit_resolver  # noqa: E402
from extractor.rules.industry.table import ColumnMapping, CompanyTable  # noqa: E402
from extractor.rules.schema import Schema  # noqa: E402

CONFIDENT = ("high", "medium")


def gold_documents(dev_docs: Path, labels: Path, schema: Schema) -> list[Document]:
    by_id = {row["doc_id"]: row for row in map(json.loads, labels.read_text(encoding="utf-8").splitlines())}
    return [dataclasses.replace(d, fields={"industry": by_id[d.doc_id]["section"]})
            for d in read_documents(dev_docs, schema.labels) if by_id[d.doc_id]["confidence"] in CONFIDENT]


def fit_resolvers(companies: Path, labels: Path, work: Path) -> dict[str, str]:
    """The full table's resolver and the unseen-companies one, refitted on every run (about 10 s): which
    companies a dev bio names depends on the matching rules, so a resolver kept from an earlier run could
    still hold companies that the current rules match."""
    mapping = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, code="csrc_division")
    table = CompanyTable.load(companies, mapping)
    rows = [r for r in map(json.loads, labels.read_text(encoding="utf-8").splitlines())
            if r["confidence"] in CONFIDENT]
    out = {"full": work / "resolver-full", "unseen": work / "resolver-unseen"}
    fit_resolver(table, out["full"])
    removed = dev_companies(table, [r["employer"] for r in rows])
    print(f"unseen: {len(removed)} companies named by dev bios removed from {len(table)}", file=sys.stderr)
    fit_resolver(table.without(removed), out["unseen"])
    return {name: str(path) for name, path in out.items()}


def predicted_spans(model: Path | None, docs: list[Document]) -> list[tuple[Document, list]]:
    if model is None:
        return [(d, list(d.entities)) for d in docs]
    from extractor.model.directory import load_model
    from extractor.model.predict import Predictor

    return list(Predictor(load_model(model)).predict(docs))


def score(schema: Schema, pairs: list[tuple[Document, list]]) -> dict:
    scorer = Scorer(schema)
    for doc, spans in pairs:
        scorer.add(doc, spans)
    m = scorer.result()
    return {"industry_accuracy": m["fields"]["industry"]["accuracy"],
            "education_accuracy": m["fields"]["education"]["accuracy"],
            "major_accuracy": m["fields"]["major"]["accuracy"],
            "doc_exact_match": m["doc_exact_match"], "span_micro_f1": m["micro"]["f1"],
            "industry_by_rule": m["fields"]["industry"]["by_rule"], "n_docs": m["n_docs"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model trained on Resume NER train (default: gold spans)")
    parser.add_argument("--gold-spans", action="store_true", help="score the gold entities instead of a model")
    parser.add_argument("--dev-docs", type=Path, required=True, help="dev.jsonl from resume_ner_docs.py")
    parser.add_argument("--labels", type=Path, required=True, help="industry_dev.jsonl")
    parser.add_argument("--companies", type=Path, required=True, help="listed_companies.csv")
    parser.add_argument("--work", type=Path, required=True, help="where fitted resolvers go (outside the repo)")
    parser.add_argument("--schema", type=Path, default=SCHEMAS_DIR / "resume_ner.yaml")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.model is None and not args.gold_spans:
        parser.error("give --model DIR or --gold-spans")
    schema = Schema.load(args.schema)
    resolvers = {**fit_resolvers(args.companies, args.labels, args.work), "none": "none"}
    pairs = predicted_spans(None if args.gold_spans else args.model, gold_documents(args.dev_docs, args.labels, schema))
    results = {name: score(schema.with_industry(path), pairs) for name, path in resolvers.items()}
    print(f"{'resolver':<10}{'industry':>10}{'education':>11}{'major':>8}{'doc exact':>11}{'span F1':>9}  docs")
    for name, r in results.items():
        print(f"{name:<10}{r['industry_accuracy'] * 100:10.2f}{r['education_accuracy'] * 100:11.2f}"
              f"{r['major_accuracy'] * 100:8.2f}{r['doc_exact_match'] * 100:11.2f}{r['span_micro_f1'] * 100:9.2f}"
              f"  {r['n_docs']}")
    for name, r in results.items():
        print(f"{name}: " + ", ".join(f"{rule} {v['right']}/{v['n']}" for rule, v in r["industry_by_rule"].items()))
    if args.json:
        args.json.write_text(json.dumps({"spans": "gold" if args.gold_spans else str(args.model), **results},
                                        indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
