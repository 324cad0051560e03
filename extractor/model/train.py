"""Training: length-bucketed batches, AdamW with warmup and linear decay, gradient
clipping, dev evaluation each epoch, early stopping, best checkpoint kept."""
from __future__ import annotations

import logging
import math
import random
import sys
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

import torch
from tqdm.auto import tqdm

from extractor.data.documents import Document
from extractor.model.augment import mention_pool, replace_mentions
from extractor.model.checkpoints import CheckpointKeeper, WeightEMA, write_training_metrics
from extractor.model.directory import LoadedModel, build_model
from extractor.model.encoders import scratch_bert_config
from extractor.model.evaluate import evaluate_model
from extractor.model.heads import head_spec
from extractor.model.regularizers import embedding_attack, symmetric_span_kl
from extractor.model.schedule import TimeBudget, lr_factor
from extractor.model.tokenization import CharTokenizer, HFTokenizer, word_dictionary
from extractor.model.train_config import BILSTM_OPTIONS, SCRATCH_ENCODERS, TrainConfig
from extractor.model.windows import Window, collate, encode_document, make_windows
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)

def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # numpy is optional for training
        pass


def build_untrained(cfg: TrainConfig, schema: Schema, train_docs: Sequence[Document]) -> LoadedModel:
    """Tokenizer and randomly initialised (or pretrained-encoder) model for a config."""
    config: dict = {
        "labels": list(schema.labels),
        "head": head_spec(cfg.head, cfg.head_size, cfg.rope, cfg.tags),
        "window": {"max_tokens": cfg.max_tokens, "stride": cfg.stride},
        "max_span_len": cfg.max_span_len,
    }
    pretrained = None
    hf_config = None
    if cfg.encoder in SCRATCH_ENCODERS:
        word_tags, word_pos = cfg.uses_word_tags(), cfg.uses_word_pos()
        if word_tags and cfg.encoder != "bilstm":
            raise ValueError("word tags are a BiLSTM feature; the transformer encoders take plain characters")
        if word_pos and not word_tags:
            raise ValueError("parts of speech are part of the word tags: word_pos needs word_tags")
        tokenizer = CharTokenizer.build((d.text for d in train_docs), cfg.min_char_freq, word_tags, word_pos)
        config["tokenizer"] = "char"
        config["word_tags"], config["word_pos"] = word_tags, word_pos
        if word_tags:
            config["word_dictionary"] = word_dictionary()
        if cfg.encoder == "bilstm":
            spec = {"type": "bilstm", "vocab_size": len(tokenizer), "embed_dim": 128, "hidden_size": 256,
                    "num_layers": 2, "dropout": 0.5, "bigram_buckets": 50_000, "char_dropout": 0.05,
                    "pad_id": tokenizer.pad_id, "unk_id": tokenizer.unk_id,
                    "word_tags": tokenizer.word_tag_count}
            unknown = sorted(set(cfg.encoder_options) - BILSTM_OPTIONS)
            if unknown:
                raise ValueError(f"unknown bilstm encoder options {unknown}; known: {sorted(BILSTM_OPTIONS)}")
            spec.update(cfg.encoder_options)
        else:
            from transformers import BertConfig

            hf_config = BertConfig(**scratch_bert_config(len(tokenizer), cfg.max_tokens, tokenizer.pad_id,
                                                         **cfg.encoder_options))
            spec = {"type": "transformer", "source": "scratch"}
        config["encoder"] = spec
    else:
        path = Path(cfg.encoder)
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"encoder {cfg.encoder!r} is neither 'bilstm', 'bert-scratch' nor a local Hugging Face model "
                "directory with config.json (models are never downloaded)"
            )
        tokenizer = HFTokenizer.from_directory(path)
        config["tokenizer"] = "hf"
        config["encoder"] = {"type": "transformer", "source": str(path.resolve())}
        pretrained = str(path)
        from transformers import AutoConfig

        hf = AutoConfig.from_pretrained(str(path), local_files_only=True)
        positions = getattr(hf, "max_position_embeddings", None)
        if positions and hf.model_type in ("roberta", "xlm-roberta", "camembert"):
            positions -= (hf.pad_token_id or 0) + 1  # RoBERTa positions start after the padding index
        if positions and cfg.max_tokens > positions:
            raise ValueError(f"--max-tokens {cfg.max_tokens} exceeds the encoder's {positions} positions")
    model = build_model(config, hf_config, pretrained)
    return LoadedModel(model, tokenizer, config, schema)


