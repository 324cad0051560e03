from __future__ import annotations

import random
from pathlib import Path

import pytest

from extractor.data.conll import read_conll
from extractor.data.documents import DocumentError, Entity, validate


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _spans(doc) -> list[tuple[str, str]]:
    return [(e.label, doc.text[e.start : e.end]) for e in doc.entities]


def _tags(text: str, entities: list[Entity], scheme: str) -> list[str]:
    tags = ["O"] * len(text)
    for e in entities:
        n = e.end - e.start
        if scheme == "bio":
            tags[e.start] = f"B-{e.label}"
            for i in range(e.start + 1, e.end):
                tags[i] = f"I-{e.label}"
        elif n == 1:
            tags[e.start] = f"S-{e.label}"
        else:
            tags[e.start] = f"B-{e.label}"
            for i in range(e.start + 1, e.end - 1):
                tags[i] = f"M-{e.label}"
            tags[e.end - 1] = f"E-{e.label}"
    return tags


def _random_sentence(rng: random.Random) -> tuple[str, list[Entity]]:
    text = "".join(rng.choice("张李浙江大学本科硕士金融互联网计算机专业毕业于在从事，。A1") for _ in range(rng.randint(1, 25)))
    entities, pos = [], 0
    while pos < len(text):
        pos += rng.randint(0, 3)
        length = rng.randint(1, 4)
        if pos + length > len(text):
            break
        entities.append(Entity(pos, pos + length, rng.choice(("EDU", "ORG", "PRO"))))
        pos += length
    return text, entities


@pytest.mark.parametrize("scheme", ["bio", "bmes"])
def test_round_trip_char_per_line(tmp_path, scheme):
    rng = random.Random(0)
    sentences = [_random_sentence(rng) for _ in range(60)]
    lines = []
    for text, entities in sentences:
        lines += [f"{ch} {tag}" for ch, tag in zip(text, _tags(text, entities, scheme))] + [""]
    path = _write(tmp_path, f"rt_{scheme}.txt", "\n".join(lines))
    docs = list(read_conll(path, scheme=scheme))
    assert [(d.text, d.entities) for d in docs] == sentences
    assert any(e.end - e.start == 1 for _, ents in sentences for e in ents)
    assert any(e2.start == e1.end for _, ents in sentences for e1, e2 in zip(ents, ents[1:]))


def test_bio_chinese_example(tmp_path):
    path = _write(
        tmp_path,
        "resume.char.bio",
        "张 B-NAME\n三 I-NAME\n毕 O\n业 O\n于 O\n浙 B-ORG\n江 I-ORG\n大 I-ORG\n学 I-ORG\n\n"
        "硕 B-EDU\n士 I-EDU\n，\tO\nA B-X\n",
    )
    docs = list(read_conll(path))
    assert [d.doc_id for d in docs] == ["resume.char-00001", "resume.char-00002"]
    assert docs[0].text == "张三毕业于浙江大学"
    assert _spans(docs[0]) == [("NAME", "张三"), ("ORG", "浙江大学")]
    assert docs[1].text == "硕士，A"
    assert _spans(docs[1]) == [("EDU", "硕士"), ("X", "A")]
    assert docs[1].entities[1] == Entity(3, 4, "X")


def test_bmes_resume_ner_style(tmp_path):
    path = _write(
        tmp_path,
        "train.char.bmes",
        "高 B-EDU\n中 E-EDU\n学 O\n历 O\n\n中 B-ORG\n国 M-ORG\n银 M-ORG\n行 E-ORG\n男 S-GEN\n",
    )
    docs = list(read_conll(path, scheme="bmes", doc_prefix="rn"))
    assert [d.doc_id for d in docs] == ["rn-00001", "rn-00002"]
    assert _spans(docs[0]) == [("EDU", "高中")]
    assert _spans(docs[1]) == [("ORG", "中国银行"), ("GEN", "男")]


def test_bioes_with_i_prefix_reads_as_bmes(tmp_path):
    path = _write(tmp_path, "x.txt", "中 B-ORG\n国 I-ORG\n银 I-ORG\n行 E-ORG\n男 S-GEN\n")
    (doc,) = read_conll(path, scheme="bmes")
    assert _spans(doc) == [("ORG", "中国银行"), ("GEN", "男")]


def test_multi_char_tokens_are_space_joined(tmp_path):
    path = _write(
        tmp_path,
        "en.txt",
        "John B-PER\nworks O\nat O\nNew York\tB-ORG\nTimes I-ORG\n. O\n",
    )
    (doc,) = read_conll(path)
    assert doc.text == "John works at New York Times ."
    assert doc.entities == [Entity(0, 4, "PER"), Entity(14, 28, "ORG")]
    assert _spans(doc) == [("PER", "John"), ("ORG", "New York Times")]
    validate(doc)


def test_separator_is_decided_per_file(tmp_path):
    # One multi-character token anywhere switches the whole file to spaces.
    path = _write(tmp_path, "mixed.txt", "浙 B-ORG\n大 I-ORG\n\n2012 O\n年 O\n")
    docs = list(read_conll(path))
    assert [d.text for d in docs] == ["浙 大", "2012 年"]
    docs = list(read_conll(path, sep=""))
    assert [d.text for d in docs] == ["浙大", "2012年"]
    assert _spans(docs[0]) == [("ORG", "浙大")]


