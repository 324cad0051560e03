"""The BiLSTM's word-boundary feature: jieba word tags packed into the character ids."""
import json
import logging

import pytest
import torch
from conftest import TINY_BILSTM

from extractor.model.directory import load_model
from extractor.model.encoders import BiLSTMEncoder
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.tokenization import WORD_TAGS, CharTokenizer, word_dictionary, word_tags
from extractor.model.train import TrainConfig, train


def test_word_tags_mark_each_characters_place_in_its_word():
    text = "北京大学 计算机科学与技术专业，本科"
    tags = word_tags(text)
    assert len(tags) == len(text)
    assert tags[:4] == [1, 2, 2, 3]  # 北京大学: one four-character word
    assert tags[4] == 0  # the space stands alone
    # Every word is well formed: a 1 opens it, 2s continue it, a 3 closes it; 0 is a word on its own.
    state = 0
    for tag in tags:
        assert (tag in (0, 1)) if state == 0 else (tag in (2, 3))
        state = 1 if tag in (1, 2) else 0
    assert state == 0


def test_tokenizer_packs_character_and_tag_into_one_id():
    text = "硕士研究生学历"
    plain = CharTokenizer.build([text])
    tagged = CharTokenizer.build([text], with_word_tags=True)
    ids, offsets = tagged.encode(text)
    plain_ids, plain_offsets = plain.encode(text)
    assert offsets == plain_offsets
    assert [i // WORD_TAGS for i in ids] == plain_ids and [i % WORD_TAGS for i in ids] == word_tags(text)
    assert len(tagged) == len(plain)  # the vocabulary is still one entry per character


def test_encoder_separates_characters_and_tags():
    torch.manual_seed(0)
    enc = BiLSTMEncoder(10, embed_dim=8, hidden_size=8, num_layers=1, word_tags=WORD_TAGS, word_tag_dim=4).eval()
    chars = torch.tensor([[5, 6, 7]])
    mask = torch.ones_like(chars)
    a = enc(chars * WORD_TAGS + torch.tensor([[1, 3, 0]]), mask)
    b = enc(chars * WORD_TAGS + torch.tensor([[0, 0, 0]]), mask)
    assert a.shape == (1, 3, 16) and not torch.allclose(a, b)  # the tags reach the encoder
    with torch.no_grad():
        enc.word_tag_embed.weight.zero_()
    assert torch.allclose(enc(chars * WORD_TAGS + 1, mask), enc(chars * WORD_TAGS, mask))  # only through them


def test_word_tag_model_trains_saves_loads_and_exports(tmp_path, sample_docs, resume_schema):
    cfg = TrainConfig(encoder="bilstm", epochs=2, max_tokens=64, stride=48, seed=1, word_tags=True,
                      encoder_options=TINY_BILSTM)
    train(cfg, resume_schema, sample_docs[:24], sample_docs[24:30], tmp_path / "m", progress=False)
    loaded = load_model(tmp_path / "m")
    assert loaded.config["word_tags"] is True and loaded.tokenizer.with_word_tags
    assert loaded.config["encoder"]["word_tags"] == WORD_TAGS
    docs = sample_docs[30:34]
    reference = [[(e.start, e.end, e.label) for e in ents] for _, ents in Predictor(loaded, PredictOptions(threshold=-1.0)).predict(docs)]
    assert sum(map(len, reference)) > 0
    pytest.importorskip("onnxruntime")
    from extractor.model.export import export_onnx

    export_onnx(tmp_path / "m")
    onnx = Predictor.from_directory(tmp_path / "m", PredictOptions(threshold=-1.0, runtime="onnx"))
    assert [[(e.start, e.end, e.label) for e in ents] for _, ents in onnx.predict(docs)] == reference


def test_a_model_warns_when_the_installed_word_dictionary_is_not_the_one_it_was_trained_with(
        tmp_path, sample_docs, resume_schema, caplog):
    cfg = TrainConfig(encoder="bilstm", epochs=1, max_tokens=64, stride=48, seed=1, encoder_options=TINY_BILSTM)
    train(cfg, resume_schema, sample_docs[:8], sample_docs[8:10], tmp_path / "m", progress=False)
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    assert config["word_dictionary"] == word_dictionary()
    assert len(word_dictionary()["sha256"]) == 64
    with caplog.at_level(logging.WARNING, logger="extractor.model.directory"):
        load_model(tmp_path / "m")
    assert not caplog.records  # the same dictionary: nothing to say

    config["word_dictionary"] = {"jieba": "0.39", "sha256": "0" * 64}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="extractor.model.directory"):
        loaded = load_model(tmp_path / "m")
    assert loaded.tokenizer.with_word_tags  # it still loads and predicts
    [record] = caplog.records
    assert "jieba 0.39" in record.getMessage() and "install jieba==0.39 or train again" in record.getMessage()

    del config["word_dictionary"]  # a model saved before the record: nothing to compare
    config_path.write_text(json.dumps(config), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="extractor.model.directory"):
        load_model(tmp_path / "m")
    assert not caplog.records


def test_word_tags_are_refused_for_transformer_encoders(tmp_path, sample_docs, resume_schema):
    cfg = TrainConfig(encoder="bert-scratch", epochs=1, word_tags=True)
    with pytest.raises(ValueError, match="word tags are a BiLSTM feature"):
        train(cfg, resume_schema, sample_docs[:4], [], tmp_path / "m", progress=False)


def test_word_tags_are_on_by_default_for_the_bilstm_only():
    assert TrainConfig(encoder="bilstm").uses_word_tags()
    assert not TrainConfig(encoder="bilstm", word_tags=False).uses_word_tags()
    assert not TrainConfig(encoder="bert-scratch").uses_word_tags()
