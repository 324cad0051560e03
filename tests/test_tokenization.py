"""Tokens map back to exact character offsets."""
from extractor.model.tokenization import CharTokenizer, HFTokenizer


def test_char_tokenizer_offsets_unknowns_and_round_trip(tmp_path):
    tok = CharTokenizer.build(["本科学历 MBA\n", "ｍｂａ２０１２"])
    ids, offsets = tok.encode("本科 ☃MBA")
    assert offsets == [(i, i + 1) for i in range(7)]
    assert ids[3] == tok.unk_id  # never seen
    assert tok.encode("ｍ")[0] == tok.encode("m")[0]  # full-width folds to half-width
    tok.save(tmp_path)
    again = CharTokenizer.load(tmp_path)
    assert again.tokens == tok.tokens and again.encode("本科\nMBA") == tok.encode("本科\nMBA")


def test_hf_tokenizer_offsets_cover_chinese_spaces_and_unknown_runs(tiny_hf_dir):
    tok = HFTokenizer.from_directory(tiny_hf_dir)
    text = "本科  学历 ☃☃☃ 2012年毕业"
    ids, offsets = tok.encode(text)
    assert len(ids) == len(offsets)
    assert all(0 <= s < e <= len(text) for s, e in offsets)
    assert not any(text[s].isspace() for s, _ in offsets)
    pieces = [text[s:e] for s, e in offsets]
    assert pieces[:4] == ["本", "科", "学", "历"]
    unk = [p for p, i in zip(pieces, ids) if i == tok.hf.unk_token_id]
    assert "☃☃☃" in unk  # a run of unknown symbols is one [UNK] spanning the whole run
    assert tok.cls_id is not None and tok.sep_id is not None


def test_hf_tokenizer_round_trips_through_a_model_directory(tiny_hf_dir, tmp_path):
    tok = HFTokenizer.from_directory(tiny_hf_dir)
    tok.save(tmp_path)
    assert HFTokenizer.from_directory(tmp_path).encode("本科学历") == tok.encode("本科学历")
