"""What the word tags cost a document at prediction time: ``CharTokenizer.encode`` over the dev texts, with
the places alone or with the word's part of speech as well.

    python benchmarks/word_tag_speed.py --docs /tmp/x13/dev.jsonl            # places and parts of speech
    PYTHONPATH=OTHER_CHECKOUT python benchmarks/word_tag_speed.py --docs ... --places-only
"""
from __future__ import annotations

import argparse
import json
import time

from extractor.model.tokenization import CharTokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", required=True, help="JSON lines with a text field")
    parser.add_argument("--repeat", type=int, default=5, help="times over the texts in one timing")
    parser.add_argument("--places-only", action="store_true", help="only the places (for a checkout before word_pos)")
    args = parser.parse_args()
    with open(args.docs, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f] * args.repeat
    for word_pos in (False,) if args.places_only else (False, True):
        tokenizer = CharTokenizer.build(texts, 1, True, **({"word_pos": True} if word_pos else {}))
        started = time.perf_counter()
        tokenizer.encode(texts[0])  # loads jieba's dictionary (and the parts of speech)
        first = time.perf_counter() - started
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for text in texts:
                tokenizer.encode(text)
            best = min(best, time.perf_counter() - started)
        print(f"{'places + part of speech' if word_pos else 'places'}: first call {first:.2f} s; {len(texts)} texts, "
              f"{sum(map(len, texts))} characters in {best * 1000:.0f} ms, {best / len(texts) * 1000:.3f} ms a text")


if __name__ == "__main__":
    main()
