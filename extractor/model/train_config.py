"""What a training run is asked to do: the encoder, head and optimiser settings of ``extractor train``, with
the defaults that depend on the encoder resolved in one place (the learning rates, the auxiliary CRF weight,
word tags, early stopping)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

SCRATCH_ENCODERS = ("bilstm", "bert-scratch")
BILSTM_OPTIONS = {"embed_dim", "hidden_size", "num_layers", "dropout", "bigram_buckets", "trigram_buckets",
                  "char_dropout", "word_tag_dim"}


@dataclass
class TrainConfig:
    encoder: str = "bilstm"  # bilstm | bert-scratch | path to a local Hugging Face model directory
    head: str = "gp"  # gp | egp | crf
    head_size: int = 64  # gp, egp
    rope: bool = True  # gp, egp
    tags: str = "bioes"  # crf: bioes | bio
    epochs: int = 30
    batch_size: int = 16
    lr: Optional[float] = None  # encoder learning rate; default depends on the encoder
    head_lr: Optional[float] = None
    weight_decay: float = 0.01
    warmup: float = 0.06  # share of steps
    clip: float = 1.0
    # Epochs without dev improvement before stopping. None: 6, or off with a time budget (max_minutes): the
    # budget re-plans the decay to its last epoch, and on Resume NER two of three seeds had their best epoch
    # in the lowest-rate last ones (docs/benchmarks.md).
    patience: Optional[int] = None
    seed: int = 42
    max_tokens: int = 256
    stride: int = 192
    loss: str = "dense"  # dense | sparse
    max_span_len: Optional[int] = None
    max_minutes: Optional[float] = None  # never start an epoch that would end past this budget
    min_char_freq: int = 1
    ema: Optional[float] = 0.99  # evaluate and save an exponential moving average of the weights; None: off
    # Feed each character's place in its jieba word (dictionary segmentation) to the encoder.
    # BiLSTM only; None: on for the BiLSTM (+0.4 dev F1 on Resume NER, docs/benchmarks.md).
    word_tags: Optional[bool] = None
    # With word tags, also the word's part of speech in jieba's dictionary (person, place, organisation ...).
    # None: on with word tags (Resume NER dev, three seeds under a 19-minute budget: +0.01, +0.67, +0.15 over
    # the same day's default, mean 94.49 against 94.21; docs/benchmarks.md).
    word_pos: Optional[bool] = None
    checkpoint: str = "best"  # best: the best dev epoch's weights; last: the final epoch's (fixed-epoch benchmarks)
    encoder_options: dict = field(default_factory=dict)
    # gp/egp: weight of an auxiliary linear-chain CRF loss on the encoder's states (training only: the CRF
    # is not saved and prediction is unchanged). 0: off; None: 0.05 for the BiLSTM (it converges faster:
    # +0.8 dev F1 at 12 epochs on Resume NER, within seed noise under a 19-minute budget;
    # docs/benchmarks.md), off for transformer encoders.
    aux_crf: Optional[float] = None
    # Mention replacement: each epoch, every gold entity that overlaps no other is replaced, with this
    # probability, by another training mention of its label (extractor/model/augment.py). 0: off.
    augment: float = 0.0
    # FGM: epsilon by which the embedding tables move along the loss gradient for a second, adversarial
    # loss each step (about twice the training time per step). 0: off.
    adversarial: float = 0.0
    # R-Drop (gp/egp): weight of the divergence between two dropout passes' span scores (each batch runs
    # twice). 0: off.
    rdrop: float = 0.0

    def record(self) -> dict:
        """The config as metrics.json keeps it, with the learning rates, aux CRF weight and patience used."""
        lr, head_lr = self.default_lrs()
        return {**asdict(self), "lr": lr, "head_lr": head_lr, "aux_crf": self.aux_crf_weight(),
                "patience": self.early_stop_patience()}

    def early_stop_patience(self) -> Optional[int]:
        """The patience the run uses; None: no early stopping."""
        if self.patience is not None:
            return self.patience
        return None if self.max_minutes else 6

    def aux_crf_weight(self) -> float:
        if self.head not in ("gp", "egp"):
            return 0.0
        if self.aux_crf is not None:
            return self.aux_crf
        return 0.05 if self.encoder == "bilstm" else 0.0

    def uses_word_tags(self) -> bool:
        return self.encoder == "bilstm" if self.word_tags is None else self.word_tags

    def uses_word_pos(self) -> bool:
        return self.uses_word_tags() if self.word_pos is None else self.word_pos

    def default_lrs(self) -> tuple[float, float]:
        if self.encoder == "bilstm":
            base = 2e-3
        elif self.encoder == "bert-scratch":
            base = 5e-4
        else:
            base = 3e-5  # fine-tuning pretrained weights
        return self.lr or base, self.head_lr or (self.lr or max(base, 1e-3))
