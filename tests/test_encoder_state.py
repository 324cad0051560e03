"""train() from given encoder weights (what benchmarks/pretrain_mlm.py pretrains), not random ones."""
import pytest
import torch
from conftest import TINY_BILSTM

from extractor.model.directory import load_model
from extractor.model.train import TrainConfig, build_untrained, train


def _cfg() -> TrainConfig:  # a learning rate too small to move any weight: what is saved is where training began
    return TrainConfig(encoder="bilstm", epochs=1, max_tokens=64, stride=48, seed=3, lr=1e-12, head_lr=1e-12,
                       encoder_options=TINY_BILSTM)


def test_training_starts_from_the_given_encoder_weights(tmp_path, sample_docs, resume_schema):
    docs, dev = sample_docs[:12], sample_docs[12:16]
    state = build_untrained(_cfg(), resume_schema, docs).model.encoder.state_dict()
    state = {k: torch.full_like(v, 0.125) if k == "char_embed.weight" else v for k, v in state.items()}
    train(_cfg(), resume_schema, docs, dev, tmp_path / "from_state", progress=False, encoder_state=state)
    train(_cfg(), resume_schema, docs, dev, tmp_path / "random", progress=False)
    started = load_model(tmp_path / "from_state").model.encoder.char_embed.weight
    random = load_model(tmp_path / "random").model.encoder.char_embed.weight
    assert torch.allclose(started, torch.full_like(started, 0.125), atol=1e-6)
    assert not torch.allclose(random, torch.full_like(random, 0.125), atol=1e-3)


def test_weights_of_another_vocabulary_are_refused(tmp_path, sample_docs, resume_schema):
    other = build_untrained(_cfg(), resume_schema, sample_docs[:2]).model.encoder.state_dict()
    with pytest.raises(RuntimeError, match="size mismatch"):
        train(_cfg(), resume_schema, sample_docs[:12], sample_docs[12:16], tmp_path / "m", progress=False,
              encoder_state=other)
