"""The BiLSTM's word-boundary feature: jieba word tags packed into the character ids."""
import json
import logging

import pytest
import torch
from conftest import TINY_BILSTM

from extractor.model.directory import load_model
from extractor.model.encoders import BiLSTMEncoder
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.tokenization import PLACES, CharTokenizer, word_dictionary, word_tag_count, word_tags
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
    assert [i // PLACES for i in ids] == plain_ids and [i % PLACES for i in ids] == word_tags(text)
    assert len(tagged) == len(plain)  # the vocabulary is still one entry per character
    with_pos = CharTokenizer.build([text], with_word_tags=True, word_pos=True)
    count = with_pos.word_tag_count
    ids = with_pos.encode(text)[0]
    assert count == word_tag_count(True) == 32
    assert [i // count for i in ids] == plain_ids and [i % count for i in ids] == word_tags(text, True)


def test_parts_of_speech_come_from_the_dictionary_on_top_of_the_places():
    text = "现任中国政法大学教授，杨帆先生，湖北人，2000年"
    places, tags = word_tags(text), word_tags(text, parts_of_speech=True)
    assert [t % PLACES for t in tags] == places  # the places are unchanged
    by_word = {text[i:j]: tags[i] // PLACES for i, j in _words(places)}
    assert by_word["中国政法大学"] == 4  # organisation (nt)
    assert by_word["湖北"] == 3  # place (ns)
    assert by_word["杨"] == 2  # a surname: person (nr)
    assert by_word["教授"] == 1  # common noun
    assert by_word["，"] == 0  # not in the dictionary
    assert set(tags) <= set(range(word_tag_count(True)))


def _words(places: list[int]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for i, place in enumerate(places):
        if place in (0, 1):
            start = i
        if place in (0, 3):
            spans.append((start, i + 1))
    return spans


def test_encoder_separates_characters_and_tags():
    torch.manual_seed(0)
    enc = BiLSTMEncoder(10, embed_dim=8, hidden_size=8, num_layers=1, word_tags=PLACES, word_tag_dim=4).eval()
    chars = torch.tensor([[5, 6, 7]])
    mask = torch.ones_like(chars)
    a = enc(chars * PLACES + torch.tensor([[1, 3, 0]]), mask)
    b = enc(chars * PLACES + torch.tensor([[0, 0, 0]]), mask)
    assert a.shape == (1, 3, 16) and not torch.allclose(a, b)  # the tags reach the encoder
    with torch.no_grad():
        enc.word_tag_embed.weight.zero_()
    assert torch.allclose(enc(chars * PLACES + 1, mask), enc(chars * PLACES, mask))  # only through them


def test_word_tag_model_trains_saves_loads_and_exports(tmp_path, sample_docs, resume_schema):
    cfg = TrainConfig(encoder="bilstm", epochs=2, max_tokens=64, stride=48, seed=1, word_tags=True,
                      encoder_options=TINY_BILSTM)
    train(cfg, resume_schema, sample_docs[:24], sample_docs[24:30], tmp_path / "m", progress=False)
    loaded = load_model(tmp_path / "m")
    assert loaded.config["word_tags"] is True and loaded.tokenizer.with_word_tags
    assert loaded.config["word_pos"] is True and loaded.tokenizer.word_pos  # on with word tags by default
    assert loaded.config["encoder"]["word_tags"] == word_tag_count(True)
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
    assert TrainConfig(encoder="bilstm").uses_word_pos()
    assert not TrainConfig(encoder="bilstm", word_pos=False).uses_word_pos()
    assert not TrainConfig(encoder="bilstm", word_tags=False).uses_word_pos()


def test_parts_of_speech_need_word_tags(tmp_path, sample_docs, resume_schema):
    cfg = TrainConfig(encoder="bilstm", epochs=1, word_tags=False, word_pos=True, encoder_options=TINY_BILSTM)
    with pytest.raises(ValueError, match="word_pos needs word_tags"):
        train(cfg, resume_schema, sample_docs[:4], [], tmp_path / "m", progress=False)


def test_a_model_saved_before_parts_of_speech_loads_with_places_only(tmp_path, sample_docs, resume_schema):
    cfg = TrainConfig(encoder="bilstm", epochs=1, max_tokens=64, stride=48, seed=1, word_pos=False,
                      encoder_options=TINY_BILSTM)
    train(cfg, resume_schema, sample_docs[:8], sample_docs[8:10], tmp_path / "m", progress=False)
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    assert config["word_pos"] is False and config["encoder"]["word_tags"] == PLACES
    docs = sample_docs[10:14]
    options = PredictOptions(threshold=-1.0)
    reference = [[(e.start, e.end, e.label) for e in ents] for _, ents in Predictor(load_model(tmp_path / "m"), options).predict(docs)]
    del config["word_pos"]  # as the extractor before this key wrote it
    config_path.write_text(json.dumps(config), encoding="utf-8")
    loaded = load_model(tmp_path / "m")
    assert loaded.tokenizer.with_word_tags and not loaded.tokenizer.word_pos and loaded.tokenizer.word_tag_count == 4
    assert [[(e.start, e.end, e.label) for e in ents] for _, ents in Predictor(loaded, options).predict(docs)] == reference
