"""Training-only regularisers: FGM's embedding attack and R-Drop's span divergence."""
import math

import pytest
import torch
from conftest import ROOT, TINY_BILSTM, invoke

from extractor.model import train as training
from extractor.model.globalpointer import span_bias
from extractor.model.regularizers import embedding_attack, symmetric_span_kl
from extractor.rules.schema import Schema


@pytest.fixture()
def tiny(sample_docs):
    torch.manual_seed(0)
    cfg = training.TrainConfig(max_tokens=64, stride=48, encoder_options=TINY_BILSTM)
    loaded = training.build_untrained(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), sample_docs[:8])
    windows = training.training_windows(sample_docs[:8], loaded, cfg)
    return loaded, windows[:4]


def test_the_attack_moves_each_table_epsilon_along_its_gradient_and_puts_it_back(tiny):
    loaded, batch = tiny
    loaded.model.eval()  # no dropout: the two losses differ only by the move
    clean = training.batch_loss(loaded, batch, "dense")
    clean.backward()
    tables = {n: m.weight.detach().clone() for n, m in loaded.model.encoder.named_modules()
              if isinstance(m, torch.nn.Embedding)}
    with embedding_attack(loaded.model.encoder, 0.5) as moved:
        assert moved == len(tables) == 3  # characters, bigrams, word tags
        for name, module in loaded.model.encoder.named_modules():
            if name in tables:
                step = module.weight.detach() - tables[name]
                assert step.norm().item() == pytest.approx(0.5, rel=1e-4)
                assert torch.nn.functional.cosine_similarity(step.flatten(), module.weight.grad.flatten(), 0) > 0.999
        attacked = training.batch_loss(loaded, batch, "dense")
    assert attacked.item() > clean.item()  # the worst nearby input, to first order
    for name, module in loaded.model.encoder.named_modules():
        if name in tables:
            assert module.weight.detach().equal(tables[name])


def test_no_gradient_no_attack(tiny):
    loaded, _ = tiny
    with embedding_attack(loaded.model.encoder, 1.0) as moved:
        assert moved == 0


def bernoulli_kl(p, q):
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def test_the_span_divergence_is_the_symmetric_kl_over_real_spans_only():
    mask = torch.tensor([[1, 1, 0]])
    first = torch.tensor([[[[0.5, -1.0, 9.0], [0.0, 2.0, 9.0], [0.0, 0.0, 9.0]]]]) + span_bias(mask)
    second = torch.tensor([[[[-0.5, -1.0, -9.0], [7.0, 1.0, 9.0], [0.0, 0.0, -9.0]]]]) + span_bias(mask)
    s = torch.sigmoid
    expected = sum(bernoulli_kl(s(a), s(b)) + bernoulli_kl(s(b), s(a))
                   for a, b in [(torch.tensor(0.5), torch.tensor(-0.5)), (torch.tensor(2.0), torch.tensor(1.0))])
    assert symmetric_span_kl(first, second, mask).item() == pytest.approx(float(expected), rel=1e-5)
    assert symmetric_span_kl(first, first, mask).item() == 0.0


def test_r_drop_adds_nothing_when_both_passes_agree(tiny):
    loaded, batch = tiny
    loaded.model.eval()  # the same weights and no dropout: both passes give the same scores
    plain = training.batch_loss(loaded, batch, "dense")
    assert training.batch_loss(loaded, batch, "dense", rdrop=1.0).item() == pytest.approx(plain.item(), rel=1e-5)
    loaded.model.train()
    torch.manual_seed(1)
    assert training.batch_loss(loaded, batch, "dense", rdrop=1.0).item() > 0


def test_training_with_both_runs_and_records_them(tmp_path, sample_docs):
    schema = Schema.load(ROOT / "schemas" / "resume.yaml")
    options = {**TINY_BILSTM, "dropout": 0.3}
    cfg = training.TrainConfig(epochs=1, seed=3, max_tokens=64, stride=48, encoder_options=options,
                               adversarial=1.0, rdrop=0.5)
    metrics = training.train(cfg, schema, sample_docs[:16], sample_docs[16:20], tmp_path / "m")
    assert metrics["config"]["adversarial"] == 1.0 and metrics["config"]["rdrop"] == 0.5
    assert len(metrics["history"]) == 1 and math.isfinite(metrics["history"][0]["loss"])
    with pytest.raises(ValueError, match="rdrop compares span scores"):
        training.train(training.TrainConfig(head="crf", rdrop=0.5), schema, sample_docs[:4], [], tmp_path / "c")


def test_the_cli_refuses_rdrop_with_a_crf_head(tmp_path):
    result = invoke("train", "--schema", str(ROOT / "schemas" / "resume.yaml"), "--train", str(ROOT / "README.md"),
                    "--out", str(tmp_path / "m"), "--head", "crf", "--rdrop", "0.5")
    assert result.exit_code == 2 and "--rdrop applies to --head gp or egp" in result.output
