"""IndustryResolver: employer name -> GB/T 4754 section, from the company table, then the classifier.

A resolver is a directory: ``resolver.json`` (format, column mapping, counts, content hash), the index
(``index.json``) and the classifier (``classifier.safetensors`` + ``classifier.json``). The content hash
is a sha256 over the index and classifier files, so two fits of the same table give the same hash and any
change of the table changes it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from extractor.rules.industry.classifier import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ClassifierConfig,
    SectionClassifier,
    fit_classifier,
)
from extractor.rules.industry.index import INDEX_FILE, CompanyIndex, TableMatch
from extractor.rules.industry.names import name_keys
from extractor.rules.industry.table import CompanyTable

RESOLVER_FILE = "resolver.json"
RESOLVER_FORMAT = 1
HASHED_FILES: tuple[str, ...] = (INDEX_FILE, WEIGHTS_FILE, CONFIG_FILE)
# Below this a table match (a two-character prefix, an ambiguous key) is weak enough that a more
# confident classifier prediction should win over it.
WEAK_TABLE_CONFIDENCE = 0.65


@dataclass(frozen=True)
class Resolution:
    """``section`` None when the best answer is below ``min_confidence``; ``reason`` then says why."""

    section: str | None
    rule: str
    confidence: float
    matched_name: str | None = None
    code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ResolverInfo:
    directory: str
    content_hash: str
    companies: int
    names: int
    index_keys: int
    load_report: dict
    calibration: dict | None
    index_seconds: float
    classifier_seconds: float


def content_hash(directory: str | Path) -> str:
    """sha256 over the names and sha256 digests of the index and classifier files, in a fixed order."""
    digest = hashlib.sha256()
    for name in HASHED_FILES:
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256((Path(directory) / name).read_bytes()).digest())
    return digest.hexdigest()


def fit_resolver(
    table: CompanyTable, out_dir: str | Path, classifier_config: ClassifierConfig = ClassifierConfig()
) -> ResolverInfo:
    """Build the index, fit the classifier, write both and ``resolver.json`` to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    index = CompanyIndex.build(table)
    index.save(out_dir)
    index_seconds = time.perf_counter() - started
    classifier = fit_classifier(table, classifier_config)
    classifier.save(out_dir)
    classifier_seconds = time.perf_counter() - started - index_seconds
    info = ResolverInfo(
        directory=str(out_dir),
        content_hash=content_hash(out_dir),
        companies=len(table),
        names=sum(len(r.names) for r in table.records),
        index_keys=len(index),
        load_report=table.report.to_dict(),
        calibration=asdict(classifier.calibration) if classifier.calibration else None,
        index_seconds=round(index_seconds, 3),
        classifier_seconds=round(classifier_seconds, 3),
    )
    manifest = {"format": RESOLVER_FORMAT, "mapping": table.mapping.to_dict(), "files": list(HASHED_FILES),
                **{k: v for k, v in asdict(info).items() if k != "directory"}}
    (out_dir / RESOLVER_FILE).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return info


class IndustryResolver:
    """``resolve(name)``: a table match first, then the classifier; see ``WEAK_TABLE_CONFIDENCE``."""

    def __init__(self, index: CompanyIndex, classifier: SectionClassifier | None, content_hash: str = "",
                 min_confidence: float = 0.0, manifest: dict | None = None):
        self.index = index
        self.classifier = classifier
        self.content_hash = content_hash
        self.min_confidence = min_confidence
        self.manifest = manifest or {}

    @classmethod
    def load(cls, directory: str | Path, min_confidence: float = 0.0, verify: bool = True) -> "IndustryResolver":
        """Load a fitted resolver; with ``verify`` a changed index or classifier file is an error."""
        directory = Path(directory)
        manifest = json.loads((directory / RESOLVER_FILE).read_text(encoding="utf-8"))
        if manifest.get("format") != RESOLVER_FORMAT:
            raise ValueError(f"unsupported resolver format {manifest.get('format')!r}, expected {RESOLVER_FORMAT}")
        digest = content_hash(directory)
        if verify and digest != manifest["content_hash"]:
            raise ValueError(f"resolver files in {directory} do not match resolver.json's content hash")
        return cls(CompanyIndex.load(directory), SectionClassifier.load(directory), digest, min_confidence, manifest)

    def resolve(self, employer_name: str, min_confidence: float | None = None) -> Resolution | None:
        """The section of an employer name; None when nothing is left of the name after normalisation."""
        keys = name_keys(employer_name or "")
        if len(keys.core) < 2:
            return None
        best = _from_table(self.index.lookup_keys(keys))
        if (best is None or best.confidence < WEAK_TABLE_CONFIDENCE or "ambiguous" in (best.reason or "")) \
                and self.classifier is not None:
            # The keys are already computed: the classifier's features come from them too.
            section, probability = self.classifier.predict_keys(keys)
            if best is None or probability > best.confidence:
                best = Resolution(section, "classifier", round(probability, 4))
        threshold = self.min_confidence if min_confidence is None else min_confidence
        if best.confidence < threshold:
            reason = f"{best.rule} {best.confidence:.2f} < {threshold:.2f}"
            return Resolution(None, best.rule, best.confidence, best.matched_name, best.code, reason)
        return best

    def resolve_batch(self, names: Sequence[str], min_confidence: float | None = None) -> list[Resolution | None]:
        return [self.resolve(n, min_confidence) for n in names]


def _from_table(match: TableMatch | None) -> Resolution | None:
    if match is None:
        return None
    reason = "ambiguous table key" if match.ambiguous else None
    return Resolution(match.section, match.rule, match.confidence, match.matched_name, match.code, reason)
