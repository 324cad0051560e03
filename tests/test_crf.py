"""Pins the CRF math against brute force over every tag path, and the tag schemes."""
import itertools
import math

import pytest
import torch

from extractor.model.crf import CRF, CRFHead, TagScheme, longest_non_overlapping


def path_score(crf, emissions, path):
    """score(y) written out for one unpadded window, with the constrained potentials."""
    start, trans, end = crf.potentials()
    s = start[path[0]] + emissions[0, path[0]] + end[path[-1]]
    for t in range(1, len(path)):
        s = s + trans[path[t - 1], path[t]] + emissions[t, path[t]]
    return s.item()


def all_paths(crf, n):
    """Every path of length n (forbidden moves score -10^4: their paths vanish from sums)."""
    return [p for p in itertools.product(range(crf.n_tags), repeat=n)]


def brute_log_z(crf, emissions):
    scores = [path_score(crf, emissions, p) for p in all_paths(crf, emissions.shape[0])]
    return torch.logsumexp(torch.tensor(scores, dtype=torch.float64), 0).item()


def random_crf(K, allowed=None, seed=0):
    torch.manual_seed(seed)
    crf = CRF(K, allowed)
    with torch.no_grad():  # scores of order one, as after some training
        for p in crf.parameters():
            p.normal_()
    return crf


@pytest.mark.parametrize("constrained", [False, True])
def test_nll_equals_brute_force_with_and_without_padding(constrained):
    # 3 tags: unconstrained, or BIO with one type (O, B, I: I never after O nor at the start).
    scheme = TagScheme("bio", 1)
    crf = random_crf(3, scheme.allowed() if constrained else None)
    torch.manual_seed(1)
    emissions = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # the second window has 2 tokens, then padding
    tags = torch.tensor([[1, 2, 0, 1], [1, 2, 0, 0]])  # B I O B / B I (pad)
    nll = crf.nll(emissions, tags, mask)
    for b, n in enumerate([4, 2]):
        log_z = brute_log_z(crf, emissions[b, :n])
        expected = log_z - path_score(crf, emissions[b, :n], tags[b, :n].tolist())
        assert nll[b].item() == pytest.approx(expected, abs=1e-4)
        # The padding's emissions and tags change nothing.
        assert crf.log_partition(emissions[b : b + 1, :n], mask[b : b + 1, :n]).item() == pytest.approx(log_z, abs=1e-4)
    if constrained:  # a forbidden path has probability 0 (I right after O)
        bad = crf.nll(emissions[:1], torch.tensor([[0, 2, 2, 0]]), mask[:1])
        assert bad.item() > 1000


def test_probabilities_sum_to_one_and_gradients_flow():
    crf = random_crf(3)
    emissions = torch.randn(1, 3, 3, requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.long)
    total = sum(math.exp(-crf.nll(emissions, torch.tensor([p]), mask).item()) for p in all_paths(crf, 3))
    assert total == pytest.approx(1.0, abs=1e-5)
    crf.nll(emissions, torch.tensor([[0, 1, 2]]), mask).sum().backward()
    assert emissions.grad is not None and crf.transitions.grad is not None and crf.transitions.grad.abs().sum() > 0


@pytest.mark.parametrize("constrained", [False, True])
def test_viterbi_equals_brute_force_argmax(constrained):
    scheme = TagScheme("bioes", 1)  # 5 tags: O B I E S
    crf = random_crf(5, scheme.allowed() if constrained else None, seed=3)
    torch.manual_seed(4)
    emissions = torch.randn(3, 4, 5)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]])
    paths, best = crf.viterbi(emissions, mask)
    for b, n in enumerate([4, 3, 1]):
        scored = {p: path_score(crf, emissions[b, :n], p) for p in all_paths(crf, n)}
        argmax = max(scored, key=scored.get)
        assert tuple(paths[b, :n].tolist()) == argmax
        assert best[b].item() == pytest.approx(scored[argmax], abs=1e-4)
        assert (paths[b, n:] == paths[b, n - 1]).all()  # padding repeats the last tag


