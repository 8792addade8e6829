#!/usr/bin/env python
"""Checks Chinese whole word masking in written records, independently of the code that made them.

Reads TFRecords from `create_pretraining_data.py --do_whole_word_mask=True
--chinese_word_segmenter=jieba`, restores each record's text (the masked positions' labels put
back), re-segments every run of single-character tokens of each segment with jieba, and counts the
words of two or more CJK characters that are masked wholly, partly (an exception) or not at all,
with the share of predicted tokens and the 80/10/10 split per character. Exceptions are told apart
by place: at a segment's first or last token (a word cut by truncation or by the segment's edge,
which jieba then reads differently) or inside. Prints a table, writes
benchmarks/results/chinese_wwm_check.json. About 30 s for 5,000 records on 2 cores.

    python benchmarks/chinese_wwm_check.py --records=/tmp/zh/wwm.tfrecord \
      --vocab_file=/tmp/zh/vocab.txt [--limit=5000]
"""

import argparse
import collections
import json
import logging
import sys
from pathlib import Path

import jieba
import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bert_tf import tokenization


def is_cjk_word(word):
    return len(word) > 1 and all(tokenization._is_cjk_code_point(ord(c)) for c in word)


def single_character_runs(tokens, start, end):
    """(first position, characters) of each run of one-character tokens in tokens[start:end]."""
    runs, run, first = [], [], start
    for position in range(start, end):
        token = tokens[position]
        if len(token) == 1 and not token.isascii():
            if not run:
                first = position
            run.append(token)
        elif run:
            runs.append((first, run))
            run = []
    if run:
        runs.append((first, run))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", required=True)
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--limit", type=int, default=5000)
    args = parser.parse_args()
    jieba.setLogLevel(logging.WARNING)
    vocab = Path(args.vocab_file).read_text(encoding="utf-8").splitlines()
    counts = collections.Counter()
    for serialized in tf.data.TFRecordDataset([args.records]).take(args.limit):
        feature = tf.train.Example.FromString(serialized.numpy()).features.feature
        ids = feature["input_ids"].int64_list.value
        used = sum(feature["input_mask"].int64_list.value)
        masked_tokens = [vocab[i] for i in ids[:used]]
        tokens = list(masked_tokens)
        masked = set()
        for position, label, weight in zip(
            feature["masked_lm_positions"].int64_list.value,
            feature["masked_lm_ids"].int64_list.value,
            feature["masked_lm_weights"].float_list.value,
        ):
            if weight:
                tokens[position] = vocab[label]
                masked.add(position)
                shown = masked_tokens[position]
                kind = (
                    "mask" if shown == "[MASK]" else "keep" if shown == vocab[label] else "random"
                )
                counts[kind] += 1
        counts["records"] += 1
        counts["tokens"] += used
        first_sep = tokens.index("[SEP]")
        for start, end in ((1, first_sep), (first_sep + 1, used - 1)):
            for first, run in single_character_runs(tokens, start, end):
                position = first
                for word in jieba.lcut("".join(run)):
                    span = set(range(position, position + len(word)))
                    position += len(word)
                    if not is_cjk_word(word) or not span & masked:
                        continue
                    if span <= masked:
                        counts["whole"] += 1
                    elif min(span) == start or max(span) == end - 1:
                        counts["partly_at_segment_edge"] += 1
                    else:
                        counts["partly_inside"] += 1
    predicted = counts["mask"] + counts["keep"] + counts["random"]
    partly = counts["partly_at_segment_edge"] + counts["partly_inside"]
    row = {
        "records": counts["records"],
        "words_masked_whole": counts["whole"],
        "words_masked_partly": partly,
        "partly_at_segment_edge": counts["partly_at_segment_edge"],
        "partly_inside": counts["partly_inside"],
        "partly_share": partly / max(partly + counts["whole"], 1),
        "predicted_share": predicted / max(counts["tokens"], 1),
        "mask_share": counts["mask"] / max(predicted, 1),
        "keep_share": counts["keep"] / max(predicted, 1),
        "random_share": counts["random"] / max(predicted, 1),
    }
    for key, value in row.items():
        print(f"{key:24s} {value:.4f}" if isinstance(value, float) else f"{key:24s} {value}")
    out = REPO / "benchmarks" / "results" / "chinese_wwm_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
