"""Chinese word boundaries for whole word masking.

`BasicTokenizer` makes every CJK ideograph a word of its own, so the original's
`--do_whole_word_mask` (which only joins `##` WordPieces) masks Chinese one character at a time.
Chinese whole word masking (the BERT-wwm recipe) takes word boundaries from a word segmenter
instead and masks every character of a word together.

A segmenter maps a line of text to its words, in order. Only the words made entirely of CJK
ideographs and longer than one character matter here: each of their characters after the first is
a *continuation* of the word. Everything else (non-CJK text, single characters, words mixing
scripts) is left to the tokenizer as before.

Segmenters:
    none:   no segmentation (the original's behaviour).
    jieba:  jieba's default precise mode with its HMM for unknown words (`jieba.lcut(text)`).
    spaces: the text is already segmented, words separated by whitespace (e.g. People's Daily
            with its gold PKU boundaries); the spaces only mark boundaries.
"""

from __future__ import annotations

import logging as std_logging
import re
from collections.abc import Callable

from bert_tf import tokenization

SEGMENTERS = ("none", "jieba", "spaces")

# One CJK ideograph, or a run of anything else.
_CJK_CLASS = "".join(f"{chr(first)}-{chr(last)}" for first, last in tokenization.CJK_RANGES)
CJK_OR_OTHER = re.compile(f"[{_CJK_CLASS}]|[^{_CJK_CLASS}]+")
CJK_CHARACTER = re.compile(f"[{_CJK_CLASS}]")
_ALL_CJK = re.compile(f"[{_CJK_CLASS}]+")


def is_cjk_word(word: str) -> bool:
    """Whether `word` is non-empty and made only of CJK ideographs (as BasicTokenizer sees them)."""
    return _ALL_CJK.fullmatch(word) is not None


def _jieba_segmenter() -> Callable[[str], list[str]]:
    try:
        import jieba
    except ImportError:
        raise ValueError(
            "--chinese_word_segmenter=jieba needs the jieba package: pip install jieba==0.42.1 "
            "(it is in requirements.txt)"
        ) from None
    # jieba logs its dictionary loading at DEBUG/INFO on its own logger; keep it quiet.
    jieba.setLogLevel(std_logging.WARNING)
    jieba.initialize()
    return jieba.lcut  # Precise mode, HMM on: jieba's defaults.


def load_segmenter(name: str) -> Callable[[str], list[str]]:
    """Returns the word segmenter called `name` (one of `SEGMENTERS` but "none").

    Raises:
        ValueError: If `name` is unknown, or jieba is asked for and not installed.
    """
    if name == "jieba":
        return _jieba_segmenter()
    if name == "spaces":
        return str.split
    raise ValueError(
        f"--chinese_word_segmenter={name}: expected one of {', '.join(SEGMENTERS)} "
        "(none does not segment)"
    )


def continuation_flags(words: list[str]) -> list[bool]:
    """For every CJK ideograph of `words` in order: whether it continues a multi-character word.

    Args:
        words: A line's words as a segmenter gives them.

    Returns:
        One flag per CJK ideograph in the words; True for the second and later characters of
        each run of two or more CJK ideographs inside a word. A word made only of ideographs is
        one run; in a word that holds other characters too (a pre-segmented "中文，" whose
        punctuation was not spaced off) each run of ideographs is grouped on its own.
    """
    flags: list[bool] = []
    for word in words:
        for run in _ALL_CJK.findall(word):
            flags.append(False)
            flags.extend([True] * (len(run) - 1))
    return flags
