"""Industry resolver benchmark: lookup speed on a synthetic table, and accuracy on real data if given.

    PYTHONPATH=. python benchmarks/industry_resolver.py                      # speed only
    PYTHONPATH=. python benchmarks/industry_resolver.py \
        --companies ../shared/data/companies/listed_companies.csv \
        --industry-dev ../shared/data/resume_ner/industry_dev.jsonl --json out.json

Real data is read, never written: fitted resolvers go to a temporary directory that is deleted.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from extractor.rules.industry.classifier import ClassifierConfig, company_examples, fit_classifier, split_companies
from extractor.rules.industry.index import CompanyIndex
from extractor.rules.industry.names import CITIES, PROVINCES, name_keys, word_initials
from extractor.rules.industry.resolver import IndustryResolver, fit_resolver
from extractor.rules.industry.sections import SECTIONS
from extractor.rules.industry.table import ColumnMapping, CompanyTable

CORE_CHARACTERS = "华金宏远达信新元天成永安盛和龙腾瑞丰恒通立泰广博润嘉康凯鑫源海中正东方明德兴隆宝利富"
INDUSTRY_WORDS = ["制药", "钢铁", "机械", "化工", "银行", "证券", "置业", "物流", "软件", "电力", "建设", "贸易",
                  "传媒", "教育", "环保", "农业", "矿业", "酒店", "医疗", "咨询"]
LEGAL_FORMS = ["股份有限公司", "有限公司", "集团有限公司", "有限责任公司", "集团股份有限公司"]
SYNTHETIC_MAPPING = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "code")
REAL_MAPPING = ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "csrc_division")


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def synthetic_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    regions = list(PROVINCES + CITIES)
    data = []
    for _ in range(rows):
        core = "".join(rng.choice(CORE_CHARACTERS) for _ in range(rng.randint(2, 4)))
        word_index = rng.randrange(len(INDUSTRY_WORDS))
        full = f"{rng.choice(regions)}{core}{INDUSTRY_WORDS[word_index]}{rng.choice(LEGAL_FORMS)}"
        data.append((full, core + INDUSTRY_WORDS[word_index][:1], SECTIONS[word_index]))
    return pd.DataFrame(data, columns=["full_name", "short_name", "code"])


def synthetic_queries(frame: pd.DataFrame, count: int, seed: int) -> list[str]:
    """Half table names (full, short, branch forms), half unseen names that go to the classifier."""
    rng = random.Random(seed + 1)
    queries = []
    for i in range(count):
        row = frame.iloc[rng.randrange(len(frame))]
        if i % 2 == 0:
            queries.append(rng.choice([row.full_name, row.short_name, row.full_name + "北京分公司"]))
        else:
            core = "".join(rng.choice("甲乙丙丁戊己庚辛") for _ in range(3))
            queries.append(f"{core}{rng.choice(INDUSTRY_WORDS)}有限公司")
    return queries


def speed(rows: int, queries: int, seed: int, work: Path) -> dict:
    torch.set_num_threads(1)
    frame = synthetic_frame(rows, seed)
    table = CompanyTable.from_frame(frame, SYNTHETIC_MAPPING)
    rss_before = vm_kib("VmRSS")
    index = CompanyIndex.build(table)
    index_kib = vm_kib("VmRSS") - rss_before
    del index
    info = fit_resolver(table, work / "synthetic", ClassifierConfig(epochs=3))
    resolver = IndustryResolver.load(work / "synthetic")
    names = synthetic_queries(frame, queries, seed)
    # Wall and CPU seconds: on a shared machine the CPU rate says what one core does when it is not taken.
    started, cpu_started = time.perf_counter(), time.process_time()
    matches = [resolver.index.lookup(n) for n in names]
    lookup_seconds, lookup_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    started, cpu_started = time.perf_counter(), time.process_time()
    results = [resolver.resolve(n) for n in names]
    resolve_seconds, resolve_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "rows": rows, "queries": queries, "index_keys": info.index_keys,
        "index_build_s": info.index_seconds, "classifier_fit_s": info.classifier_seconds,
        "index_rss_mib": round(index_kib / 1024, 1),
        "index_file_mib": round((work / "synthetic" / "index.json").stat().st_size / 2**20, 1),
        "lookups_per_s": round(queries / lookup_seconds), "resolves_per_s": round(queries / resolve_seconds),
        "lookups_per_cpu_s": round(queries / lookup_cpu), "resolves_per_cpu_s": round(queries / resolve_cpu),
        "table_hits": sum(m is not None for m in matches),
        "classifier_answers": sum(r is not None and r.rule == "classifier" for r in results),
        "peak_rss_mib": round(vm_kib("VmHWM") / 1024, 1),
    }


def dev_rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["confidence"] in ("high", "medium") and r["employer"]]


def dev_companies(table: CompanyTable, employers: list[str], rounds: int = 5) -> set[int]:
    """Ids of every company a dev employer string matches, repeated until no employer matches any more."""
    removed: set[int] = set()
    for _ in range(rounds):
        remaining = table.without(removed)
        original = [r.company_id for r in table.records if r.company_id not in removed]
        index = CompanyIndex.build(remaining)
        matched = {m.matched_name for e in employers if (m := index.lookup(e)) is not None}
        if not matched:
            break
        removed |= {original[r.company_id] for r in remaining.records
                    if any(n.text in matched for n in r.names)}
    return removed


def dev_accuracy(resolver: IndustryResolver, rows: list[dict]) -> dict:
    results = [resolver.resolve(r["employer"]) for r in rows]
    correct = [res is not None and res.section == r["section"] for res, r in zip(results, rows)]
    by_rule: dict[str, list[bool]] = {}
    for res, ok in zip(results, correct):
        by_rule.setdefault(res.rule if res else "none", []).append(ok)
    return {"accuracy": round(sum(correct) / len(rows), 3), "rows": len(rows),
            "by_rule": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_rule.items())}}


def contraction_agreement(table: CompanyTable, index: CompanyIndex) -> dict:
    """How often a full name's contraction (首都开发 -> 首开) found as a table core names the right section:
    the company's own short name, another company of its section, or one of another section."""
    counts = {"own_short_name": 0, "other_company_same_section": 0, "other_section": 0}
    for record in table.records:
        for name in record.names:
            if name.column != "full_name" or not (contraction := word_initials(name_keys(name.text).core)):
                continue
            entry = index.core.get(contraction)
            if entry is None:
                continue
            if any(name_keys(other.text).core == contraction for other in record.names):
                counts["own_short_name"] += 1
            elif entry.sections[0][0] == record.section:
                counts["other_company_same_section"] += 1
            else:
                counts["other_section"] += 1
    return counts


