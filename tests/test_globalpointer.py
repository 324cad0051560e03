"""Pins the GlobalPointer math: RoPE relativity, masks, both losses, decoding."""
import math

import pytest
import torch

from extractor.model.globalpointer import (
    NEG_INF,
    EfficientGlobalPointer,
    GlobalPointer,
    decode,
    multilabel_crossentropy,
    rope,
    span_mask,
    span_targets,
    sparse_multilabel_crossentropy,
    sparse_span_targets,
)


def test_rope_score_depends_only_on_offset():
    torch.manual_seed(0)
    d, T = 16, 12
    q, k = torch.randn(d), torch.randn(d)
    # The same q at every position and the same k at every position: only R changes with position.
    Rq, Rk = rope(q.expand(T, d).clone()), rope(k.expand(T, d).clone())
    s = Rq @ Rk.T
    for offset in range(-4, 5):
        diag = torch.diagonal(s, offset=offset)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4), offset
    # ... and different offsets give different scores (RoPE is not a no-op).
    assert not torch.isclose(s[0, 1], s[0, 3])


def test_rope_preserves_norm_and_position_zero():
    x = torch.randn(5, 8)
    y = rope(x)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.allclose(y[0], x[0])


@pytest.mark.parametrize("head_cls", [GlobalPointer, EfficientGlobalPointer])
def test_head_masks_lower_triangle_and_padding(head_cls):
    torch.manual_seed(0)
    head = head_cls(hidden_size=8, n_types=3, head_size=4)
    h = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    s = head(h, mask)
    assert s.shape == (2, 3, 5, 5)
    allowed = span_mask(mask).expand_as(s)
    assert (s[~allowed] == NEG_INF).all()
    assert (s[allowed] > NEG_INF / 2).all()
    assert (s[1, :, 3:, :] == NEG_INF).all() and (s[1, :, :, 3:] == NEG_INF).all()
    assert (s[0, :, 2, 1] == NEG_INF).all()  # j < i


def test_gp_scores_are_relative_with_rope_but_not_without():
    torch.manual_seed(0)
    h = torch.randn(1, 1, 8).expand(1, 6, 8)  # identical token vectors
    mask = torch.ones(1, 6, dtype=torch.long)
    with_rope = GlobalPointer(8, 1, 4, use_rope=True)(h, mask)[0, 0]
    assert torch.allclose(with_rope[0, 2], with_rope[3, 5], atol=1e-5)
    assert not torch.isclose(with_rope[0, 0], with_rope[0, 2])
    no_rope = GlobalPointer(8, 1, 4, use_rope=False)(h, mask)[0, 0]
    assert torch.isclose(no_rope[0, 0], no_rope[0, 5])  # position-blind: every span scores the same


def closed_form(scores, gold):
    pos = sum(math.exp(-scores[i]) for i in gold)
    neg = sum(math.exp(scores[i]) for i in range(len(scores)) if i not in gold)
    return math.log(1 + pos) + math.log(1 + neg)


def test_dense_loss_matches_closed_form():
    raw = [[0.5, -1.0, 2.0], [NEG_INF, 1.5, -0.3], [NEG_INF, NEG_INF, 0.7]]
    s = torch.tensor(raw).view(1, 1, 3, 3)
    y = torch.zeros_like(s)
    y[0, 0, 0, 2] = 1  # gold span (0, 2)
    y[0, 0, 1, 1] = 1  # gold span (1, 1)
    flat = [v for row in raw for v in row]
    expected = closed_form([v if v > NEG_INF / 2 else -1e9 for v in flat], {2, 4})
    assert multilabel_crossentropy(s, y).item() == pytest.approx(expected, rel=1e-6)


def test_dense_loss_with_no_gold_is_log_one_plus_sum_exp():
    s = torch.tensor([[[[0.0, 1.0], [NEG_INF, -2.0]]]])
    expected = math.log(1 + 1 + math.e + math.exp(-2.0))
    assert multilabel_crossentropy(s, torch.zeros_like(s)).item() == pytest.approx(expected, rel=1e-6)


def test_sparse_and_dense_losses_agree():
    torch.manual_seed(0)
    B, A, T = 3, 4, 7
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    s = torch.randn(B, A, T, T).masked_fill(~span_mask(mask), NEG_INF)
    gold = [[(0, 0, 2), (0, 1, 1), (3, 4, 6)], [(1, 0, 4)], []]
    dense = multilabel_crossentropy(s, span_targets(gold, A, T))
    idx, gmask = sparse_span_targets(gold, A, T)
    sparse = sparse_multilabel_crossentropy(s, idx, gmask)
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-5)


def test_sparse_loss_gradients_match_dense():
    torch.manual_seed(1)
    s1 = torch.randn(1, 2, 5, 5, requires_grad=True)
    s2 = s1.detach().clone().requires_grad_()
    gold = [[(0, 1, 3), (1, 0, 0), (1, 2, 4)]]
    multilabel_crossentropy(s1, span_targets(gold, 2, 5)).backward()
    idx, gmask = sparse_span_targets(gold, 2, 5)
    sparse_multilabel_crossentropy(s2, idx, gmask).backward()
    assert torch.allclose(s1.grad, s2.grad, atol=1e-5)


def test_decode_keeps_nested_and_overlapping_spans():
    s = torch.full((1, 2, 6, 6), -5.0)
    s[0, 0, 0, 4] = 3.0  # outer ORG
    s[0, 1, 1, 2] = 2.0  # nested LOC inside it
    s[0, 0, 3, 5] = 1.0  # overlaps the outer span
    s[0, 1, 5, 5] = 0.0  # not above zero
    found = decode(s)[0]
    assert sorted((a, i, j) for a, i, j, _ in found) == [(0, 0, 4), (0, 3, 5), (1, 1, 2)]
    assert sorted((a, i, j) for a, i, j, _ in decode(s, max_span_len=3)[0]) == [(0, 3, 5), (1, 1, 2)]


def test_training_the_head_learns_nested_gold_spans():
    torch.manual_seed(0)
    T, A = 8, 2
    h = torch.randn(1, T, 16)
    mask = torch.ones(1, T, dtype=torch.long)
    gold = [[(0, 1, 5), (1, 2, 3), (1, 2, 5)]]  # nested and overlapping
    head = GlobalPointer(16, A, 8)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        loss = multilabel_crossentropy(head(h, mask), span_targets(gold, A, T))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert sorted((a, i, j) for a, i, j, _ in decode(head(h, mask))[0]) == sorted(gold[0])


def test_weight_ema_is_bias_corrected_and_tracks_a_constant():
    from extractor.model.checkpoints import WeightEMA

    model = torch.nn.Linear(2, 1)
    ema = WeightEMA(model, decay=0.99)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)
    assert torch.allclose(ema.materialize().weight, torch.full((1, 2), 3.0))  # no pull towards the init
    with torch.no_grad():
        model.weight.fill_(5.0)
    ema.update(model)
    expected = (0.99 * 0.01 * 3.0 + 0.01 * 5.0) / (1 - 0.99**2)
    assert torch.allclose(ema.materialize().weight, torch.full((1, 2), expected))
