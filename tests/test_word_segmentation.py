"""Chinese whole word masking: bert_tf.word_segmentation and its use in bert_tf.pretraining_data.

The corpus is synthetic Chinese made here from common words. Whole-word checks re-segment each
record's text with jieba itself (independently of the code under test) or use gold words whose
characters identify them; the expected shares are those of the BERT-wwm recipe: the original's
15% budget and skip rule, and 80% [MASK] / 10% kept / 10% random decided for every character.
"""

import collections
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from bert_tf import pretraining_data as pd
from bert_tf import tokenization, word_segmentation
from conftest import SPECIAL_TOKENS

jieba = pytest.importorskip("jieba")

WORDS = (  # noqa: SIM905
    "我们 今天 北京 大学 中国 人民 银行 朋友 手机 非常 质量 价格 便宜 工作 学习 时间 问题 发展 经济 社会 服务 酒店 房间 干净 环境 不错 "
    "推荐 喜欢 电脑 屏幕 速度 觉得 东西 购买 值得 的 了 很 也 在 是 和 去 看 说 好"
).split()
SEED = 7


def chinese_documents(count: int, rng: random.Random) -> list[list[str]]:
    """Documents of 1-3 short sentences (at most 60 characters a document), ending in 。."""
    documents = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(1, 3)):
            sentence = "".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
            sentences.append(sentence[:18] + "。")
        documents.append(sentences)
    return documents