def test_forward_and_backward_scores_give_marginals():
    crf = random_crf(4, seed=5)
    emissions = torch.randn(1, 4, 4)
    mask = torch.ones(1, 4, dtype=torch.long)
    alpha, beta = crf.forward_scores(emissions, mask), crf.backward_scores(emissions, mask)
    log_z = crf.log_partition(emissions, mask)
    marg = (alpha + beta - log_z[:, None, None]).exp()[0]
    assert torch.allclose(marg.sum(-1), torch.ones(4), atol=1e-5)
    scores = {p: path_score(crf, emissions[0], p) for p in all_paths(crf, 4)}
    z = sum(math.exp(s) for s in scores.values())
    for t, y in [(0, 1), (2, 3), (3, 0)]:
        expected = sum(math.exp(s) for p, s in scores.items() if p[t] == y) / z
        assert marg[t, y].item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("name", ["bio", "bioes"])
def test_span_probability_equals_brute_force(name):
    scheme = TagScheme(name, 2)
    crf = random_crf(scheme.n_tags, scheme.allowed(), seed=6)
    torch.manual_seed(7)
    emissions = torch.randn(1, 4, scheme.n_tags) * 2
    mask = torch.ones(1, 4, dtype=torch.long)
    head = CRFHead(3, 2, name)
    head.crf = crf
    found = head.decode(emissions, mask)[0]
    assert found
    scores = {p: path_score(crf, emissions[0], p) for p in all_paths(crf, 4)}
    z = sum(math.exp(s) for s in scores.values())
    for a, i, j, prob in found:
        expected = sum(math.exp(s) for p, s in scores.items() if (a, i, j) in scheme.spans(p)) / z
        assert prob == pytest.approx(expected, abs=1e-5)
        assert 0 < prob <= 1


@pytest.mark.parametrize("name", ["bio", "bioes"])
def test_decoded_paths_are_always_well_formed(name):
    scheme = TagScheme(name, 3)
    start_ok, trans_ok, end_ok = scheme.allowed()
    head = CRFHead(8, 3, name)
    torch.manual_seed(8)
    emissions = torch.randn(16, 12, scheme.n_tags) * 5  # strong, random: an untrained model's worst
    lengths = torch.randint(1, 13, (16,))
    mask = (torch.arange(12)[None, :] < lengths[:, None]).long()
    paths, _ = head.crf.viterbi(emissions, mask)
    for b in range(16):
        path = paths[b, : lengths[b]].tolist()
        assert start_ok[path[0]] and end_ok[path[-1]]
        assert all(trans_ok[p, q] for p, q in zip(path, path[1:]))
        # A well-formed path is exactly the tags of its spans.
        assert scheme.encode(scheme.spans(path), len(path)) == path
    for spans in head.decode(emissions, mask):
        for a, i, j, p in spans:
            assert 0 <= a < 3 and i <= j and 0 < p <= 1


def test_constraints_forbid_what_the_scheme_forbids():
    bioes = TagScheme("bioes", 2)
    names = bioes.names(["X", "Y"])
    assert names == ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
    ok = lambda p, q: bioes.may_follow(names.index(p), names.index(q))  # noqa: E731
    assert ok("O", "B-X") and ok("O", "S-Y") and ok("B-X", "I-X") and ok("I-X", "E-X") and ok("E-X", "B-Y")
    assert not ok("O", "I-X") and not ok("O", "E-X") and not ok("B-X", "O") and not ok("B-X", "E-Y")
    assert not ok("I-X", "B-Y") and not ok("S-X", "I-X")
    start, _, end = bioes.allowed()
    assert [names[t] for t in range(len(names)) if start[t]] == ["O", "B-X", "S-X", "B-Y", "S-Y"]
    assert [names[t] for t in range(len(names)) if end[t]] == ["O", "E-X", "S-X", "E-Y", "S-Y"]
    bio = TagScheme("bio", 2)
    names = bio.names(["X", "Y"])
    ok = lambda p, q: bio.may_follow(names.index(p), names.index(q))  # noqa: E731
    assert ok("B-X", "I-X") and ok("I-X", "I-X") and ok("I-X", "B-Y") and ok("B-X", "O") and ok("I-X", "B-X")
    assert not ok("O", "I-X") and not ok("B-X", "I-Y") and not ok("I-Y", "I-X")


