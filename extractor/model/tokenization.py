"""Tokenizers that map text to ids with exact character offsets.

Two kinds: a character vocabulary built from training data (for encoders trained
from scratch), and any Hugging Face fast tokenizer from a local directory.
Both give ``offsets[t] = (start, end)`` per token, end exclusive, so spans go
back to the document text exactly.
"""
from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional, Protocol

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"


class Tokenizer(Protocol):
    pad_id: int
    cls_id: Optional[int]
    sep_id: Optional[int]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]: ...

    def save(self, directory: Path) -> None: ...


def _char_key(ch: str) -> str:
    # Full-width and half-width forms of the same letter or digit share an embedding.
    return unicodedata.normalize("NFKC", ch).lower() or ch


PLACES = 4  # a character's place in its word: 0 single-character word, 1 first, 2 inside, 3 last
# The word's part of speech in jieba's dictionary, coarsened to what tells entities apart: 0 not in the
# dictionary, 1 common noun, 2 person, 3 place, 4 organisation, 5 other proper name or abbreviation,
# 6 number or time, 7 anything else.
POS_CLASSES = 8
_POS_CLASS = {"n": 1, "vn": 1, "ng": 1, "an": 1, "nr": 2, "nrt": 2, "nrfg": 2, "ns": 3, "nt": 4, "nz": 5,
              "j": 5, "m": 6, "q": 6, "mq": 6, "t": 6, "tg": 6}
_WORD_POS: dict[str, int] = {}


def word_tag_count(parts_of_speech: bool) -> int:
    """How many tags ``word_tags`` gives: the places, times the part-of-speech classes when it gives them."""
    return PLACES * (POS_CLASSES if parts_of_speech else 1)


def _dictionary_parts_of_speech() -> dict[str, int]:
    if not _WORD_POS:
        import jieba

        with jieba.get_dict_file() as f:  # word, frequency, part of speech; one a line
            for line in f:
                fields = line.decode("utf-8").split()
                if len(fields) >= 3:
                    _WORD_POS[fields[0]] = _POS_CLASS.get(fields[2], 7)
    return _WORD_POS


def word_tags(text: str, parts_of_speech: bool = False) -> list[int]:
    """Each character's place in its word, from jieba's dictionary segmentation (no HMM: deterministic), and
    with ``parts_of_speech`` the word's class in the dictionary: tag = place + PLACES * class."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    classes = _dictionary_parts_of_speech() if parts_of_speech else {}
    tags: list[int] = []
    for word in jieba.cut(text, HMM=False):
        n = len(word)
        offset = PLACES * classes.get(word, 0)
        tags += [offset] if n == 1 else [offset + 1] + [offset + 2] * (n - 2) + [offset + 3]
    if len(tags) != len(text):  # jieba keeps every character; should a release not, fall back to no boundaries
        return [0] * len(text)
    return tags


_DICTIONARY: dict[str, str] = {}


def word_dictionary() -> dict[str, str]:
    """The jieba release and a digest of the dictionary it segments with. Word tags come from both and
    are not saved with a model, so a model directory records them to tell when they have changed."""
    if not _DICTIONARY:
        import hashlib

        import jieba

        with jieba.get_dict_file() as f:
            _DICTIONARY.update(jieba=jieba.__version__, sha256=hashlib.sha256(f.read()).hexdigest())
    return dict(_DICTIONARY)


def word_dictionary_change(recorded: Optional[dict]) -> Optional[str]:
    """Why the installed dictionary may tag words otherwise than the one a model was trained with; None when
    it is the same (or the model predates the record)."""
    if not recorded:
        return None
    now = word_dictionary()
    if recorded.get("sha256") == now["sha256"]:
        return None
    return (f"trained with jieba {recorded.get('jieba')}'s word dictionary (sha256 {recorded.get('sha256', '')[:12]}), "
            f"the installed jieba {now['jieba']}'s differs ({now['sha256'][:12]}): word tags, and so predictions, "
            f"may differ; install jieba=={recorded.get('jieba')} or train again")


class CharTokenizer:
    """One token per character; characters seen fewer than ``min_freq`` times map to [UNK].

    With ``with_word_tags`` each id also carries the character's place in its word, and with
    ``word_pos`` that word's part of speech (``id = word_tag_count * char + tag``, see ``word_tags``):
    words reach the encoder without a second input, so windows, batches and exported graphs stay as they are.
    """

    FILE = "vocab.json"

    def __init__(self, tokens: list[str], with_word_tags: bool = False, word_pos: bool = False):
        if tokens[:4] != [PAD, UNK, CLS, SEP]:
            raise ValueError("a character vocabulary starts with [PAD], [UNK], [CLS], [SEP]")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.pad_id, self.unk_id = 0, 1  # pad stays 0 with word tags: char 0, tag 0
        self.cls_id = self.sep_id = None  # char encoders need no sentence markers
        self.with_word_tags = with_word_tags
        self.word_pos = with_word_tags and word_pos
        self.word_tag_count = word_tag_count(self.word_pos) if with_word_tags else 0

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, with_word_tags: bool = False,
              word_pos: bool = False) -> "CharTokenizer":
        counts = Counter(_char_key(ch) for text in texts for ch in text)
        chars = sorted(ch for ch, n in counts.items() if n >= min_freq and ch not in (PAD, UNK, CLS, SEP))
        return cls([PAD, UNK, CLS, SEP] + chars, with_word_tags, word_pos)

    def __len__(self) -> int:
        """Characters in the vocabulary (without word tags)."""
        return len(self.tokens)

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids = [self.index.get(_char_key(ch), self.unk_id) for ch in text]
        if self.with_word_tags:
            ids = [self.word_tag_count * i + tag for i, tag in zip(ids, word_tags(text, self.word_pos))]
        return ids, [(i, i + 1) for i in range(len(text))]

    def save(self, directory: Path) -> None:
        # JSON rather than one token per line: the vocabulary holds newlines and spaces.
        (Path(directory) / self.FILE).write_text(json.dumps(self.tokens, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, with_word_tags: bool = False, word_pos: bool = False) -> "CharTokenizer":
        return cls(json.loads((Path(directory) / cls.FILE).read_text(encoding="utf-8")), with_word_tags, word_pos)


class HFTokenizer:
    """A Hugging Face fast tokenizer loaded from a local directory (never from a hub)."""

    def __init__(self, hf_tokenizer):
        if not getattr(hf_tokenizer, "is_fast", False):
            raise ValueError(
                "the encoder's tokenizer must be a fast tokenizer (tokenizer.json or a vocab a fast "
                "tokenizer can be built from) so tokens map back to character offsets"
            )
        self.hf = hf_tokenizer
        self.pad_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0
        self.cls_id = hf_tokenizer.cls_token_id
        self.sep_id = hf_tokenizer.sep_token_id

    @classmethod
    def from_directory(cls, path: str | Path) -> "HFTokenizer":
        from transformers import AutoTokenizer

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: not a local model directory")
        return cls(AutoTokenizer.from_pretrained(str(path), local_files_only=True, use_fast=True))

    def __len__(self) -> int:
        return len(self.hf)

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self.hf(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
        ids, offsets = [], []
        for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"]):
            if e > s:  # zero-width pieces carry no text
                ids.append(tid)
                offsets.append(_trim(text, s, e))
        return ids, offsets

    def save(self, directory: Path) -> None:
        self.hf.save_pretrained(str(directory))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    # Some tokenizers fold a leading space into the token (RoBERTa's "Ġ"); the entity does not start there.
    while start < end - 1 and text[start].isspace():
        start += 1
    return start, end
