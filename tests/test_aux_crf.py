"""The auxiliary CRF loss of span heads: on by default for the BiLSTM, a training-time loss only (the saved
model, its weights' names and its prediction path are those of a plain span model)."""
import pytest
from conftest import ROOT, TINY_BILSTM, invoke
from safetensors.torch import load_file

from extractor.model.train import TrainConfig, train
from extractor.rules.schema import Schema


@pytest.mark.parametrize("cfg, weight", [
    (TrainConfig(), 0.05),
    (TrainConfig(head="egp"), 0.05),
    (TrainConfig(head="crf"), 0.0),
    (TrainConfig(encoder="bert-scratch"), 0.0),
    (TrainConfig(aux_crf=0.0), 0.0),
    (TrainConfig(aux_crf=0.2), 0.2),
    (TrainConfig(head="crf", aux_crf=0.2), 0.0),
])
def test_the_default_weight(cfg, weight):
    assert cfg.aux_crf_weight() == weight
    assert cfg.record()["aux_crf"] == weight  # metrics.json says what the run used, not None


def train_tiny(tmp_path, docs, aux):
    cfg = TrainConfig(epochs=1, seed=3, max_tokens=64, stride=48, encoder_options=TINY_BILSTM, aux_crf=aux)
    out = tmp_path / f"aux-{aux}"
    metrics = train(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), docs[:24], docs[24:28], out)
    return metrics, load_file(str(out / "model.safetensors"))


def test_the_aux_loss_trains_the_encoder_but_is_not_saved(tmp_path, sample_docs):
    plain, plain_weights = train_tiny(tmp_path, sample_docs, 0.0)
    aux, aux_weights = train_tiny(tmp_path, sample_docs, 0.05)
    assert sorted(aux_weights) == sorted(plain_weights)  # no CRF tensors: the same model
    assert aux["history"][0]["loss"] > plain["history"][0]["loss"]  # the tag-path NLL is in the loss
    changed = [k for k in plain_weights if not plain_weights[k].equal(aux_weights[k])]
    assert any(k.startswith("encoder.") for k in changed)


def test_the_cli_refuses_aux_crf_with_a_crf_head(tmp_path):
    result = invoke("train", "--schema", ROOT / "schemas" / "resume.yaml", "--train", ROOT / "README.md",
                    "--out", tmp_path / "m", "--head", "crf", "--aux-crf", "0.1")
    assert result.exit_code == 2 and "--aux-crf applies to --head gp or egp" in result.output
