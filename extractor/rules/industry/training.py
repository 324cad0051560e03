"""Torch training loop of the hashed n-gram logistic regression (kept apart from numpy inference)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def train_logistic_regression(
    features: Sequence[np.ndarray], labels: np.ndarray, classes: int, config
) -> tuple[np.ndarray, np.ndarray]:
    """(weight [buckets, classes], bias [classes]) minimising cross-entropy + L2 on the rows used.

    Sparse embedding gradients with SparseAdam touch only the rows of a batch, so an epoch costs the
    batch size, not the 2^18 buckets. One thread and a seeded generator make two fits byte-identical.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        embedding = torch.nn.EmbeddingBag(config.buckets, classes, mode="mean", sparse=True)
        torch.nn.init.zeros_(embedding.weight)
        bias = torch.nn.Parameter(torch.zeros(classes))
        sparse_optimizer = torch.optim.SparseAdam(list(embedding.parameters()), lr=config.learning_rate)
        dense_optimizer = torch.optim.Adam([bias], lr=config.learning_rate)
        flat = [torch.from_numpy(f) for f in features]
        targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        for _ in range(config.epochs):
            order = torch.randperm(len(flat), generator=generator)
            for start in range(0, len(order), config.batch_size):
                batch = order[start:start + config.batch_size]
                ids = torch.cat([flat[i] for i in batch])
                offsets = torch.tensor([0] + [len(flat[i]) for i in batch[:-1]]).cumsum(0)
                logits = embedding(ids, offsets) + bias
                loss = torch.nn.functional.cross_entropy(logits, targets[batch])
                # L2 on the rows this batch uses (a sparse gradient, like the embedding's own).
                rows = torch.nn.functional.embedding(ids.unique(), embedding.weight, sparse=True)
                loss = loss + config.l2 * rows.pow(2).sum()
                sparse_optimizer.zero_grad()
                dense_optimizer.zero_grad()
                loss.backward()
                sparse_optimizer.step()
                dense_optimizer.step()
        return embedding.weight.detach().numpy().copy(), bias.detach().numpy().copy()
    finally:
        torch.set_num_threads(threads)
