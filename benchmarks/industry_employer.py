"""Measure employer choice and keyword rules on the real (unlicensed, shared) data.

    PYTHONPATH=. python benchmarks/industry_employer.py [--resolver DIR] [--json]

1. Employer choice on Resume NER dev bios, with the gold ORG spans, against the
   labelled employer of industry_dev.jsonl, split by label confidence. Agreement
   is counted on the span and, more leniently, on the text (the same name named
   twice). A second run keeps only named ORG spans (本公司/公司 dropped).
   With ``--resolver`` (a directory from ``extractor industry fit``), the same
   with the company table's ``known_company`` weight, and the train bios (gold
   ORG spans, no labels) whose employer that weight moves, to read by hand.
2. Keyword rules alone on the gold employer names of dev (against the labelled
   section), and on the full names of the listed-companies table (coverage and
   section accuracy).

Nothing derived from the data is written anywhere; the data is never committed.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractor.rules.industry.employer import EmployerPolicy, TableKnows, choose_employer, load_policy  # noqa: E402
from extractor.rules.industry.from_employer import load_resolver, table_knows_of  # noqa: E402
from extractor.rules.industry.keywords import KeywordTable, load_keywords  # noqa: E402

SHARED = ROOT.parent / "shared"
CONFIDENCE_GROUPS = {"high+medium": ("high", "medium"), "high": ("high",), "medium": ("medium",), "low": ("low",)}


def load_split(shared: Path, split: str) -> list[dict]:
    """Resume NER documents of one split, from the shared converter."""
    converter = shared / "tools" / "resume_ner_docs.py"
    bmes = shared / "data" / "resume_ner" / f"{split}.char.bmes"
    output = subprocess.run([sys.executable, str(converter), str(bmes)], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in output.stdout.splitlines() if line.strip()]


def load_dev(shared: Path) -> list[tuple[dict, dict]]:
    """Dev bios from the shared converter, paired with their industry labels (same order)."""
    docs = load_split(shared, "dev")
    labels_path = shared / "data" / "resume_ner" / "industry_dev.jsonl"
    labels = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for doc, label in zip(docs, labels, strict=True):
        if doc["doc_id"] != label["doc_id"]:
            raise SystemExit(f"dev order differs: {doc['doc_id']} vs {label['doc_id']}")
    return list(zip(docs, labels))


def gold_orgs(doc: dict) -> list[tuple[int, int]]:
    return [(e["start"], e["end"]) for e in doc["entities"] if e["label"] == "ORG"]


def known_company_moves(docs: list[dict], policy: EmployerPolicy, table_knows: TableKnows) -> list[tuple]:
    """(doc_id, employer without the table, with it, cue) of every bio whose choice the table moves."""
    moves = []
    for doc in docs:
        orgs = gold_orgs(doc)
        without = choose_employer(doc["text"], orgs, policy)
        with_table = choose_employer(doc["text"], orgs, policy, table_knows)
        if without is not None and with_table is not None and without.text != with_table.text:
            moves.append((doc["doc_id"], without.text, with_table.text, with_table.cue))
    return moves


def employer_agreement(pairs, policy: EmployerPolicy, named_only: bool, table_knows: TableKnows | None = None) -> dict:
    """Share of labelled rows whose chosen span (or its text) is the gold employer."""
    generic = policy.generic_names
    counts: dict[str, Counter] = {group: Counter() for group in CONFIDENCE_GROUPS}
    misses = []
    for doc, label in pairs:
        if label["employer_start"] is None:
            continue
        orgs = [(e["start"], e["end"]) for e in doc["entities"] if e["label"] == "ORG"
                and not (named_only and e["text"] in generic)]
        choice = choose_employer(doc["text"], orgs, policy, table_knows)
        span_ok = choice is not None and (choice.start, choice.end) == (label["employer_start"], label["employer_end"])
        text_ok = choice is not None and choice.text == label["employer"]
        for group, members in CONFIDENCE_GROUPS.items():
            if label["confidence"] in members:
                counts[group].update(rows=1, span=span_ok, text=text_ok)
        if not text_ok and not named_only:
            misses.append((doc["doc_id"], label["confidence"], label["employer"],
                           choice.text if choice else None, choice.cue if choice else None))
    table = {group: {"rows": c["rows"], "span": _share(c["span"], c["rows"]), "text": _share(c["text"], c["rows"])}
             for group, c in counts.items()}
    return {"by_confidence": table, "misses": misses}


def keyword_accuracy_dev(pairs, table: KeywordTable) -> dict:
    rows = [label for _, label in pairs if label["confidence"] in ("high", "medium") and label["employer"]]
    matches = [(label, table.match(label["employer"])) for label in rows]
    covered = [(label, m) for label, m in matches if m is not None]
    correct = sum(m.section == label["section"] for label, m in covered)
    wrong = [(label["employer"], label["section"], m.section, m.keyword) for label, m in covered
             if m.section != label["section"]]
    return {"rows": len(rows), "covered": len(covered), "coverage": _share(len(covered), len(rows)),
            "correct": correct, "accuracy_all": _share(correct, len(rows)),
            "accuracy_covered": _share(correct, len(covered)), "wrong": wrong}


def keyword_accuracy_table(csv_path: Path, table: KeywordTable) -> dict:
    with csv_path.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["full_name"] and row["section"]]
    covered = correct = 0
    per_section: dict[str, Counter] = {}
    for row in rows:
        match = table.match(row["full_name"])
        stats = per_section.setdefault(row["section"], Counter())
        stats["rows"] += 1
        if match is not None:
            covered += 1
            stats["covered"] += 1
            hit = match.section == row["section"]
            correct += hit
            stats["correct"] += hit
    return {"rows": len(rows), "covered": covered, "coverage": _share(covered, len(rows)), "correct": correct,
            "accuracy_covered": _share(correct, covered), "accuracy_all": _share(correct, len(rows)),
            "by_section": {s: dict(c) for s, c in sorted(per_section.items())}}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def print_report(result: dict) -> None:
    for title, key in (("Employer choice, gold ORG spans", "employer_gold_orgs"),
                       ("Employer choice, named ORG spans only (本公司/公司 dropped)", "employer_named_orgs"),
                       ("Employer choice, gold ORG spans, with the company table", "employer_with_table")):
        if key not in result:
            continue
        print(f"{title}:")
        for group, stats in result[key]["by_confidence"].items():
            print(f"  {group:<12} rows {stats['rows']:>3}  span {stats['span']:.3f}  text {stats['text']:.3f}")
        if result[key]["misses"]:
            print("  text misses:")
        for miss in result[key]["misses"]:
            print("   ", *miss)
    if "known_company_moves_train" in result:
        moves = result["known_company_moves_train"]
        print(f"Train bios (gold ORG spans) whose employer the table's known_company weight moves: {len(moves)}")
        for move in moves:
            print("   ", move[0], move[1], "->", move[2], f"({move[3]})")
    dev = result["keywords_dev"]
    print(f"Keywords on dev gold employer names (high+medium): rows {dev['rows']}  coverage {dev['coverage']}"
          f"  accuracy {dev['accuracy_all']} (of covered {dev['accuracy_covered']})")
    for wrong in dev["wrong"]:
        print("   ", *wrong)
    companies = result.get("keywords_table")
    if companies:
        print(f"Keywords on listed-company full names: rows {companies['rows']}  coverage {companies['coverage']}"
              f"  accuracy of covered {companies['accuracy_covered']}  overall {companies['accuracy_all']}")
        for section, stats in companies["by_section"].items():
            print(f"    {section} rows {stats.get('rows', 0):>5} covered {stats.get('covered', 0):>5}"
                  f" correct {stats.get('correct', 0):>5}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding data/ and tools/")
    parser.add_argument("--policy", type=Path, default=None, help="employer policy YAML (default: the project's)")
    parser.add_argument("--keywords", type=Path, default=None, help="keyword YAML (default: the project's)")
    parser.add_argument("--resolver", type=Path, default=None,
                        help="an industry resolver directory: also measure with its company table")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if not (args.shared / "data" / "resume_ner" / "industry_dev.jsonl").exists():
        print(f"no labelled dev data under {args.shared}; nothing to measure", file=sys.stderr)
        return 2
    policy, table = load_policy(args.policy), load_keywords(args.keywords)
    pairs = load_dev(args.shared)
    result = {
        "employer_gold_orgs": employer_agreement(pairs, policy, named_only=False),
        "employer_named_orgs": employer_agreement(pairs, policy, named_only=True),
        "keywords_dev": keyword_accuracy_dev(pairs, table),
    }
    if args.resolver is not None:
        knows = table_knows_of(load_resolver(args.resolver))
        result["employer_with_table"] = employer_agreement(pairs, policy, named_only=False, table_knows=knows)
        result["known_company_moves_train"] = known_company_moves(load_split(args.shared, "train"), policy, knows)
    companies_csv = args.shared / "data" / "companies" / "listed_companies.csv"
    if companies_csv.exists():
        result["keywords_table"] = keyword_accuracy_table(companies_csv, table)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
