"""Token encoders: text ids -> one vector h_i per token.

- ``bilstm``: character (and hashed character-bigram) embeddings into a BiLSTM,
  trained from scratch.
- ``transformer``: any Hugging Face encoder (BERT, RoBERTa, ...), either built
  from a config with random weights (``bert-scratch``) or loaded from a local
  pretrained directory.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn as nn


class BiLSTMEncoder(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.3,
        bigram_buckets: int = 0,
        trigram_buckets: int = 0,
        pad_id: int = 0,
        char_dropout: float = 0.0,
        unk_id: int = 1,
        word_tags: int = 0,
        word_tag_dim: int = 32,
    ):
        super().__init__()
        self.pad_id, self.unk_id, self.bigram_buckets = pad_id, unk_id, bigram_buckets
        self.char_dropout = char_dropout
        # With word tags, ids carry (character, place in its word): id = word_tags * char + tag.
        self.word_tags = word_tags
        self.word_tag_embed = nn.Embedding(word_tags, word_tag_dim) if word_tags else None
        self.char_embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        # Chinese words are mostly two characters: a hashed bigram table adds word cues with no lexicon.
        self.bigram_embed = nn.Embedding(bigram_buckets, embed_dim) if bigram_buckets else None
        self.trigram_buckets = trigram_buckets
        self.trigram_embed = nn.Embedding(trigram_buckets, embed_dim) if trigram_buckets else None
        in_dim = embed_dim * (1 + bool(bigram_buckets) + bool(trigram_buckets)) + (word_tag_dim if word_tags else 0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            in_dim, hidden_size, num_layers, batch_first=True, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.hidden_size = 2 * hidden_size

    def _shift(self, ids: torch.Tensor, k: int) -> torch.Tensor:
        return torch.cat([ids[:, k:], torch.full_like(ids[:, :k], self.pad_id)], dim=1)

    def bigram_ids(self, input_ids: torch.Tensor) -> torch.Tensor:  # (c_i, c_{i+1}) hashed
        return (input_ids * 1_000_003 + self._shift(input_ids, 1)) % self.bigram_buckets

    def trigram_ids(self, input_ids: torch.Tensor) -> torch.Tensor:  # (c_{i-1}, c_i, c_{i+1}) hashed
        prev = torch.cat([torch.full_like(input_ids[:, :1], self.pad_id), input_ids[:, :-1]], dim=1)
        return ((prev * 1_000_003 + input_ids) * 1_000_033 + self._shift(input_ids, 1)) % self.trigram_buckets

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tags = None
        if self.word_tag_embed is not None:
            input_ids, tags = input_ids // self.word_tags, input_ids % self.word_tags
        if self.training and self.char_dropout > 0:
            # Unseen names and companies at test time look like [UNK]: show the model some in training.
            drop = (torch.rand_like(input_ids, dtype=torch.float) < self.char_dropout) & attention_mask.bool()
            input_ids = input_ids.masked_fill(drop, self.unk_id)
        x = self.char_embed(input_ids)
        if self.bigram_embed is not None:
            x = torch.cat([x, self.bigram_embed(self.bigram_ids(input_ids))], dim=-1)
        if self.trigram_embed is not None:
            x = torch.cat([x, self.trigram_embed(self.trigram_ids(input_ids))], dim=-1)
        if tags is not None:
            x = torch.cat([x, self.word_tag_embed(tags)], dim=-1)
        x = self.dropout(x)
        lengths = attention_mask.sum(1).clamp(min=1)
        if self.training:
            return self.dropout(self.lstm_unpacked(x, lengths) * attention_mask[..., None].to(x.dtype))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=input_ids.shape[1])
        return self.dropout(out)

    def lstm_unpacked(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``self.lstm`` over right-padded sequences without packing, for training: on CPU PyTorch runs a
        packed sequence one time step at a time (input projections included), about 3x slower forward and
        backward. Each layer's directions run apart, the backward one over every sequence reversed within
        its length, so no state passes through padding; positions past a length hold garbage (mask them).
        The same weights and the same values as the packed path, up to rounding."""
        lstm = self.lstm
        B, T = x.shape[:2]
        positions = torch.arange(T, device=x.device).expand(B, T)
        flip = lengths[:, None] - 1 - positions
        flip = torch.where(flip >= 0, flip, positions)[..., None]  # t -> length-1-t inside, padding in place
        zeros = x.new_zeros(1, B, lstm.hidden_size)
        for layer in range(lstm.num_layers):
            outputs = []
            for suffix in ("", "_reverse"):
                weights = [getattr(lstm, f"{kind}_l{layer}{suffix}") for kind in ("weight_ih", "weight_hh",
                                                                                   "bias_ih", "bias_hh")]
                seq = x if not suffix else x.gather(1, flip.expand_as(x))
                out = torch.lstm(seq, (zeros, zeros), weights, True, 1, 0.0, True, False, True)[0]
                outputs.append(out if not suffix else out.gather(1, flip.expand_as(out)))
            x = torch.cat(outputs, dim=-1)
            if layer < lstm.num_layers - 1:
                x = nn.functional.dropout(x, lstm.dropout, True)
        return x


class TransformerEncoder(nn.Module):
    """Wraps a Hugging Face ``AutoModel``; returns the last hidden state."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.model = hf_model
        self.hidden_size = hf_model.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def scratch_bert_config(vocab_size: int, max_positions: int, pad_id: int = 0, **overrides: Any) -> dict:
    """A small BERT for character input, trained from random weights."""
    cfg = dict(
        model_type="bert", vocab_size=vocab_size, hidden_size=256, num_hidden_layers=4,
        num_attention_heads=4, intermediate_size=1024, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, max_position_embeddings=max_positions,
        type_vocab_size=1, pad_token_id=pad_id,
    )
    cfg.update(overrides)
    return cfg


def build_encoder(spec: dict, hf_config: Optional[Any] = None, pretrained_path: Optional[str] = None) -> nn.Module:
    """Build an encoder from its saved spec.

    For ``transformer`` encoders, ``pretrained_path`` loads weights from a local
    directory; otherwise the architecture comes from ``hf_config`` with random
    weights (a saved model's own weights are loaded afterwards).
    """
    kind = spec["type"]
    if kind == "bilstm":
        args = {k: v for k, v in spec.items() if k != "type"}
        return BiLSTMEncoder(**args)
    if kind == "transformer":
        from transformers import AutoModel

        if pretrained_path is not None:
            return TransformerEncoder(AutoModel.from_pretrained(pretrained_path, local_files_only=True))
        if hf_config is None:
            raise ValueError("a transformer encoder needs its Hugging Face config")
        return TransformerEncoder(AutoModel.from_config(hf_config))
    raise ValueError(f"unknown encoder type {kind!r}; expected 'bilstm' or 'transformer'")
