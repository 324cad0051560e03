"""Linear-chain CRF head: one tag per token, one tag path per window.

For emissions E[t, y] = (W h_t + b)_y and learned start, transition and end scores:

    score(y) = start[y_0] + sum_t E[t, y_t] + sum_{t>0} A[y_{t-1}, y_t] + end[y_{L-1}]
    p(y | x) = exp(score(y)) / Z,   log Z by the forward algorithm in log space

Training minimises -log p(gold tags | x); decoding takes the Viterbi path.
Tags are BIOES (default) or BIO over the schema's types. Transitions that no
well-formed sequence takes (I-X after O, B-X then O in BIOES, ...) get a fixed
score of -10^4 in training, Viterbi and forward-backward alike: the CRF is a
distribution over well-formed tag sequences, so every decoded span is well
formed and span probabilities sum over well-formed paths only.

A decoded span's score is its posterior probability P(the window has exactly
this entity | x): the mass of all tag paths holding the span's tags (B I..I E,
or S; in BIO, B I..I not followed by another I of the type), from the forward
and backward scores (constrained forward-backward, Culotta & McCallum 2004).
It lies in (0, 1] and is comparable across spans and documents, so the
"most_confident" field policy can use it; a ``threshold`` > 0 drops spans less
probable than that.

A tag path cannot hold nested or overlapping spans: from overlapping gold spans
the longest are kept (``longest_non_overlapping``); training says how many
were dropped, once per run.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn

from extractor.model.options import TAG_ROLES as ROLES

IMPOSSIBLE = -1e4  # score of a forbidden transition: e^{-10^4} is exactly 0 in float32
TREE_MAX_SPREAD = 100.0  # nats between a step's best and worst scores that log Z's matrix tree handles

Span = tuple[int, int, int]  # (type, first token, last token)


class TagScheme:
    """Tag 0 is O; type a has tags 1 + a*k + r for its k roles r (B, I, and in BIOES E, S)."""

    def __init__(self, name: str, n_types: int):
        if name not in ROLES:
            raise ValueError(f"unknown tag scheme {name!r}; expected one of {sorted(ROLES)}")
        self.name, self.n_types, self.roles = name, n_types, ROLES[name]
        self.k = len(self.roles)
        self.n_tags = 1 + n_types * self.k

    def tag(self, a: int, role: str) -> int:
        return 1 + a * self.k + self.roles.index(role)

    def role(self, tag: int) -> Optional[tuple[int, str]]:
        """(type, role) of a tag; None for O."""
        if tag == 0:
            return None
        a, r = divmod(tag - 1, self.k)
        return a, self.roles[r]

    def names(self, labels: Sequence[str]) -> list[str]:
        return ["O"] + [f"{r}-{lab}" for lab in labels for r in self.roles]

    def may_follow(self, prev: int, nxt: int) -> bool:
        """May tag ``nxt`` come right after tag ``prev``? (O stands for the window's edges.)"""
        p, n = self.role(prev), self.role(nxt)
        open_ = p is not None and p[1] in ("B", "I")  # prev leaves a span open
        goes_on = n is not None and n[1] in ("I", "E")  # nxt continues an open span
        if self.name == "bioes" and open_:  # an open span goes on (I) or ends (E), with its type
            return goes_on and n[0] == p[0]
        if goes_on:  # only an open span of the same type can be continued
            return open_ and n[0] == p[0]
        return True  # O, B-X, S-X after a closed span; in BIO also after an open one

    def allowed(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boolean masks (start (K,), transitions (K, K), end (K,)): a window is O on both sides."""
        K = self.n_tags
        trans = torch.tensor([[self.may_follow(p, n) for n in range(K)] for p in range(K)], dtype=torch.bool)
        return trans[0].clone(), trans, trans[:, 0].clone()

    def encode(self, spans: Sequence[Span], T: int) -> list[int]:
        """Non-overlapping (type, i, j) spans -> one tag per position."""
        tags = [0] * T
        for a, i, j in spans:
            if self.name == "bioes" and i == j:
                tags[i] = self.tag(a, "S")
                continue
            tags[i] = self.tag(a, "B")
            for t in range(i + 1, j + 1):
                tags[t] = self.tag(a, "I")
            if self.name == "bioes":
                tags[j] = self.tag(a, "E")
        return tags

    def spans(self, tags: Sequence[int]) -> list[Span]:
        """Tags -> (type, i, j) spans, strictly: a malformed piece (I-X with no B-X) yields nothing."""
        out: list[Span] = []
        open_: Optional[tuple[int, int]] = None  # (type, first token) of the span being read
        for t, tag in enumerate(list(tags) + [0]):  # a final O closes an open BIO span
            r = self.role(tag)
            if self.name == "bio":
                if open_ is not None and r != (open_[0], "I"):
                    out.append((open_[0], open_[1], t - 1))
                    open_ = None
                if r is not None and r[1] == "B":
                    open_ = (r[0], t)
                continue
            if r is None or r[1] == "S":
                if r is not None:
                    out.append((r[0], t, t))
                open_ = None
            elif r[1] == "B":
                open_ = (r[0], t)
            elif open_ is None or open_[0] != r[0]:
                open_ = None
            elif r[1] == "E":
                out.append((r[0], open_[1], t))
                open_ = None
        return out


def longest_non_overlapping(spans: Sequence[Span]) -> list[Span]:
    """The spans one tag path can hold: longest first, then leftmost; each overlapping no kept one."""
    kept: list[Span] = []
    for a, i, j in sorted(set(spans), key=lambda s: (s[1] - s[2], s[1], s[0])):
        if all(j < ki or i > kj for _, ki, kj in kept):
            kept.append((a, i, j))
    return sorted(kept, key=lambda s: (s[1], s[2], s[0]))


class CRF(nn.Module):
    """Start, transition and end scores over ``n_tags``; batch first, any mask of true-prefix rows.

    ``allowed`` (start, transitions, end) boolean masks fix forbidden moves to IMPOSSIBLE.
    """

    def __init__(self, n_tags: int, allowed: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None):
        super().__init__()
        self.n_tags = n_tags
        self.start = nn.Parameter(torch.empty(n_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(n_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(n_tags, n_tags).uniform_(-0.1, 0.1))  # A[prev, next]
        if allowed is None:
            allowed = (torch.ones(n_tags, dtype=torch.bool), torch.ones(n_tags, n_tags, dtype=torch.bool),
                       torch.ones(n_tags, dtype=torch.bool))
        for name, ok in zip(("start_penalty", "transition_penalty", "end_penalty"), allowed):
            # Derived from the tag scheme in config.json, so not saved with the weights.
            self.register_buffer(name, (~ok).float() * IMPOSSIBLE, persistent=False)

    def potentials(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.start + self.start_penalty, self.transitions + self.transition_penalty,
                self.end + self.end_penalty)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """score(y) of the given tag paths: emissions (B, T, K), tags (B, T), mask (B, T) -> (B,)."""
        mask = mask.bool()
        start, trans, end = self.potentials()
        emit = emissions.gather(-1, tags[..., None]).squeeze(-1)  # E[t, y_t]
        s = start[tags[:, 0]] + (emit * mask).sum(1)
        s = s + (trans[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]).sum(1)  # A[y_{t-1}, y_t] inside the window
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0)[:, None]).squeeze(1)
        return s + end[last]

    def forward_scores(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """alpha_t(y) = log of the summed exp-scores of all paths over 0..t ending in y: (B, T, K).

        Padding positions carry the last real alpha, so alpha[:, -1] closes every window.
        """
        mask = mask.bool()
        start, trans, _ = self.potentials()
        alpha = start + emissions[:, 0]  # alpha_0(y) = start[y] + E[0, y]
        alphas = [alpha]
        for t in range(1, emissions.shape[1]):
            # alpha_t(y) = logsumexp_y' (alpha_{t-1}(y') + A[y', y]) + E[t, y]
            nxt = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
            alphas.append(alpha)
        return torch.stack(alphas, dim=1)

    def backward_scores(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """beta_t(y) = log of the summed exp-scores of all continuations after t from y: (B, T, K)."""
        mask = mask.bool()
        _, trans, end = self.potentials()
        beta = end.expand(emissions.shape[0], -1)  # beta_{L-1}(y) = end[y]; padding carries it back
        betas = [beta]
        for t in range(emissions.shape[1] - 2, -1, -1):
            # beta_t(y) = logsumexp_y' (A[y, y'] + E[t+1, y'] + beta_{t+1}(y'))
            nxt = torch.logsumexp(trans + (emissions[:, t + 1] + beta)[:, None, :], dim=2)
            beta = torch.where(mask[:, t + 1, None], nxt, beta)
            betas.append(beta)
        return torch.stack(betas[::-1], dim=1)

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z = logsumexp_y (alpha_{L-1}(y) + end[y]): (B,).

        Z = v_0^T M_1 ... M_{L-1} e with v_0(y) = exp(start[y] + E[0, y]), M_t(y', y) = exp(A[y', y] + E[t, y])
        (the identity on padding) and e(y) = exp(end[y]): the matrices are multiplied pairwise, log2(T)
        batched products instead of T dependent steps (training spent a fifth of its time in the loop).
        Each product is divided by its largest entry and the log of it added back; the factor is detached,
        which leaves the value and its gradient exact. A path more than ~87 nats below a product's best
        underflows to 0 in float32: with per-step score spreads up to 147 nats log Z stayed within 0.006
        of the loop's (random emissions, T = 256), at 218 it lost 42; batches whose spread passes
        ``TREE_MAX_SPREAD`` (a trained model's is far below) take the forward loop.
        """
        mask = mask.bool()
        start, trans, end = self.potentials()
        B, T, K = emissions.shape
        e, a = emissions.detach(), self.transitions.detach()
        if (e.amax(-1) - e.amin(-1)).max() + a.max() - a.min() > TREE_MAX_SPREAD:
            return self.log_partition_steps(emissions, mask)
        log_v = start + emissions[:, 0]  # (B, K)
        steps = trans + emissions[:, 1:, None, :]  # (B, T-1, K, K): A[y', y] + E[t, y]
        scale = steps.detach().amax(dim=(-1, -2), keepdim=True)
        eye = torch.eye(K, dtype=emissions.dtype, device=emissions.device)
        m = torch.where(mask[:, 1:, None, None], torch.exp(steps - scale), eye)
        log_scale = (scale[..., 0, 0] * mask[:, 1:]).sum(1)
        while m.shape[1] > 1:
            if m.shape[1] % 2:
                m = torch.cat([m, eye.expand(B, 1, K, K)], dim=1)
            product = m[:, 0::2] @ m[:, 1::2]
            top = product.detach().amax(dim=(-1, -2), keepdim=True)
            m = product / top
            log_scale = log_scale + torch.log(top)[..., 0, 0].sum(1)
        v_top = log_v.detach().amax(1, keepdim=True)
        v = torch.exp(log_v - v_top)[:, None, :]
        if T > 1:
            v = v @ m[:, 0]
        return torch.log((v[:, 0] * torch.exp(end)).sum(1)) + v_top[:, 0] + log_scale

    def log_partition_steps(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z by the forward algorithm, one position at a time: (B,)."""
        mask = mask.bool()
        start, trans, end = self.potentials()
        alpha = start + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-log p(tags | x) = log Z - score(tags), per window: (B,)."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The best path per window and its score: tags (B, T) (padding repeats the last tag), (B,)."""
        mask = mask.bool()
        start, trans, end = self.potentials()
        B, T, K = emissions.shape
        stay = torch.arange(K, device=emissions.device).expand(B, K)
        delta = start + emissions[:, 0]  # delta_0(y) = start[y] + E[0, y]
        pointers = []
        for t in range(1, T):
            # delta_t(y) = max_y' (delta_{t-1}(y') + A[y', y]) + E[t, y]; remember the argmax y'
            best, prev = (delta[:, :, None] + trans).max(dim=1)
            m = mask[:, t, None]
            delta = torch.where(m, best + emissions[:, t], delta)
            pointers.append(torch.where(m, prev, stay))
        best, last = (delta + end).max(dim=1)
        path = [last]
        for prev in reversed(pointers):
            last = prev.gather(1, last[:, None]).squeeze(1)
            path.append(last)
        return torch.stack(path[::-1], dim=1), best

    def span_log_probs(self, emissions: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor,
                       spans: torch.Tensor, stop: Optional[torch.Tensor] = None) -> torch.Tensor:
        """log P(y_i..y_j = tags[b, i..j] [and y_{j+1} != stop[b, j]] | x) for rows (b, i, j) of ``spans``.

        = alpha_i(y_i) + sum_{t=i+1..j} (A[y_{t-1}, y_t] + E[t, y_t]) + beta_j(y_j) - log Z,
        less, when ``stop`` is given, the paths that go on with y_{j+1} = stop[b, j].
        """
        mask = mask.bool()
        _, trans, end = self.potentials()
        alpha, beta = self.forward_scores(emissions, mask), self.backward_scores(emissions, mask)
        log_z = torch.logsumexp(alpha[:, -1] + end, dim=1)
        on_path = lambda x: x.gather(-1, tags[..., None]).squeeze(-1)  # noqa: E731  x_t(y_t): (B, T)
        step = torch.zeros_like(emissions[..., 0])
        step[:, 1:] = trans[tags[:, :-1], tags[:, 1:]] + on_path(emissions)[:, 1:]
        cum = step.cumsum(1)
        b, i, j = spans.unbind(1)
        closing = on_path(beta)
        if stop is not None:  # subtract the continuations through y_{j+1} = stop: beta + log(1 - e^{go_on - beta})
            nxt = torch.zeros_like(mask)
            nxt[:, :-1] = mask[:, 1:]
            go_on = torch.full_like(closing, float("-inf"))
            go_on[:, :-1] = (trans[tags[:, :-1], stop[:, :-1]] + emissions[:, 1:].gather(-1, stop[:, :-1, None])[..., 0]
                             + beta[:, 1:].gather(-1, stop[:, :-1, None])[..., 0])
            go_on = go_on.masked_fill(~nxt, float("-inf"))
            closing = closing + torch.log1p(-torch.exp(go_on - closing).clamp(max=1 - 1e-7))
        return on_path(alpha)[b, i] + cum[b, j] - cum[b, i] + closing[b, j] - log_z[b]


class CRFHead(nn.Module):
    """Emissions E = W h + b, one score per tag and token, under a linear-chain CRF.

    forward -> emissions (B, T, n_tags); ``loss`` and ``decode`` need only those, the
    attention mask and the CRF's own parameters.
    """

    nested = False  # one tag path: no nested or overlapping spans

    def __init__(self, hidden_size: int, n_types: int, tags: str = "bioes"):
        super().__init__()
        self.scheme = TagScheme(tags, n_types)
        self.emit = nn.Linear(hidden_size, self.scheme.n_tags)
        self.crf = CRF(self.scheme.n_tags, self.scheme.allowed())

    def forward(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.emit(h)

    def trainable_spans(self, gold: Sequence[Span]) -> list[Span]:
        return longest_non_overlapping(gold)

    def tags(self, gold: Sequence[Sequence[Span]], T: int, device=None) -> torch.Tensor:
        return torch.tensor([self.scheme.encode(self.trainable_spans(g), T) for g in gold], dtype=torch.long,
                            device=device)

    def loss(self, emissions: torch.Tensor, gold: Sequence[Sequence[Span]], attention_mask: torch.Tensor,
             form: str = "dense") -> torch.Tensor:
        """Mean over windows of -log p(gold tags | x). The NLL has one form; ``form`` is the heads' common argument."""
        tags = self.tags(gold, emissions.shape[1], emissions.device)
        return self.crf.nll(emissions, tags, attention_mask).mean()

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, attention_mask: torch.Tensor, threshold: float = 0.0,
               max_span_len: Optional[int] = None) -> list[list[tuple[int, int, int, float]]]:
        """Spans of the Viterbi path per window: (type, i, j, P(span | x)), j inclusive.

        ``threshold`` <= 0 keeps every span of the path (its probability can underflow to 0 only
        for a model that has learned nothing); otherwise spans with P > threshold are kept.
        """
        mask = attention_mask.bool()
        paths, _ = self.crf.viterbi(emissions, mask)
        lengths = mask.sum(1).tolist()
        rows = [(b, a, i, j) for b, (path, n) in enumerate(zip(paths.tolist(), lengths))
                for a, i, j in self.scheme.spans(path[:n])
                if max_span_len is None or j - i < max_span_len]
        out: list[list[tuple[int, int, int, float]]] = [[] for _ in range(emissions.shape[0])]
        if not rows:
            return out
        stop = None
        if self.scheme.name == "bio":  # a BIO span ends where no I of its type follows
            a_t = ((paths - 1).clamp(min=0) // self.scheme.k)
            stop = 1 + a_t * self.scheme.k + self.scheme.roles.index("I")
        index = torch.tensor([(b, i, j) for b, _, i, j in rows], dtype=torch.long, device=emissions.device)
        probs = self.crf.span_log_probs(emissions.float(), mask, paths, index, stop).exp().tolist()
        for (b, a, i, j), p in zip(rows, probs):
            if threshold <= 0 or p > threshold:
                out[b].append((a, i, j, p))
        return out
