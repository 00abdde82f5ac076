"""Tokenisation and the word vocabulary of a caption corpus (built once per data set, cached as JSON)."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable

from harness.io import atomic_write_json

PAD, START, END, UNKNOWN = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNKNOWN)  # ids 0..3
PAD_ID = SPECIALS.index(PAD)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(caption: str) -> list[str]:
    """Lower-cased words without punctuation (as Karpathy's split file tokenises COCO captions)."""
    return _WORD.findall(caption.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words by id (the four special tokens first) and each word's count in the training captions."""

    words: tuple[str, ...]
    counts: dict[str, int]

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int) -> "Vocabulary":
        """Every word seen at least ``min_count`` times, most frequent first (ties alphabetical)."""
        counts = Counter(word for caption in captions for word in tokenize(caption))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(SPECIALS + tuple(kept), {w: counts[w] for w in kept})

    def __len__(self) -> int:
        return len(self.words)

    @cached_property
    def index(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.words)}

    def encode(self, caption: str, max_length: int) -> list[int]:
        """``<start> w1 .. wn <end>`` as ids, at most ``max_length`` words (longer captions are cut), unknown
        words as ``<unk>``."""
        index = self.index
        ids = [index.get(word, index[UNKNOWN]) for word in tokenize(caption)[:max_length]]
        return [index[START], *ids, index[END]]

    def decode(self, ids: Iterable[int]) -> str:
        """The words of ``ids`` up to the first ``<end>``, without special tokens."""
        words = []
        for i in ids:
            word = self.words[int(i)]
            if word == END:
                break
            if word not in SPECIALS:
                words.append(word)
        return " ".join(words)

    def save(self, path: Path) -> None:
        atomic_write_json(path, {"words": list(self.words), "counts": self.counts})

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        data = json.loads(Path(path).read_text())
        return cls(tuple(data["words"]), data["counts"])