@pytest.mark.parametrize("name", ["bio", "bioes"])
def test_tags_and_spans_round_trip(name):
    scheme = TagScheme(name, 3)
    spans = [(0, 0, 0), (2, 1, 3), (1, 4, 4), (1, 5, 6), (0, 8, 9)]  # adjacent spans, one-token spans
    tags = scheme.encode(spans, 11)
    assert scheme.spans(tags) == spans
    names = scheme.names(["A", "B", "C"])
    if name == "bioes":
        assert [names[t] for t in tags[:4]] == ["S-A", "B-C", "I-C", "E-C"]
    else:
        assert [names[t] for t in tags[:4]] == ["B-A", "B-C", "I-C", "I-C"]
    # Malformed pieces decode to nothing rather than to a guessed span.
    if name == "bioes":
        assert scheme.spans([scheme.tag(0, "I"), scheme.tag(0, "E"), scheme.tag(1, "B"), 0]) == []
    else:
        assert scheme.spans([0, scheme.tag(0, "I"), scheme.tag(0, "I")]) == []


def test_longest_non_overlapping_keeps_the_longest_spans():
    gold = [(0, 0, 5), (1, 2, 3), (1, 4, 7), (2, 8, 8), (0, 8, 8)]
    assert longest_non_overlapping(gold) == [(0, 0, 5), (0, 8, 8)]
    assert longest_non_overlapping([(1, 3, 4), (0, 0, 1)]) == [(0, 0, 1), (1, 3, 4)]


def test_head_learns_a_tiny_tagging_task():
    torch.manual_seed(0)
    T, A = 8, 2
    h = torch.randn(2, T, 16)
    mask = torch.tensor([[1] * 8, [1] * 6 + [0] * 2])
    gold = [[(0, 1, 3), (1, 5, 5)], [(1, 0, 1), (0, 3, 5)]]
    head = CRFHead(16, A)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(100):
        loss = head.loss(head(h, mask), gold, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    found = head.decode(head(h, mask), mask)
    assert [[(a, i, j) for a, i, j, _ in f] for f in found] == gold
    assert all(p > 0.9 for f in found for *_, p in f)
    # threshold and max_span_len filter the path's spans
    assert [[(a, i, j) for a, i, j, _ in f] for f in head.decode(head(h, mask), mask, max_span_len=2)] == \
        [[(1, 5, 5)], [(1, 0, 1)]]
    assert head.decode(head(h, mask), mask, threshold=1.0) == [[], []]  # a probability never exceeds 1
    lowest = min(p for f in found for *_, p in f)
    kept = head.decode(head(h, mask), mask, threshold=lowest)
    assert sum(map(len, kept)) == 3 and all(p > lowest for f in kept for *_, p in f)


@pytest.mark.parametrize("scale", [1.0, 10.0, 40.0])
def test_log_partition_tree_matches_the_forward_loop(scale):
    # The pairwise matrix product against the position-by-position forward algorithm, values and gradients,
    # on odd lengths with padding; at scale 40 the spread passes TREE_MAX_SPREAD and the loop answers.
    scheme = TagScheme("bioes", 3)
    crf = random_crf(scheme.n_tags, scheme.allowed())
    torch.manual_seed(2)
    emissions = (torch.randn(4, 37, scheme.n_tags) * scale).requires_grad_()
    mask = torch.ones(4, 37, dtype=torch.bool)
    for b, n in enumerate([37, 20, 2, 1]):
        mask[b, n:] = False
    tree, steps = crf.log_partition(emissions, mask), crf.log_partition_steps(emissions, mask)
    assert torch.allclose(tree, steps, rtol=1e-5, atol=1e-3)
    grad_tree = torch.autograd.grad(tree.sum(), [emissions, crf.transitions])
    grad_steps = torch.autograd.grad(steps.sum(), [emissions, crf.transitions])
    for g, h in zip(grad_tree, grad_steps):
        assert torch.allclose(g, h, atol=1e-4)