def real(companies: Path, dev: Path, work: Path, seed: int) -> dict:
    torch.set_num_threads(1)
    table = CompanyTable.from_csv(companies, REAL_MAPPING)
    rows = dev_rows(dev)
    fit_resolver(table, work / "full")
    full = dev_accuracy(IndustryResolver.load(work / "full"), rows)
    removed = dev_companies(table, [r["employer"] for r in rows])
    fit_resolver(table.without(removed), work / "without_dev")
    without = IndustryResolver.load(work / "without_dev")
    # The same classifier behind an empty index: what the classifier alone gets on the dev strings.
    classifier_only = IndustryResolver(CompanyIndex.empty(), without.classifier)
    _, held = split_companies(table, 0.2, seed)
    classifier = fit_classifier(table.without(held))
    held_examples = company_examples(table, held, classifier.sections)
    held_out = classifier.evaluate(held_examples.names, [classifier.sections[i] for i in held_examples.labels])
    return {
        "load_report": table.report.to_dict(), "dev_rows": len(rows),
        "dev_full_table": full, "dev_companies_removed": len(removed),
        "contraction_agreement": contraction_agreement(table, IndustryResolver.load(work / "full").index),
        "dev_without_dev_companies": dev_accuracy(without, rows),
        "dev_classifier_only_without_dev_companies": dev_accuracy(classifier_only, rows),
        "held_out_companies": len(held), "held_out_classifier": held_out.__dict__,
        "majority_baseline_held_out": round(sum(classifier.sections[i] == "C" for i in held_examples.labels)
                                            / len(held_examples.labels), 3),
        "calibration": without.manifest.get("calibration"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--companies", type=Path)
    parser.add_argument("--industry-dev", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict = {}
    with tempfile.TemporaryDirectory() as work:
        if args.companies and args.industry_dev:
            report["real"] = real(args.companies, args.industry_dev, Path(work), args.seed)
        if not args.skip_speed:
            report["speed"] = speed(args.rows, args.queries, args.seed, Path(work))
    for section, figures in report.items():
        print(f"== {section}")
        for key, value in figures.items():
            print(f"  {key:45s} {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
