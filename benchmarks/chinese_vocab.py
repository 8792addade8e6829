#!/usr/bin/env python
"""Learns a vocabulary on the Chinese pretraining corpus with build_vocab.py and measures it.

Runs `build_vocab.py` as a user would (a subprocess), then reports the learner's run time and the
[UNK] share of `FullTokenizer` on the sentiment dev texts and on the People's Daily NER dev
characters (the fine-tuning inputs), with the special tokens' ids. Prints a table and writes
benchmarks/results/chinese_vocab.json. Needs ../shared/data/chinese; about 30 s on 2 cores.

    python benchmarks/chinese_vocab.py [--vocab_size=8000] [--min_char_count=2]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bert_tf import tokenization

DATA = REPO.parent / "shared" / "data" / "chinese"


def unk_share(tokenizer, texts):
    tokens = [token for text in texts for token in tokenizer.tokenize(text)]
    return sum(token == "[UNK]" for token in tokens) / max(len(tokens), 1), len(tokens)


def sentiment_texts(name):
    with open(DATA / "sentiment" / name, encoding="utf-8", newline="") as f:
        return [row[1] for row in list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]]


def ner_sentences(name):
    sentences, current = [], []
    for line in (DATA / "peoples_daily_ner" / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            current.append(line.split()[0])
        elif current:
            sentences.append("".join(current))
            current = []
    if current:
        sentences.append("".join(current))
    return sentences


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--min_char_count", type=int, default=2)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"skipped: {DATA} is absent")
    with tempfile.TemporaryDirectory() as folder:
        vocab_file = os.path.join(folder, "vocab.txt")
        start = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                str(REPO / "build_vocab.py"),
                f"--input_file={DATA / 'corpus' / 'pretraining_corpus.txt'}",
                f"--vocab_file={vocab_file}",
                f"--vocab_size={args.vocab_size}",
                f"--min_char_count={args.min_char_count}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.monotonic() - start
        learned = [line for line in result.stderr.splitlines() if "Learned" in line]
        learn_seconds = float(learned[-1].split(" in ")[1].split(" s")[0])
        tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
        vocab = tokenizer.vocab
    row = {
        "vocab_size": len(vocab),
        "special_ids": {t: vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")},
        "cjk_tokens": sum(len(t) == 1 and tokenization._is_cjk_code_point(ord(t)) for t in vocab),
        "hash_cjk_tokens": sum(
            t.startswith("##") and len(t) == 3 and tokenization._is_cjk_code_point(ord(t[2]))
            for t in vocab
        ),
        "learner_seconds": learn_seconds,
        "build_vocab_wall_seconds": round(wall, 1),
    }
    for name, texts in (
        ("sentiment_dev", sentiment_texts("dev.tsv")),
        ("sentiment_test", sentiment_texts("test.tsv")),
        ("ner_dev", ner_sentences("dev.txt")),
    ):
        share, count = unk_share(tokenizer, texts)
        row[f"unk_{name}"] = share
        row[f"tokens_{name}"] = count
    for key, value in row.items():
        shown = f"{100 * value:.3f}%" if key.startswith("unk_") else value
        print(f"{key:26s} {shown}")
    out = REPO / "benchmarks" / "results" / "chinese_vocab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
