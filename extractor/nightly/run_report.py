"""A pipeline's accuracy report: the one a run collects as it goes (when its source has gold labels),
and the one ``extractor evaluate-pipeline`` computes alone, without the database.

Kept apart from the engines and from ``reports`` (how a report is computed and written): this is only
where a pipeline's configuration meets the report, which changes with the pipeline file, not the format.
"""
from __future__ import annotations

import logging
from typing import Iterable, Iterator, Optional

from extractor.data.documents import Document
from extractor.model.directory import LoadedModel, load_model
from extractor.model.export import prepare_runtime
from extractor.model.predict import Predictor
from extractor.nightly.config import PipelineConfig, PipelineError
from extractor.nightly.field_predictor import RulesError, load_rules
from extractor.nightly.records import check_record
from extractor.nightly.reports import ReportCollector, remove_unfinished_reports, write_report
from extractor.nightly.safe_files import writing
from extractor.nightly.sources import open_source
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)


def report_headline(report: dict) -> dict:
    """The figures of a report a run summary carries."""
    return {"n_docs": report["n_docs"], "doc_exact_match": report["doc_exact_match"],
            "fields_f1": {k: v["f1"] for k, v in report["fields"].items()}}


def write_pipeline_report(cfg: PipelineConfig, report: dict, replaces_runs: Iterable[int] = ()) -> tuple[dict, list]:
    """Write ``report`` where the pipeline says (nowhere when it names no directory); returns the paths
    written and the regressions against the previous report. ``replaces_runs``: earlier runs that never
    finished their report (this one covers their documents): what they wrote of it is removed."""
    if not cfg.report.directory:
        return {}, []
    with writing(cfg.report.directory):
        removed = remove_unfinished_reports(cfg.report.directory, replaces_runs)
    if removed:
        log.info("removed %d file(s) of unfinished reports: %s", len(removed), ", ".join(p.name for p in removed))
    return write_report(report, cfg.report.directory, cfg.report.max_f1_drop, cfg.report.min_docs)


def load_pipeline_rules(cfg: PipelineConfig, loaded: LoadedModel) -> Schema:
    """The pipeline's rules, checked against its model: rules using labels the model does not predict
    are a configuration error."""
    try:
        return load_rules(loaded, cfg.schema, industry=cfg.industry)
    except RulesError as exc:
        raise PipelineError(f"{cfg.path}: schema {cfg.schema} uses labels {exc.unknown} that model {cfg.model} "
                            f"does not predict (it predicts {loaded.labels})") from None


def evaluate_pipeline(cfg: PipelineConfig, limit: Optional[int] = None, progress: bool = False) -> tuple[dict, dict, list]:
    """Score the pipeline's model and rules on every gold-labelled record of its source (nothing is written
    to the database). Returns (report, paths, regressions)."""
    from tqdm.auto import tqdm

    prepare_runtime(cfg.model, cfg.predict.runtime)
    loaded = load_model(cfg.model)
    schema = load_pipeline_rules(cfg, loaded)
    cols = cfg.source.columns
    if not (cols.gold_entities or cols.gold_fields):
        raise PipelineError(f"{cfg.path}: the source maps no gold column (source.columns.gold_entities or "
                            "gold_fields), so there is nothing to score against")
    source = open_source(cfg.source)
    predictor = Predictor(loaded, cfg.predict)
    collector = ReportCollector(schema, loaded.labels, cfg.report.examples)

    def docs() -> Iterator[Document]:
        for n, rec in enumerate(source):
            if limit is not None and n >= limit:
                return
            checked = check_record(rec, cfg.max_chars, True)
            if isinstance(checked, Document):
                yield checked

    for doc, spans in tqdm(predictor.predict(docs()), desc="report", unit="doc", disable=not progress):
        collector.add(doc, spans)
    report = collector.result(pipeline=cfg.name, run_id=None, model_version=loaded.version,
                              rules_version=schema.rules_version)
    paths, regressions = write_pipeline_report(cfg, report)
    return report, paths, regressions