def training_windows(docs: Sequence[Document], loaded: LoadedModel, cfg: TrainConfig,
                     warn: bool = True) -> list[Window]:
    index = {lab: i for i, lab in enumerate(loaded.labels)}
    head = loaded.model.head
    windows, unaligned, dropped, dropped_docs = [], 0, 0, 0
    for n, doc in enumerate(docs):
        enc = encode_document(doc, loaded.tokenizer, index)
        unaligned += enc.unaligned
        lost = len(set(enc.gold)) - len(set(head.trainable_spans(enc.gold)))
        dropped, dropped_docs = dropped + lost, dropped_docs + (lost > 0)
        windows.extend(make_windows(n, enc, loaded.tokenizer, cfg.max_tokens, cfg.stride))
    if unaligned and warn:
        log.warning("%d gold entities cover no token (whitespace only?) and were left out of training", unaligned)
    if dropped and warn:
        # Counted once per document, here, rather than in every batch that meets them.
        log.warning("%d gold entities in %d documents overlap a longer one; the %s head cannot tag nested or "
                    "overlapping spans and trains without them", dropped, dropped_docs, cfg.head)
    return windows


def bucketed_batches(windows: Sequence[Window], batch_size: int, rng: random.Random) -> list[list[Window]]:
    """Shuffle, sort within pools of 50 batches by length, then shuffle the batches."""
    order = list(range(len(windows)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for p in range(0, len(order), pool):
        chunk = sorted(order[p : p + pool], key=lambda i: len(windows[i].input_ids))
        batches.extend([windows[i] for i in chunk[b : b + batch_size]] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def batch_loss(loaded: LoadedModel, batch: Sequence[Window], loss: str,
               aux: Optional[tuple[torch.nn.Module, float]] = None, rdrop: float = 0.0) -> torch.Tensor:
    ids, mask = collate(batch, loaded.tokenizer.pad_id)
    gold = [w.gold for w in batch]
    if rdrop > 0:  # R-Drop's two passes, each with its own dropout masks, as one batch of twice the windows
        ids, mask, gold = ids.repeat(2, 1), mask.repeat(2, 1), gold + gold
    h = loaded.model.encoder(ids, mask)
    output = loaded.model.head(h, mask)
    total = loaded.model.head.loss(output, gold, mask, form=loss)
    if aux is not None:
        crf, weight = aux
        total = total + weight * crf.loss(crf(h, mask), gold, mask)
    if rdrop > 0:
        first, second = output.chunk(2)
        total = total + rdrop * symmetric_span_kl(first, second, mask[: len(batch)])
    return total


def backward_step(loaded: LoadedModel, batch: Sequence[Window], cfg: TrainConfig,
                  aux: Optional[tuple[torch.nn.Module, float]] = None) -> torch.Tensor:
    """The batch's loss, backpropagated; with ``cfg.adversarial`` also that of the batch with the embedding
    tables moved along the gradient (FGM), its gradients added to the clean ones. Returns the clean loss."""
    loss = batch_loss(loaded, batch, cfg.loss, aux, cfg.rdrop)
    loss.backward()
    if cfg.adversarial > 0:
        with embedding_attack(loaded.model.encoder, cfg.adversarial):
            batch_loss(loaded, batch, cfg.loss, aux, cfg.rdrop).backward()
    return loss


def takes_weight_decay(name: str) -> bool:
    """Biases and normalisation weights are left out of weight decay: shrinking them only hurts."""
    return not (name.endswith("bias") or "LayerNorm" in name or "norm" in name.lower())


def parameter_groups(model: torch.nn.Module, encoder_lr: float, head_lr: float, weight_decay: float) -> list[dict]:
    """AdamW groups: the encoder and the head each at their own learning rate, with and without decay."""
    groups = []
    for part, lr in ((model.encoder, encoder_lr), (model.head, head_lr)):
        named = list(part.named_parameters())
        groups.append({"params": [p for n, p in named if takes_weight_decay(n)], "lr": lr,
                       "weight_decay": weight_decay})
        groups.append({"params": [p for n, p in named if not takes_weight_decay(n)], "lr": lr, "weight_decay": 0.0})
    return groups


def make_optimizer(cfg: TrainConfig, loaded: LoadedModel) -> tuple[torch.optim.Optimizer,
                                                                   Optional[tuple[torch.nn.Module, float]]]:
    """AdamW over the model, and over the auxiliary CRF (with its weight) when the config trains one."""
    groups = parameter_groups(loaded.model, *cfg.default_lrs(), cfg.weight_decay)
    aux = None
    if cfg.aux_crf_weight() > 0:
        # Tag-path supervision of the encoder: the span head alone learns long spans' boundaries slowly.
        from extractor.model.crf import CRFHead

        crf = CRFHead(loaded.model.encoder.hidden_size, len(loaded.labels))
        groups.append({"params": list(crf.parameters()), "lr": cfg.default_lrs()[1], "weight_decay": 0.0})
        aux = (crf, cfg.aux_crf_weight())
    return torch.optim.AdamW(groups), aux


def check_training_inputs(cfg: TrainConfig, train_docs: Sequence[Document]) -> None:
    if cfg.loss not in ("dense", "sparse"):
        raise ValueError(f"loss must be 'dense' or 'sparse', got {cfg.loss!r}")
    if cfg.checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got {cfg.checkpoint!r}")
    if not train_docs:
        raise ValueError("no training documents")
    if not 0 <= cfg.augment <= 1:
        raise ValueError(f"augment is a probability (0 to 1), got {cfg.augment}")
    if cfg.adversarial < 0 or cfg.rdrop < 0:
        raise ValueError("adversarial and rdrop must not be negative")
    if cfg.rdrop > 0 and cfg.head not in ("gp", "egp"):
        raise ValueError("rdrop compares span scores: it applies to the gp and egp heads")


def train_epoch(loaded: LoadedModel, batches: Sequence[Sequence[Window]], cfg: TrainConfig,
                optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                ema: Optional[WeightEMA], bar: tqdm, aux: Optional[tuple[torch.nn.Module, float]] = None) -> float:
    """One pass of optimizer steps over ``batches``; returns the mean loss."""
    loaded.model.train()
    clipped = list(loaded.model.parameters()) + (list(aux[0].parameters()) if aux else [])
    total_loss = 0.0
    for batch in bar:
        optimizer.zero_grad(set_to_none=True)
        loss = backward_step(loaded, batch, cfg, aux)
        torch.nn.utils.clip_grad_norm_(clipped, cfg.clip)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(loaded.model)
        total_loss += loss.item()
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return round(total_loss / max(1, len(batches)), 6)


def evaluate_epoch(epoch: int, mean_loss: float, train_seconds: float, scored: LoadedModel,
                   dev_docs: Sequence[Document], ema: Optional[WeightEMA]) -> tuple[dict, Optional[dict]]:
    """The epoch's history row and its dev result (None without dev documents)."""
    started = time.perf_counter()
    if ema is not None:
        ema.materialize()
    dev = evaluate_model(scored, dev_docs) if dev_docs else None
    row = {
        "epoch": epoch,
        "loss": mean_loss,
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(time.perf_counter() - started, 2),
    }
    if dev:
        row.update(dev_micro_f1=dev["micro"]["f1"], dev_doc_exact_match=dev["doc_exact_match"])
    return row, dev


def starting_model(cfg: TrainConfig, schema: Schema, train_docs: Sequence[Document],
                   encoder_state: Optional[Mapping[str, torch.Tensor]] = None) -> LoadedModel:
    """The seeded untrained model; ``encoder_state``: weights its encoder starts from instead of random ones,
    for the encoder and vocabulary that ``build_untrained`` makes from the same config and documents
    (benchmarks/pretrain_mlm.py pretrains them on unlabelled text)."""
    seed_everything(cfg.seed)
    loaded = build_untrained(cfg, schema, train_docs)
    if encoder_state is not None:
        loaded.model.encoder.load_state_dict(encoder_state)
    return loaded


def train(
    cfg: TrainConfig,
    schema: Schema,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    out_dir: str | Path,
    progress: Optional[bool] = None,
    encoder_state: Optional[Mapping[str, torch.Tensor]] = None,
) -> dict:
    """Train, keeping the best dev checkpoint (or the last: ``cfg.checkpoint``) in ``out_dir``; returns the metrics."""
    check_training_inputs(cfg, train_docs)
    progress = sys.stderr.isatty() if progress is None else progress
    loaded = starting_model(cfg, schema, train_docs, encoder_state)
    if schema.nested and not loaded.model.head.nested:
        log.warning("schema %s is nested: true, but the %s head predicts flat spans only (one tag per token)",
                    schema.name, cfg.head)
    windows = training_windows(train_docs, loaded, cfg)
    rng = random.Random(cfg.seed)
    mentions = mention_pool(train_docs) if cfg.augment > 0 else {}
    augment_rng = random.Random(f"augment-{cfg.seed}")

    optimizer, aux = make_optimizer(cfg, loaded)
    steps_per_epoch = math.ceil(len(windows) / cfg.batch_size)
    budget = TimeBudget(cfg.max_minutes, cfg.epochs)
    warmup_steps = max(1, int(steps_per_epoch * cfg.epochs * cfg.warmup))  # fixed, even when the budget re-plans
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, steps_per_epoch * budget.planned_epochs))
    # The averaged weights are what gets evaluated and saved: smoother than any single step's.
    ema = WeightEMA(loaded.model, cfg.ema) if cfg.ema else None
    scored = LoadedModel(ema.module, loaded.tokenizer, loaded.config, loaded.schema) if ema else loaded
    keeper = CheckpointKeeper(cfg, out_dir, scored)

    history: list[dict] = []
    started, stopped_by = time.perf_counter(), "epochs"
    for epoch in range(1, cfg.epochs + 1):
        epoch_started = time.perf_counter()
        if cfg.augment > 0:  # this epoch's copies of the documents, other mentions in the same contexts
            windows = training_windows([replace_mentions(d, mentions, cfg.augment, augment_rng) for d in train_docs],
                                       loaded, cfg, warn=False)
        batches = bucketed_batches(windows, cfg.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress, leave=False, unit="batch")
        mean_loss = train_epoch(loaded, batches, cfg, optimizer, scheduler, ema, bar, aux)
        train_seconds = time.perf_counter() - epoch_started
        row, dev = evaluate_epoch(epoch, mean_loss, train_seconds, scored, dev_docs, ema)
        history.append(row)
        keeper.record(epoch, dev, history, train_seconds)
        elapsed_minutes = (time.perf_counter() - started) / 60
        if keeper.patience_exhausted():
            stopped_by = "patience"
            break
        if not budget.continue_after(epoch, elapsed_minutes, (time.perf_counter() - epoch_started) / 60):
            stopped_by = "time budget"
            break
    keeper.finish(epoch, dev)
    metrics = {
        "config": cfg.record(), "best_epoch": keeper.best_epoch, "dev": keeper.best_dev, "history": history,
        "train_minutes": round((time.perf_counter() - started) / 60, 3), "stopped_by": stopped_by,
        "train_windows": len(windows), "train_docs": len(train_docs),
    }
    return write_training_metrics(out_dir, metrics)
