import random

import pytest
from conftest import ROOT, TINY_BILSTM

from extractor.data.documents import Document, Entity
from extractor.model import train as training
from extractor.model.augment import isolated, mention_pool, replace_mentions
from extractor.rules.schema import Schema


def doc(text, *spans):
    return Document("d", text, [Entity(text.index(s) + skip, text.index(s) + skip + len(s), label)
                                for s, label, skip in spans])


def test_replacements_keep_the_context_and_move_the_offsets():
    d = doc("张三任华为公司董事。", ("张三", "NAME", 0), ("华为公司", "ORG", 0), ("董事", "TITLE", 0))
    pool = {"NAME": ["欧阳娜娜"], "ORG": ["中国银行股份有限公司"], "TITLE": ["总经理"]}
    out = replace_mentions(d, pool, 1.0, random.Random(0))
    assert out.text == "欧阳娜娜任中国银行股份有限公司总经理。"
    assert [(out.text[e.start:e.end], e.label) for e in out.entities] == [
        ("欧阳娜娜", "NAME"), ("中国银行股份有限公司", "ORG"), ("总经理", "TITLE")]
    assert d.text == "张三任华为公司董事。"  # the original is untouched


def test_rate_zero_and_missing_pool_leave_the_document():
    d = doc("张三任华为公司董事。", ("张三", "NAME", 0), ("华为公司", "ORG", 0))
    assert replace_mentions(d, {"NAME": ["李四"]}, 0.0, random.Random(0)) is d
    out = replace_mentions(d, {"NAME": ["李四"]}, 1.0, random.Random(0))  # no ORG mentions: ORG stays
    assert out.text == "李四任华为公司董事。"
    assert [out.text[e.start:e.end] for e in out.entities] == ["李四", "华为公司"]


def test_overlapping_entities_stay_and_follow_the_shift():
    # 北京大学 inside 北京大学医学部 (nested): neither is replaced; the NAME before them is, and they move.
    text = "王五在北京大学医学部任教授。"
    d = Document("d", text, [Entity(0, 2, "NAME"), Entity(3, 7, "ORG"), Entity(3, 10, "ORG"),
                             Entity(11, 13, "TITLE")])
    assert [(e.start, e.end) for e in isolated(d.entities)] == [(0, 2), (11, 13)]
    pool = {"NAME": ["司马相如"], "ORG": ["某公司"], "TITLE": ["讲师"]}
    out = replace_mentions(d, pool, 1.0, random.Random(0))
    assert out.text == "司马相如在北京大学医学部任讲师。"
    assert sorted((out.text[e.start:e.end], e.label) for e in out.entities) == sorted([
        ("司马相如", "NAME"), ("北京大学", "ORG"), ("北京大学医学部", "ORG"), ("讲师", "TITLE")])


def test_the_pool_is_distinct_and_sorted_and_a_seed_fixes_the_choices():
    docs = [doc("张三和李四", ("张三", "NAME", 0), ("李四", "NAME", 0)), doc("李四", ("李四", "NAME", 0))]
    pool = mention_pool(docs)
    assert pool == {"NAME": ["张三", "李四"]}
    runs = [[replace_mentions(d, pool, 0.5, rng).text for d in docs * 5]
            for rng in (random.Random(3), random.Random(3))]
    assert runs[0] == runs[1]
    assert len({t for t in runs[0]}) > 1  # some replaced, some not


def test_training_with_mention_replacement_sees_other_texts(tmp_path, sample_docs, monkeypatch):
    seen = []
    real = training.training_windows
    monkeypatch.setattr(training, "training_windows",
                        lambda docs, *a, **k: seen.append([d.text for d in docs]) or real(docs, *a, **k))
    cfg = training.TrainConfig(epochs=2, seed=3, max_tokens=64, stride=48, encoder_options=TINY_BILSTM, augment=0.5)
    metrics = training.train(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), sample_docs[:24],
                             sample_docs[24:28], tmp_path / "m")
    assert metrics["config"]["augment"] == 0.5 and len(metrics["history"]) == 2
    original, first, second = seen  # the documents as given, then one augmented copy per epoch
    assert original == [d.text for d in sample_docs[:24]]
    assert first != original and second != first


def test_augment_must_be_a_probability(tmp_path, sample_docs):
    with pytest.raises(ValueError, match="augment is a probability"):
        training.train(training.TrainConfig(augment=1.5), Schema.load(ROOT / "schemas" / "resume.yaml"), sample_docs,
                       [], tmp_path)