def write_documents(path, documents) -> str:
    path.write_text("".join("\n".join(d) + "\n\n" for d in documents), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    characters = sorted(set("".join(WORDS)))
    tokens = [*SPECIAL_TOKENS, "。", "，", "hello", "##s"]
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(tokens + characters) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    documents = chinese_documents(400, random.Random(SEED))
    return write_documents(tmp_path_factory.mktemp("zh") / "zh.txt", documents)


def make_instances(corpus, vocab_file, segmenter, dupe_factor=4, whole_words=True):
    config = pd.PretrainingDataConfig(
        vocab_file=vocab_file,
        do_whole_word_mask=whole_words,
        chinese_word_segmenter=segmenter,
        dupe_factor=dupe_factor,
        short_seq_prob=0.0,
    )
    config.validate()
    tokenizer = pd.load_tokenizer(vocab_file, True, segmenter)
    stats = pd.CorpusStats()
    documents = pd.read_documents([corpus], tokenizer, stats)
    instances = pd.instances_from_documents(documents, tokenizer, config, random.Random(SEED))
    return instances, stats


@pytest.fixture(scope="module")
def jieba_instances(corpus, vocab_file):
    return make_instances(corpus, vocab_file, "jieba")


def restored(instance):
    tokens = list(instance.tokens)
    for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
        tokens[position] = label
    return tokens


def segment_spans(tokens):
    """(start, end) positions of segment A and segment B in `[CLS] A [SEP] B [SEP]`."""
    first_sep = tokens.index("[SEP]")
    return (1, first_sep), (first_sep + 1, len(tokens) - 1)


def test_marked_tokens_are_the_full_tokenizers_tokens(vocab_file):
    full = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    text = "我们今天去北京大学，hellos 手机非常好用 鑫。中国人民银行\u3000ＡＢ，"
    for segmenter in ("jieba", "spaces"):
        marked = pd.load_tokenizer(vocab_file, True, segmenter).tokenize(text)
        unmarked = [t[2:] if pd._continues_chinese_word(t) else t for t in marked]
        assert unmarked == full.tokenize(text)
    # jieba's words of two or more characters: every character after the first is marked.
    marked = pd.load_tokenizer(vocab_file, True, "jieba").tokenize("我们喜欢手机。")
    assert marked == ["我", "##们", "喜", "##欢", "手", "##机", "。"]
    # Spaces are word boundaries, and a character outside the vocabulary still follows its word.
    marked = pd.load_tokenizer(vocab_file, True, "spaces").tokenize("中国 人民银行 鑫鑫 hello")
    assert marked == ["中", "##国", "人", "##民", "##银", "##行", "[UNK]", "##[UNK]", "hello"]


def test_continuation_flags_follow_the_words():
    flags = word_segmentation.continuation_flags(["中国", "的", "T恤", "abc", "人民银行"])
    # 中 国 | 的 | 恤 (a mixed word: its characters stand alone) | 人 民 银 行
    assert flags == [False, True, False, False, False, True, True, True]
    # Pre-segmented text whose punctuation was left on a word: the ideographs still group.
    flags = word_segmentation.continuation_flags(["我们", "喜欢", "中文，", "很", "好。"])
    assert flags == [False, True, False, True, False, True, False, False]


def test_every_jieba_word_is_masked_whole_or_not_at_all(jieba_instances):
    instances, stats = jieba_instances
    assert stats.cjk_characters > 5000 and stats.chinese_words > 2000
    exceptions = whole = 0
    for instance in instances:
        tokens = restored(instance)
        masked = set(instance.masked_lm_positions)
        # The records hold plain characters: no "##" + CJK token (random words may be "##s").
        assert not any(
            t.startswith("##") and word_segmentation.is_cjk_word(t[2:]) or t == "##[UNK]"
            for t in instance.tokens + instance.masked_lm_labels
        )
        for start, end in segment_spans(tokens):
            # Each segment is whole sentences here (documents are short: nothing is truncated),
            # so jieba on the segment's text finds the words it found when the text was read.
            position = start
            for word in jieba.lcut("".join(tokens[start:end])):
                span = set(range(position, position + len(word)))
                position += len(word)
                if len(word) < 2 or not word_segmentation.is_cjk_word(word):
                    continue
                if span <= masked:
                    whole += 1
                elif span & masked:
                    exceptions += 1
            assert position == end
    assert exceptions == 0
    assert whole > 1000  # Multi-character words are masked, and masked whole.


def test_about_15_percent_predicted_with_the_original_budget(jieba_instances):
    instances, _ = jieba_instances
    got = np.array([len(i.masked_lm_positions) for i in instances])
    budget = np.array([min(20, max(1, round(len(i.tokens) * 0.15))) for i in instances])
    assert np.all(got <= budget)  # A word that would exceed the budget is skipped.
    assert got.sum() >= 0.95 * budget.sum()
    lengths = np.array([len(i.tokens) for i in instances])
    assert abs(got.sum() / lengths.sum() - 0.15) < 0.01


def test_80_10_10_is_decided_for_every_character(jieba_instances, vocab_file):
    instances, _ = jieba_instances
    kinds = collections.Counter()
    pair_fates = collections.Counter()
    for instance in instances:
        tokens = restored(instance)
        fate = {}
        for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
            token = instance.tokens[position]
            fate[position] = "mask" if token == "[MASK]" else "keep" if token == label else "random"
            kinds[fate[position]] += 1
        for start, end in segment_spans(tokens):
            position = start
            for word in jieba.lcut("".join(tokens[start:end])):
                if len(word) == 2 and word_segmentation.is_cjk_word(word) and position in fate:
                    pair_fates[fate[position] == fate[position + 1]] += 1
                position += len(word)
    total = sum(kinds.values())
    assert total > 8000
    # A random replacement equal to the original counts as kept: 1 in ~80 of the 10% here.
    assert abs(kinds["mask"] / total - 0.8) < 5 * np.sqrt(0.16 / total)
    assert abs(kinds["keep"] / total - 0.1 - 0.1 / 80) < 5 * np.sqrt(0.09 / total)
    assert abs(kinds["random"] / total - 0.1) < 5 * np.sqrt(0.09 / total)
    # Independent draws per character: both characters of a masked two-character word share
    # their fate with probability 0.8^2 + 0.1^2 + 0.1^2 = 0.66 (it would be 1 per word).
    pairs = sum(pair_fates.values())
    assert pairs > 1000
    assert abs(pair_fates[True] / pairs - 0.66) < 5 * np.sqrt(0.66 * 0.34 / pairs)


def test_gold_words_separated_by_spaces_are_masked_whole(tmp_path, vocab_file):
    # Words made of characters used by no other word, so a record's text tells its words apart.
    gold = ["中国", "人民银行", "手机", "北京大学", "酒店房间", "价格", "好", "了"]
    owner = {char: word for word in gold for char in word}
    rng = random.Random(3)
    documents = [
        [" ".join(rng.choice(gold) for _ in range(rng.randint(2, 6))) + " 。"] for _ in range(300)
    ]
    corpus = write_documents(tmp_path / "segmented.txt", documents)
    instances, stats = make_instances(corpus, vocab_file, "spaces")
    assert stats.chinese_words > 600
    exceptions = whole = 0
    for instance in instances:
        tokens = restored(instance)
        masked = set(instance.masked_lm_positions)
        position = 0
        while position < len(tokens):
            word = owner.get(tokens[position])
            if word is None or len(word) < 2:
                position += 1
                continue
            assert "".join(tokens[position : position + len(word)]) == word
            span = set(range(position, position + len(word)))
            whole += span <= masked
            exceptions += bool(span & masked) and not span <= masked
            position += len(word)
    assert exceptions == 0 and whole > 300


def test_text_without_cjk_is_masked_as_before(tmp_path, vocab_file, caplog):
    english = [["hello hellos hello.", "hellos hello"], ["hello hello hellos"]] * 40
    corpus = write_documents(tmp_path / "en.txt", english)
    with_jieba, stats = make_instances(corpus, vocab_file, "jieba", dupe_factor=2)
    plain, _ = make_instances(corpus, vocab_file, "none", dupe_factor=2)
    assert stats.cjk_characters == 0
    assert [str(i) for i in with_jieba] == [str(i) for i in plain]


def test_default_segmenter_keeps_the_original_character_masking(corpus, vocab_file):
    instances, stats = make_instances(corpus, vocab_file, "none", dupe_factor=1)
    assert stats.chinese_words == 0
    # Every CJK character is a word of its own: masked words are never joined, so a masked
    # two-character jieba word is whole only by chance (about 15% of the time, not always).
    split = whole = 0
    for instance in instances:
        tokens = restored(instance)
        masked = set(instance.masked_lm_positions)
        for start, end in segment_spans(tokens):
            position = start
            for word in jieba.lcut("".join(tokens[start:end])):
                span = set(range(position, position + len(word)))
                if len(word) == 2 and span & masked:
                    whole += span <= masked
                    split += not span <= masked
                position += len(word)
    assert split > 5 * whole


def test_settings_and_a_missing_jieba_give_clear_errors(vocab_file, monkeypatch):
    with pytest.raises(ValueError, match="--do_whole_word_mask=True"):
        pd.PretrainingDataConfig("v", chinese_word_segmenter="jieba").validate()
    with pytest.raises(ValueError, match="--chinese_word_segmenter=thulac"):
        pd.PretrainingDataConfig(
            "v", do_whole_word_mask=True, chinese_word_segmenter="thulac"
        ).validate()
    monkeypatch.setitem(sys.modules, "jieba", None)  # Makes `import jieba` fail.
    with pytest.raises(ValueError, match="needs the jieba package: pip install jieba"):
        pd.load_tokenizer(vocab_file, True, "jieba")


def test_each_line_is_segmented_once_whatever_the_dupe_factor(corpus, vocab_file, monkeypatch):
    calls = []

    def counting(name):
        def segment(text):
            calls.append(text)
            return jieba.lcut(text)

        return segment

    monkeypatch.setattr(word_segmentation, "load_segmenter", counting)
    make_instances(corpus, vocab_file, "jieba", dupe_factor=3)
    text = Path(corpus).read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert sorted(calls) == sorted(lines)
