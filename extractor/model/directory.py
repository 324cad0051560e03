"""The span extractor (encoder + head: GlobalPointer, Efficient GlobalPointer or CRF) and its
self-contained directory.

A model directory, like Hugging Face's ``save_pretrained`` output:

    config.json        labels, encoder spec, head, window settings, model_version, weights_sha256
                       (the weights file's SHA-256, checked on loading)
    model.safetensors  all weights (no pickles)
    vocab.json         character vocabulary (from-scratch encoders), or
    encoder/           Hugging Face config + tokenizer files (transformer encoders)
    schema.yaml        the schema the model was trained for
    metrics.json       training history and best dev scores
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from extractor import __version__
from extractor.model.encoders import build_encoder
from extractor.model.heads import build_head, head_spec
from extractor.model.tokenization import CharTokenizer, HFTokenizer, Tokenizer, word_dictionary_change
from extractor.rules.schema import Schema

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"

log = logging.getLogger(__name__)


class ModelIntegrityError(ValueError):
    """The weights file is not the one config.json was saved with (corrupted, truncated or replaced)."""


class SpanExtractor(nn.Module):
    """Encoder + head. ``head`` is a head name with its settings, or a config.json head section."""

    def __init__(self, encoder: nn.Module, n_types: int, head: str | dict = "gp", head_size: int = 64,
                 use_rope: bool = True, tags: str = "bioes"):
        super().__init__()
        spec = head if isinstance(head, dict) else head_spec(head, head_size, use_rope, tags)
        self.encoder = encoder
        self.head = build_head(spec, encoder.hidden_size, n_types)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The head's raw output: span scores (B, n_types, T, T) for gp/egp, tag emissions
        (B, T, n_tags) for crf. ``self.head.decode(output, attention_mask, ...)`` turns it into spans."""
        return self.head(self.encoder(input_ids, attention_mask), attention_mask)


@dataclass
class LoadedModel:
    model: SpanExtractor
    tokenizer: Tokenizer
    config: dict
    schema: Schema
    directory: Optional[Path] = None

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    @property
    def version(self) -> str:
        return self.config.get("model_version", "unsaved")


def build_model(config: dict, hf_config: Any = None, pretrained_path: Optional[str] = None) -> SpanExtractor:
    encoder = build_encoder(config["encoder"], hf_config, pretrained_path)
    return SpanExtractor(encoder, len(config["labels"]), config["head"])


def save_model(directory: str | Path, loaded: LoadedModel, metrics: Optional[dict] = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in loaded.model.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": "pt"})
    config = dict(loaded.config, format_version=FORMAT_VERSION, created_by=f"extractor {__version__}")
    digest = file_sha256(weights)
    config["model_version"] = digest[:16]
    config["weights_sha256"] = digest  # checked by load_model: the version must describe these very weights
    if config["tokenizer"] == "char":
        loaded.tokenizer.save(directory)
    else:
        (directory / "encoder").mkdir(exist_ok=True)
        loaded.tokenizer.save(directory / "encoder")
    if config["encoder"]["type"] == "transformer":
        (directory / "encoder").mkdir(exist_ok=True)
        loaded.model.encoder.model.config.save_pretrained(str(directory / "encoder"))
    (directory / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    (directory / "schema.yaml").write_text(loaded.schema.source or "", encoding="utf-8")
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    loaded.config = config
    loaded.directory = directory
    return directory


def load_model(directory: str | Path) -> LoadedModel:
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{directory}: not a model directory (no config.json); train one with `extractor train`")
    config = read_config(config_path)
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{directory}: saved by a newer extractor (format {config['format_version']})")
    tokenizer: Tokenizer
    if config["tokenizer"] == "char":
        tokenizer = CharTokenizer.load(directory, bool(config.get("word_tags")), bool(config.get("word_pos")))
        change = word_dictionary_change(config.get("word_dictionary")) if config.get("word_tags") else None
        if change:
            log.warning("%s: %s", directory, change)
    else:
        tokenizer = HFTokenizer.from_directory(directory / "encoder")
    hf_config = None
    if config["encoder"]["type"] == "transformer":
        from transformers import AutoConfig

        hf_config = AutoConfig.from_pretrained(str(directory / "encoder"), local_files_only=True)
    try:
        model = build_model(config, hf_config)
    except TypeError as exc:  # a setting this version's encoders or heads do not take
        raise ModelDirectoryError(f"{directory}: config.json does not fit this extractor ({exc})") from None
    missing, unexpected = _load_weights(model, directory)
    # Some HF models keep non-persistent buffers (position ids) out of the state dict; weights must all match.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelDirectoryError(f"{directory}: model.safetensors does not fit config.json (missing "
                                  f"{missing[:5]}, unexpected {unexpected[:5]})")
    # After the shape checks, whose messages say more; weights of the right shape can still be the wrong ones.
    check_weights(directory, config)
    model.eval()
    schema = Schema.from_yaml((directory / "schema.yaml").read_text(encoding="utf-8"), str(directory / "schema.yaml"))
    return LoadedModel(model, tokenizer, config, schema, directory)


class ModelDirectoryError(ValueError):
    """A model directory whose files cannot be used together: an unreadable config.json, truncated weights,
    or weights shaped for another config.json. The message names the directory and what is wrong, in one line."""


REQUIRED_CONFIG_KEYS = ("labels", "tokenizer", "encoder", "head")


def read_config(path: Path) -> dict:
    """config.json as a dict, or a ModelDirectoryError naming the file and what is wrong with it."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelDirectoryError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ModelDirectoryError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") \
            from None
    if not isinstance(config, dict):
        raise ModelDirectoryError(f"{path}: expected a JSON object, found {type(config).__name__}")
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise ModelDirectoryError(f"{path}: missing {', '.join(missing)}; this is not a config.json saved by "
                                  "`extractor train`")
    if not isinstance(config["encoder"], dict) or "type" not in config["encoder"]:
        raise ModelDirectoryError(f"{path}: 'encoder' must be an object with a 'type'")
    return config


def _load_weights(model: SpanExtractor, directory: Path) -> tuple[list[str], list[str]]:
    """Load model.safetensors into ``model``; returns the missing and unexpected keys."""
    from safetensors import SafetensorError

    try:
        state = load_file(str(directory / "model.safetensors"))
    except SafetensorError as exc:  # a copy cut short, or not a safetensors file at all
        raise ModelDirectoryError(f"{directory}: model.safetensors is truncated or corrupt ({exc})") from None
    try:
        return model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # size mismatches: config.json describes another network (hidden_size changed)
        problems = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        raise ModelDirectoryError(f"{directory}: model.safetensors does not fit config.json: "
                                  + "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")) from None


_warned_unchecked: set[Path] = set()


def check_weights(directory: Path, config: dict) -> None:
    """Refuse weights that are not the ones saved with ``config`` (their version would be a lie). Directories
    saved before config.json kept ``weights_sha256`` load unchecked, with one log line per directory."""
    weights = directory / WEIGHTS_FILE
    expected = config.get("weights_sha256")
    if expected is None:
        if directory not in _warned_unchecked:
            _warned_unchecked.add(directory)
            log.info("%s: config.json has no weights_sha256 (saved by an older extractor); weights not checked",
                     directory)
        return
    if not weights.exists():
        raise FileNotFoundError(f"{weights}: missing; the model directory is incomplete")
    actual = file_sha256(weights)
    if actual != expected:
        raise ModelIntegrityError(
            f"{weights}: weights do not match config.json (sha256 {actual[:16]}, saved as {expected[:16]}): "
            "the file is corrupted or was replaced; restore the model directory or retrain it")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
