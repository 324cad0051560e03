"""A model directory's version describes its weights: config.json keeps their SHA-256, and a weights file
that no longer matches (corrupted, replaced) is refused on loading, with one line naming the file."""
import json
import logging
import shutil

import pytest
import torch
from conftest import invoke
from safetensors.torch import load_file, save_file

from extractor.data.documents import write_documents
from extractor.model.directory import ModelIntegrityError, file_sha256, load_model


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def zero_the_head(model_dir):
    weights = model_dir / "model.safetensors"
    state = load_file(str(weights))
    state = {k: torch.zeros_like(v) if k.startswith("head.") else v for k, v in state.items()}
    save_file(state, str(weights), metadata={"format": "pt"})


def test_the_saved_config_keeps_the_weights_digest(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    assert config["weights_sha256"] == file_sha256(model_copy / "model.safetensors")
    assert config["model_version"] == config["weights_sha256"][:16]
    assert load_model(model_copy).version == config["model_version"]


def test_weights_changed_after_saving_are_refused(model_copy):
    zero_the_head(model_copy)
    with pytest.raises(ModelIntegrityError, match="model.safetensors: weights do not match config.json"):
        load_model(model_copy)


def test_the_cli_refuses_corrupted_weights_with_one_line_and_exit_1(model_copy, sample_docs, tmp_path):
    zero_the_head(model_copy)
    write_documents(sample_docs[:2], tmp_path / "in.jsonl")
    result = invoke("predict", "--model", model_copy, "--input", tmp_path / "in.jsonl", "--output",
                    tmp_path / "out.jsonl")
    assert result.exit_code == 1
    assert "model.safetensors: weights do not match config.json" in result.output
    assert "Traceback" not in result.output


def test_a_directory_saved_before_the_digest_still_loads(model_copy, caplog):
    config_path = model_copy / "config.json"
    config = json.loads(config_path.read_text())
    del config["weights_sha256"]
    config_path.write_text(json.dumps(config))
    with caplog.at_level(logging.INFO, logger="extractor.model.directory"):
        assert load_model(model_copy).version == config["model_version"]
        load_model(model_copy)
    assert sum("weights not checked" in r.message for r in caplog.records) == 1