def test_docstart_grouping(tmp_path):
    text = (
        "-DOCSTART- -X- O\n\n"
        "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\n"
        "Peter B-PER\nBlackburn I-PER\n\n"
        "-DOCSTART- O\n\n"
        "BRUSSELS B-LOC\n1996-08-22 O\n"
    )
    path = _write(tmp_path, "conll03.txt", text)
    docs = list(read_conll(path))
    assert [d.doc_id for d in docs] == ["conll03-00001", "conll03-00002"]
    assert docs[0].text == "EU rejects German call Peter Blackburn"
    assert _spans(docs[0]) == [("ORG", "EU"), ("MISC", "German"), ("PER", "Peter Blackburn")]
    assert docs[0].entities[2] == Entity(23, 38, "PER")
    assert docs[1].text == "BRUSSELS 1996-08-22"
    assert _spans(docs[1]) == [("LOC", "BRUSSELS")]

    separate = list(read_conll(path, group_docstart=False))
    assert [d.text for d in separate] == ["EU rejects German call", "Peter Blackburn", "BRUSSELS 1996-08-22"]
    assert separate[1].entities == [Entity(0, 15, "PER")]


def test_docstart_grouping_char_file(tmp_path):
    text = "-DOCSTART- O\n\n张 B-PER\n三 I-PER\n\n硕 B-EDU\n士 I-EDU\n\n-DOCSTART- O\n\n李 S-PER\n"
    path = _write(tmp_path, "docs.txt", text)
    docs = list(read_conll(path, scheme="bmes"))
    assert [d.text for d in docs] == ["张三硕士", "李"]
    assert _spans(docs[0]) == [("PER", "张三"), ("EDU", "硕士")]
    assert docs[0].entities[1] == Entity(2, 4, "EDU")


def test_lenient_decoding(tmp_path):
    bio = _write(tmp_path, "lenient.bio", "a O\nb I-ORG\nc I-ORG\nd B-ORG\ne I-PER\nf O\n")
    (doc,) = read_conll(bio)
    assert doc.entities == [Entity(1, 3, "ORG"), Entity(3, 4, "ORG"), Entity(4, 5, "PER")]

    bmes = _write(tmp_path, "lenient.bmes", "a M-ORG\nb E-ORG\nc E-PER\nd B-LOC\ne M-LOC\n\nf B-LOC\ng E-ORG\n")
    first, second = read_conll(bmes, scheme="bmes")
    # M- without B- starts; E- with nothing open is one token; an unclosed B- ends with the sentence.
    assert first.entities == [Entity(0, 2, "ORG"), Entity(2, 3, "PER"), Entity(3, 5, "LOC")]
    assert second.entities == [Entity(0, 1, "LOC"), Entity(1, 2, "ORG")]


def test_blank_lines_crlf_and_bom(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("\ufeff\r\n\r\n张 B-PER\r\n三 I-PER\r\n\r\n\r\n李 B-PER\r\n  \r\n".encode("utf-8"))
    docs = list(read_conll(path))
    assert [d.text for d in docs] == ["张三", "李"]
    assert [d.doc_id for d in docs] == ["crlf-00001", "crlf-00002"]


def test_missing_tag_names_file_and_line(tmp_path):
    path = _write(tmp_path, "bad.txt", "张 B-PER\n三 I-PER\n\n李\n")
    with pytest.raises(DocumentError, match=r"bad\.txt:4: expected 'TOKEN TAG'"):
        read_conll(path)


@pytest.mark.parametrize(
    "scheme, line, message",
    [
        ("bio", "张 X-PER", "prefix 'X'"),
        ("bio", "张 E-PER", "prefix 'E'"),
        ("bio", "张 S-PER", "prefix 'S'"),
        ("bmes", "张 B-", "no entity type"),
        ("bio", "张 PER", "neither 'O' nor PREFIX-TYPE"),
    ],
)
def test_bad_tags(tmp_path, scheme, line, message):
    path = _write(tmp_path, "tags.txt", f"甲 O\n乙 O\n{line}\n")
    with pytest.raises(DocumentError, match=r"tags\.txt:3: ") as info:
        read_conll(path, scheme=scheme)
    assert message in str(info.value)


def test_bad_scheme_and_missing_file(tmp_path):
    path = _write(tmp_path, "ok.txt", "甲 O\n")
    with pytest.raises(ValueError, match="scheme"):
        read_conll(path, scheme="xml")
    with pytest.raises(FileNotFoundError):
        read_conll(tmp_path / "nope.txt")


def test_streams_lazily_after_check(tmp_path):
    path = _write(tmp_path, "many.txt", "".join(f"字 S-X\n{'' if i % 2 else '文 O'}\n\n" for i in range(1000)))
    it = read_conll(path, scheme="bmes")
    first = next(it)
    assert first.doc_id == "many-00001" and first.text == "字文"
    assert sum(1 for _ in it) == 999
