"""Import token-per-line tagged files (CoNLL style) as Documents.

Format: one ``TOKEN TAG`` per line, the tag after the last whitespace run (tab
or spaces, so a token may contain inner spaces), a blank line between
sentences, optional ``-DOCSTART-`` lines between documents. Tags are ``O`` or
``PREFIX-TYPE``:

* ``scheme="bio"``: prefixes B and I (IOB2).
* ``scheme="bmes"``: prefixes B, M, E and S; I is read as M, so BIOES/IOBES
  files load too.

Decoding is lenient, like seqeval's default mode: an I-/M- after O or after a
different type starts a new entity; an E- without a matching open entity is a
one-token entity; an entity still open at the end of a sentence (no E-) is
closed there. Only lines that cannot be read at all (no tag, an unknown prefix
for the scheme, an empty type) raise ``DocumentError`` naming file and line.

Text: when every token in the file is a single character (Chinese
character-per-line corpora such as the Resume NER data) tokens are
concatenated with no separator; otherwise they are joined by single spaces.
The decision is per file so that all documents of one file read alike. With
``-DOCSTART-`` grouping, the sentences of a document are joined by the same
separator. Entity offsets are character offsets into that text, end exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from extractor.data.documents import Document, DocumentError, Entity, validate

DOCSTART = "-DOCSTART-"
SCHEMES = {
    "bio": {"B": "B", "I": "I"},
    "iob2": {"B": "B", "I": "I"},
    "bmes": {"B": "B", "M": "I", "I": "I", "E": "E", "S": "S"},
    "bioes": {"B": "B", "M": "I", "I": "I", "E": "E", "S": "S"},
    "iobes": {"B": "B", "M": "I", "I": "I", "E": "E", "S": "S"},
}


@dataclass(frozen=True)
class _Token:
    text: str
    prefix: Optional[str]  # canonical: B, I (inside, also M), E, S; None for O
    label: Optional[str]
    lineno: int


def _parse_tag(tag: str, prefixes: dict[str, str], where: str) -> tuple[Optional[str], Optional[str]]:
    if tag == "O":
        return None, None
    head, dash, label = tag.partition("-")
    if not dash:
        # A few corpora write bare "B"/"I" without a type; there is no label to give them.
        raise DocumentError(f"{where}: tag {tag!r} is neither 'O' nor PREFIX-TYPE")
    prefix = prefixes.get(head.upper())
    if prefix is None:
        raise DocumentError(
            f"{where}: tag {tag!r} has prefix {head!r}, not one of {sorted(set(prefixes))} or 'O' for this scheme"
        )
    if not label:
        raise DocumentError(f"{where}: tag {tag!r} has no entity type after {head}-")
    return prefix, label


def _blocks(path: Path, prefixes: dict[str, str]) -> Iterator[list[_Token] | str]:
    """Yield sentences (token lists) and the marker DOCSTART, in file order."""
    sentence: list[_Token] = []
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if sentence:
                    yield sentence
                    sentence = []
                continue
            if line.split(None, 1)[0] == DOCSTART:
                if sentence:
                    yield sentence
                    sentence = []
                yield DOCSTART
                continue
            where = f"{path}:{lineno}"
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or not parts[0].strip():
                raise DocumentError(f"{where}: expected 'TOKEN TAG', got {line!r}")
            token, tag = parts[0].strip(), parts[1]
            prefix, label = _parse_tag(tag, prefixes, where)
            sentence.append(_Token(token, prefix, label, lineno))
    if sentence:
        yield sentence


def _decode(tokens: list[_Token], starts: list[int]) -> list[Entity]:
    """Spans from one sentence's tags; ``starts`` are the tokens' character offsets."""
    entities: list[Entity] = []
    open_label: Optional[str] = None
    open_start = 0
    open_end = 0

    def close() -> None:
        nonlocal open_label
        if open_label is not None:
            entities.append(Entity(open_start, open_end, open_label))
            open_label = None

    for tok, start in zip(tokens, starts):
        end = start + len(tok.text)
        if tok.prefix is None:
            close()
        elif tok.prefix == "S":
            close()
            entities.append(Entity(start, end, tok.label))
        elif tok.prefix in ("I", "E") and open_label == tok.label:
            open_end = end
            if tok.prefix == "E":
                close()
        else:  # B-, or an I-/M-/E- that continues nothing: it starts an entity
            close()
            open_label, open_start, open_end = tok.label, start, end
            if tok.prefix == "E":
                close()
    close()
    return entities


def _scan(path: Path, prefixes: dict[str, str]) -> tuple[bool, bool]:
    """(every token is one character, the file has DOCSTART lines); also validates every line."""
    single, docstart = True, False
    for block in _blocks(path, prefixes):
        if block == DOCSTART:
            docstart = True
        elif single and any(len(t.text) != 1 for t in block):
            single = False
    return single, docstart


def read_conll(
    path: str | Path,
    scheme: str = "bio",
    group_docstart: bool = True,
    doc_prefix: str | None = None,
    sep: str | None = None,
) -> Iterator[Document]:
    """Documents from a token-per-line tagged file (see the module docstring).

    The file is checked in full when this is called (bad scheme, missing file
    and malformed lines raise here); the documents are then streamed.

    One document per sentence, or, when the file has ``-DOCSTART-`` lines and
    ``group_docstart`` is true, one per DOCSTART section. ``sep`` overrides the
    token separator ("" or " " chosen per file by default), e.g. ``sep=""`` for
    a Chinese file that has some multi-character tokens. doc_ids are
    ``f"{doc_prefix or file_stem}-{n:05d}"`` counting from 1.
    """
    path = Path(path)
    prefixes = SCHEMES.get(scheme.lower())
    if prefixes is None:
        raise ValueError(f"unknown tagging scheme {scheme!r}; use 'bio' or 'bmes'")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    # A first pass so that every document of the file uses the same separator, the
    # sentences before the first DOCSTART are grouped like the rest, and a bad line
    # fails the import before any document has been handed out.
    single, has_docstart = _scan(path, prefixes)
    if sep is None:
        sep = "" if single else " "
    return _documents(path, prefixes, sep, group_docstart and has_docstart, doc_prefix or path.stem)


def _documents(path: Path, prefixes: dict[str, str], sep: str, grouping: bool, stem: str) -> Iterator[Document]:
    count = 0
    pending: list[list[_Token]] = []

    def build(sentences: list[list[_Token]]) -> Optional[Document]:
        nonlocal count
        parts: list[str] = []
        entities: list[Entity] = []
        pos = 0
        for s_idx, sentence in enumerate(sentences):
            if s_idx:
                parts.append(sep)
                pos += len(sep)
            starts = []
            for t_idx, tok in enumerate(sentence):
                if t_idx:
                    parts.append(sep)
                    pos += len(sep)
                starts.append(pos)
                parts.append(tok.text)
                pos += len(tok.text)
            entities.extend(_decode(sentence, starts))
        if not parts:
            return None
        count += 1
        doc = Document(f"{stem}-{count:05d}", "".join(parts), entities)
        validate(doc)
        return doc

    for block in _blocks(path, prefixes):
        if block == DOCSTART:
            if grouping:
                doc = build(pending)
                pending = []
                if doc is not None:
                    yield doc
            continue
        if grouping:
            pending.append(block)
        else:
            doc = build([block])
            if doc is not None:
                yield doc
    doc = build(pending)
    if doc is not None:
        yield doc
