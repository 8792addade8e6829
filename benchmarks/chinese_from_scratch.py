#!/usr/bin/env python
"""A Chinese BERT pretrained here against random initialisation: the whole recipe, step by step.

Runs the real scripts as a user would (subprocesses) on ../shared/data/chinese:

1. ``build_vocab.py`` learns a WordPiece vocabulary on the pretraining corpus.
2. The corpus is split by document: every ``--heldout_every``-th document is held out, so the
   masked-LM accuracy is measured on text pretraining never saw.
3. ``create_pretraining_data.py`` writes whole-word-masked records (jieba) at the phase-1 and the
   phase-2 sequence lengths, for the training and the held-out documents.
4. ``run_pretraining.py`` pretrains in two phases, as Google's recipe does (short sequences for most
   steps, then the full length so every position embedding is trained): phase 2 starts from
   phase 1's last checkpoint with a fresh optimizer and schedule. Training evaluates the
   held-out records at every checkpoint (``--eval_every_steps``, ``--eval_input_file``: the
   progress log and TensorBoard). The masked-LM and next-sentence accuracy curve is read back
   from those events; a checkpoint saved without a periodic eval (a run begun without it) is
   evaluated on its own (``run_pretraining.py --do_train=False --do_eval=True``). The median
   step time of each phase comes from the training events' wall times. ``--pretraining_dropout``
   sets the dropout of pretraining alone (bert_config_pretraining.json); fine-tuning keeps 0.1.
5. ``run_classifier.py --task_name=chnsenticorp`` and ``run_ner.py --entity_types=PER,LOC,ORG``
   fine-tune from the pretrained checkpoint and from random initialisation (same config, recipe
   and seeds). Sentiment also predicts test.tsv (``test_results.tsv``); NER predicts a test file
   only when one is placed in the data folder (its test split is held back).
6. A linear reference for sentiment: logistic regression on character 1-3-gram TF-IDF
   (scikit-learn, ``make bench-deps``), with its test predictions.

``--char_masking_ablation`` adds the same pretraining and fine-tuning with the original's
character masking (``--chinese_word_segmenter=none``). Every step records its command, wall time
and results in ``<work_dir>/steps/<step>.json``; rerunning the same command reuses finished steps
(a killed pretraining resumes from its newest checkpoint), and a step whose command or model
config changed is an error (use another --work_dir, or --no-reuse to start over). Prints a table
(task, init, seeds, mean, spread) and writes benchmarks/results/chinese_from_scratch[_quick].json.

    python benchmarks/chinese_from_scratch.py --work_dir=/tmp/zh_scratch   # the full recipe
    python benchmarks/chinese_from_scratch.py --quick                      # smoke run, minutes
"""

import argparse
import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bert_tf.startup  # noqa: F401  (TensorFlow imported without its start-up notices)
import tensorflow as tf
from bert_tf.files import atomic_open

DATA = REPO.parent / "shared" / "data" / "chinese"

# The recipe for about 60 minutes of pretraining on the 2-core CPU (see the README's "Chinese").
FULL = {
    "vocab_size": 8000,
    "num_hidden_layers": 4,
    "hidden_size": 256,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "max_position_embeddings": 128,
    "dupe_factor": 5,
    # Share of each training record's tokens masked (held-out records always use BERT's 0.15).
    "masked_lm_prob": 0.15,
    "phase1_seq": 64,
    "phase1_batch": 128,
    "phase1_steps": 7000,
    "phase1_warmup": 500,
    "phase1_lr": 1e-3,
    "phase2_seq": 128,
    "phase2_batch": 64,
    "phase2_steps": 1000,
    "phase2_warmup": 100,
    "phase2_lr": 3e-4,
    "phase2_dupe_factor": 1,
    # Dropout while pretraining (hidden and attention); fine-tuning always uses BERT's 0.1.
    "pretraining_dropout": 0.1,
    "save_checkpoints_steps": 1000,
    "max_eval_steps": 40,
    "eval_batch_size": 128,
    "use_mixed_precision": True,
    "sentiment_seq": 128,
    "sentiment_batch": 32,
    "sentiment_lr": 1e-4,
    "sentiment_epochs": 4.0,
    "ner_seq": 64,
    "ner_batch": 32,
    "ner_lr": 3e-4,
    "ner_epochs": 3.0,
    "seeds": "1,2,3",
}
# A few minutes end to end: the same chain on slices of the data with a tiny model.
QUICK = dict(
    FULL,
    vocab_size=2000,
    num_hidden_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    dupe_factor=1,
    phase1_seq=32,
    phase1_batch=8,
    phase1_steps=6,
    phase1_warmup=2,
    phase2_seq=64,
    phase2_batch=8,
    phase2_steps=2,
    phase2_warmup=1,
    save_checkpoints_steps=3,
    max_eval_steps=2,
    eval_batch_size=8,
    sentiment_seq=32,
    sentiment_batch=8,
    sentiment_epochs=1.0,
    ner_seq=32,
    ner_batch=8,
    ner_epochs=1.0,
    seeds="1",
)
# Slices --quick takes: corpus documents, sentiment rows, NER sentences (train, dev, test).
QUICK_SLICES = {"corpus": 400, "sentiment": (64, 32, 16), "ner": (48, 24)}


class Runner:
    """Runs steps once: a step whose record exists (same command) is read back, not rerun."""

    def __init__(self, work_dir: Path, reuse: bool):
        self.work_dir = work_dir
        self.reuse = reuse
        self.steps: dict[str, dict] = {}
        (work_dir / "steps").mkdir(parents=True, exist_ok=True)
        (work_dir / "logs").mkdir(exist_ok=True)

    def _record(self, name):
        return self.work_dir / "steps" / f"{name}.json"

    def done(self, name, key):
        """The step's record if it finished with the same `key` (see `step_key`), else None."""
        path = self._record(name)
        if not path.exists():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        if not self.reuse:
            return None
        if record["key"] != key:
            sys.exit(
                f"error: step {name} in {self.work_dir} was run with another command or model "
                "config; use another --work_dir, or --no-reuse to run every step again"
            )
        return record

    def step(self, name, key, fn, outputs=()):
        """Runs ``fn() -> results`` unless finished before; records wall time and results."""
        record = self.done(name, key)
        if record is not None:
            print(f"[reuse] {name} ({record['seconds']:.0f} s when run)", flush=True)
        else:
            if not self.reuse:
                for output in outputs:  # a fresh start: no checkpoints to resume from
                    shutil.rmtree(output, ignore_errors=True)
            print(f"[run]   {name}", flush=True)
            started = time.perf_counter()
            results = fn()
            record = {"key": key, "seconds": time.perf_counter() - started, "results": results}
            with atomic_open(str(self._record(name))) as f:
                f.write(json.dumps(record, indent=1))
            print(f"[done]  {name} in {record['seconds']:.0f} s", flush=True)
        self.steps[name] = record
        return record["results"]

    def script(self, name, script, args, outputs=(), results_fn=dict):
        """A step that runs one of the repository's scripts, its log in logs/<name>.log."""
        command = [sys.executable, str(REPO / script)] + flags(args)

        def run():
            log = self.work_dir / "logs" / f"{name}.log"
            with open(log, "a", encoding="utf-8") as f:  # a resumed step adds to its log
                done = subprocess.run(
                    command, check=False, stdout=f, stderr=subprocess.STDOUT, cwd=REPO
                )
            if done.returncode:
                tail = log.read_text(encoding="utf-8").splitlines()[-15:]
                sys.exit(f"error: step {name} failed ({log}):\n" + "\n".join(tail))
            return results_fn()

        return self.step(name, step_key(script, args), run, outputs)


def flags(args: dict) -> list[str]:
    return [f"--{k}={v}" for k, v in args.items()]


def step_key(script: str, args: dict) -> list[str]:
    """What a step is: its script and flags, and the model config it reads, if any.

    The script is named relative to the checkout, so a copy elsewhere reuses steps. The config's
    contents are part of the key because the file keeps its name when the model changes: a rerun
    with another --num_hidden_layers must not reuse the old shape's pretraining.
    """
    key = [script] + flags(args)
    if "bert_config_file" in args:
        config = json.loads(Path(args["bert_config_file"]).read_text(encoding="utf-8"))
        key.append("bert_config=" + json.dumps(config, sort_keys=True))
    return key


def read_eval_results(path: Path) -> dict:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" = ")
        values[key.strip()] = float(value)
    return values


def event_scalars(directory: Path) -> list[list[tuple[int, float, dict]]]:
    """Per TensorBoard event file in `directory` (one per invocation): (step, wall time, values)."""
    files = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        points = {}
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                _, values = points.setdefault(event.step, (event.wall_time, {}))
                values[value.tag] = float(tf.make_ndarray(value.tensor))
        files.append([(step, wall, values) for step, (wall, values) in sorted(points.items())])
    return files


def periodic_evals(output_dir: Path) -> dict[int, dict]:
    """{step: held-out eval results} that `--eval_every_steps` wrote under <output_dir>/eval."""
    return {
        step: values
        for points in event_scalars(output_dir / "eval")
        for step, _, values in points
        if "masked_lm_accuracy" in values
    }


def median_step_seconds(output_dir: Path) -> float | None:
    """The median seconds a training step took, over the intervals between logged steps.

    Intervals within one invocation only; the median leaves out the few that hold a checkpoint
    save, a periodic eval or a stall of the shared machine, which the phase's wall time keeps.
    """
    per_step = [
        (b_wall - a_wall) / (b_step - a_step)
        for points in event_scalars(output_dir)
        for (a_step, a_wall, _), (b_step, b_wall, _) in zip(points, points[1:])
    ]
    return statistics.median(per_step) if per_step else None


def write_text(path: Path, text: str) -> None:
    with atomic_open(str(path)) as f:
        f.write(text)


def split_corpus(corpus: Path, work: Path, every: int, limit: int | None):
    """Documents (blank-line separated) to train_corpus.txt and heldout_corpus.txt."""
    documents = [d for d in corpus.read_text(encoding="utf-8").split("\n\n") if d.strip()]
    documents = documents[:limit] if limit else documents
    held = [d.strip("\n") for i, d in enumerate(documents) if i % every == every - 1]
    train = [d.strip("\n") for i, d in enumerate(documents) if i % every != every - 1]
    write_text(work / "train_corpus.txt", "\n\n".join(train) + "\n")
    write_text(work / "heldout_corpus.txt", "\n\n".join(held) + "\n")
    return {"train_documents": len(train), "heldout_documents": len(held)}


def slice_data(work: Path):
    """--quick: the first rows of each task file, in the same layouts."""
    sentiment, ner = work / "data" / "sentiment", work / "data" / "peoples_daily_ner"
    sentiment.mkdir(parents=True, exist_ok=True)
    ner.mkdir(parents=True, exist_ok=True)
    for name, rows in zip(("train.tsv", "dev.tsv", "test.tsv"), QUICK_SLICES["sentiment"]):
        lines = (DATA / "sentiment" / name).read_text(encoding="utf-8").splitlines()
        write_text(sentiment / name, "\n".join(lines[: rows + 1]) + "\n")
    for name, count in zip(("train.txt", "dev.txt"), QUICK_SLICES["ner"]):
        text = (DATA / "peoples_daily_ner" / name).read_text(encoding="utf-8")
        write_text(ner / name, "\n\n".join(text.strip().split("\n\n")[:count]) + "\n")
    return {}


def tfidf_baseline(sentiment_dir: Path, output_dir: Path):
    """Logistic regression on character 1-3-gram TF-IDF: dev accuracy and test_results.tsv."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def read(name):
        with open(sentiment_dir / name, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        return [r[0] for r in rows], [r[1] for r in rows]

    (train_y, train_x), (dev_y, dev_x), (_, test_x) = map(
        read, ("train.tsv", "dev.tsv", "test.tsv")
    )
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    model = LogisticRegression(C=10.0, max_iter=2000)
    model.fit(vectorizer.fit_transform(train_x), train_y)
    accuracy = float((model.predict(vectorizer.transform(dev_x)) == dev_y).mean())
    probabilities = model.predict_proba(vectorizer.transform(test_x))
    order = [list(model.classes_).index(label) for label in ("0", "1")]
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text(
        output_dir / "test_results.tsv",
        "".join("\t".join(f"{p[i]:.6f}" for i in order) + "\n" for p in probabilities),
    )
    return {"eval_accuracy": accuracy}


FINE_TUNING_DROPOUT = 0.1


def bert_config(recipe, vocab_file: Path, path: Path, dropout: float = FINE_TUNING_DROPOUT):
    vocab_size = sum(1 for _ in vocab_file.open(encoding="utf-8"))
    config = {
        "vocab_size": vocab_size,
        "hidden_size": recipe["hidden_size"],
        "num_hidden_layers": recipe["num_hidden_layers"],
        "num_attention_heads": recipe["num_attention_heads"],
        "intermediate_size": recipe["intermediate_size"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": recipe["max_position_embeddings"],
        "type_vocab_size": 2,
        "initializer_range": 0.02,
    }
    write_text(path, json.dumps(config, indent=2) + "\n")
    return config


def write_configs(recipe, vocab_file: Path, work: Path) -> tuple[dict, Path, Path]:
    """Writes the model's config; returns (it, fine-tuning config file, pretraining config file).

    Both files are bert_config.json unless the recipe pretrains with another dropout: then
    pretraining reads bert_config_pretraining.json, the same model with that dropout.
    """
    path = work / "bert_config.json"
    config = bert_config(recipe, vocab_file, path)
    if recipe["pretraining_dropout"] == FINE_TUNING_DROPOUT:
        return config, path, path
    pretraining = work / "bert_config_pretraining.json"
    bert_config(recipe, vocab_file, pretraining, recipe["pretraining_dropout"])
    return config, path, pretraining


# Held-out records keep BERT's masking rate whatever the training records use, so masked-LM
# curves of recipes that differ in masked_lm_prob are measured on the same masked positions.
HELDOUT_MASKED_LM_PROB = 0.15


def max_predictions(seq: int, masked_lm_prob: float) -> int:
    # The original's rule of thumb: max_predictions_per_seq ~ max_seq_length * masked_lm_prob.
    return math.ceil(seq * masked_lm_prob)


def pretrain(run: Runner, recipe, work: Path, vocab: Path, config: Path, segmenter: str, tag: str):
    """Records, two pretraining phases and the held-out eval of every checkpoint.

    Returns:
        (the checkpoint fine-tuning starts from, the masked-LM curve, each phase's median step
        time and sequences/s).
    """
    masking = {
        "vocab_file": vocab,
        "do_lower_case": True,
        "do_whole_word_mask": segmenter != "none",
        "chinese_word_segmenter": segmenter,
        # Set again per part below; named here so the records' flags keep the order of the
        # commands recorded by earlier runs, which step reuse compares.
        "masked_lm_prob": recipe["masked_lm_prob"],
    }
    # One max_predictions_per_seq a length: the records of both parts and the runs reading them.
    most_masked = max(recipe["masked_lm_prob"], HELDOUT_MASKED_LM_PROB)
    lengths = (recipe["phase1_seq"], recipe["phase2_seq"])
    predictions = {seq: max_predictions(seq, most_masked) for seq in lengths}
    phases = [("phase1", recipe["phase1_seq"], recipe["dupe_factor"])]
    if recipe["phase2_steps"]:
        phases.append(("phase2", recipe["phase2_seq"], recipe["phase2_dupe_factor"]))
    curve, throughput, checkpoint, offset = [], {}, None, 0
    for phase, seq, dupe in phases:
        files = {}
        for part in ("train", "heldout"):
            files[part] = work / f"{tag}_{part}_{seq}.tfrecord"
            run.script(
                f"records_{tag}_{part}_{seq}",
                "create_pretraining_data.py",
                dict(
                    masking,
                    input_file=work / f"{part}_corpus.txt",
                    output_file=files[part],
                    max_seq_length=seq,
                    masked_lm_prob=(
                        recipe["masked_lm_prob"] if part == "train" else HELDOUT_MASKED_LM_PROB
                    ),
                    max_predictions_per_seq=predictions[seq],
                    dupe_factor=dupe if part == "train" else 1,
                ),
            )
        output_dir = work / f"pretrain_{tag}_{phase}"
        steps = recipe[f"{phase}_steps"]
        args = {
            "input_file": files["train"],
            "output_dir": output_dir,
            "bert_config_file": config,
            "do_train": True,
            "do_eval": False,
            "train_batch_size": recipe[f"{phase}_batch"],
            "max_seq_length": seq,
            "max_predictions_per_seq": predictions[seq],
            "num_train_steps": steps,
            "num_warmup_steps": recipe[f"{phase}_warmup"],
            "learning_rate": recipe[f"{phase}_lr"],
            "save_checkpoints_steps": recipe["save_checkpoints_steps"],
            "keep_checkpoint_max": 1000,
            "iterations_per_loop": min(100, recipe["save_checkpoints_steps"]),
            "log_every_steps": min(100, recipe["save_checkpoints_steps"]),
            "use_mixed_precision": recipe["use_mixed_precision"],
            # The progress line and TensorBoard (<output_dir>/eval) show held-out accuracy.
            "eval_input_file": files["heldout"],
            "eval_every_steps": recipe["save_checkpoints_steps"],
            "eval_batch_size": recipe["eval_batch_size"],
            "max_eval_steps": recipe["max_eval_steps"],
        }
        if checkpoint:
            args["init_checkpoint"] = checkpoint
        run.script(f"pretrain_{tag}_{phase}", "run_pretraining.py", args, outputs=[output_dir])
        saved = sorted(
            int(p.name[len("model.ckpt-") : -len(".index")])
            for p in output_dir.glob("model.ckpt-*.index")
        )
        # Held-out accuracy of every checkpoint: the periodic eval's, or (for checkpoints saved
        # without one, as in a run begun without --eval_every_steps) a separate eval run.
        evaluated = periodic_evals(output_dir)
        for step in saved:
            eval_dir = work / f"eval_{tag}_{phase}" / f"step-{step}"
            results = evaluated.get(step) or run.script(
                f"eval_{tag}_{phase}_{step}",
                "run_pretraining.py",
                {
                    "input_file": files["heldout"],
                    "output_dir": eval_dir,
                    "init_checkpoint": output_dir / f"model.ckpt-{step}",
                    "bert_config_file": config,
                    "do_train": False,
                    "do_eval": True,
                    "eval_batch_size": recipe["eval_batch_size"],
                    "max_eval_steps": recipe["max_eval_steps"],
                    "max_seq_length": seq,
                    "max_predictions_per_seq": predictions[seq],
                    "use_mixed_precision": recipe["use_mixed_precision"],
                },
                outputs=[eval_dir],
                results_fn=lambda d=eval_dir: read_eval_results(d / "eval_results.txt"),
            )
            curve.append({"phase": phase, "seq": seq, "step": offset + step, **results})
        seconds = median_step_seconds(output_dir)
        throughput[phase] = {
            "median_seconds_per_step": seconds,
            "sequences_per_second": recipe[f"{phase}_batch"] / seconds if seconds else None,
        }
        checkpoint = output_dir / f"model.ckpt-{steps}"
        offset += steps
    return checkpoint, curve, throughput


def fine_tune(run: Runner, recipe, work: Path, data: Path, vocab: Path, config: Path, init, seed):
    """Sentiment and NER from `init` (a checkpoint, or None for random initialisation)."""
    name = init[0]
    common = {
        "vocab_file": vocab,
        "bert_config_file": config,
        "do_lower_case": True,
        "do_train": True,
        "do_eval": True,
        "random_seed": seed,
        "use_mixed_precision": recipe["use_mixed_precision"],
        "save_checkpoints_steps": 100000,
        "keep_checkpoint_max": 1,
    }
    if init[1] is not None:
        common["init_checkpoint"] = init[1]
    results = {}
    out = work / f"sentiment_{name}_seed{seed}"
    results["sentiment"] = (
        run.script(
            f"sentiment_{name}_seed{seed}",
            "run_classifier.py",
            dict(
                common,
                task_name="chnsenticorp",
                data_dir=data / "sentiment",
                output_dir=out,
                do_predict=True,
                max_seq_length=recipe["sentiment_seq"],
                train_batch_size=recipe["sentiment_batch"],
                learning_rate=recipe["sentiment_lr"],
                num_train_epochs=recipe["sentiment_epochs"],
            ),
            outputs=[out],
            results_fn=lambda: read_eval_results(out / "eval_results.txt"),
        )["eval_accuracy"]
        * 100
    )
    ner_dir = data / "peoples_daily_ner"
    out_ner = work / f"ner_{name}_seed{seed}"
    ner_args = dict(
        common,
        data_dir=ner_dir,
        entity_types="PER,LOC,ORG",
        output_dir=out_ner,
        max_seq_length=recipe["ner_seq"],
        train_batch_size=recipe["ner_batch"],
        learning_rate=recipe["ner_lr"],
        num_train_epochs=recipe["ner_epochs"],
    )
    results["ner"] = run.script(
        f"ner_{name}_seed{seed}",
        "run_ner.py",
        ner_args,
        outputs=[out_ner],
        results_fn=lambda: read_eval_results(out_ner / "eval_results.txt"),
    )["eval_f1"]
    if (ner_dir / "test.txt").exists():
        # The test split is held back: predicted, in its own step, once a test.txt is placed
        # (the trained tagger in out_ner is restored; the finished training step is kept).
        predict_args = {k: v for k, v in ner_args.items() if k != "init_checkpoint"}
        run.script(
            f"ner_{name}_seed{seed}_test",
            "run_ner.py",
            dict(predict_args, do_train=False, do_eval=False, do_predict=True),
        )
    return results


def summarize(scores):
    """{(task, init): [score per seed]} -> table rows with mean and spread (max - min)."""
    rows = []
    for (task, init), values in scores.items():
        rows.append(
            {
                "task": task,
                "init": init,
                "seeds": len(values),
                "mean": statistics.fmean(values),
                "spread": max(values) - min(values),
                "values": values,
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work_dir", help="Default: /tmp/chinese_from_scratch (--quick: ..._quick)."
    )
    parser.add_argument("--quick", action="store_true", help="Tiny model and data slices.")
    parser.add_argument(
        "--reuse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Reuse finished steps (default); --no-reuse runs every step again.",
    )
    parser.add_argument("--char_masking_ablation", action="store_true")
    parser.add_argument("--heldout_every", type=int, default=50)
    parser.add_argument("--output_json", default=None)
    recipe_flags = parser.add_argument_group("recipe (defaults: the full recipe, or --quick's)")
    for key, value in FULL.items():
        kind = {bool: lambda s: s.lower() in ("1", "true", "yes"), str: str}.get(
            type(value), type(value)
        )
        recipe_flags.add_argument(f"--{key}", type=kind, default=None)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"skipped: {DATA} is absent")
    try:
        import sklearn
    except ImportError:
        if not args.quick:
            sys.exit("error: the TF-IDF baseline needs scikit-learn: make bench-deps")
        print("note: scikit-learn is not installed (make bench-deps): no TF-IDF baseline")
        sklearn = None
    recipe = dict(QUICK if args.quick else FULL)
    recipe.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    seeds = [int(s) for s in str(recipe["seeds"]).split(",")]
    work = Path(
        args.work_dir or ("/tmp/chinese_from_scratch" + ("_quick" if args.quick else ""))
    ).resolve()
    run = Runner(work, args.reuse)
    started = time.perf_counter()

    data = DATA
    if args.quick:
        run.step("slice_data", list(QUICK_SLICES.items()).__repr__(), lambda: slice_data(work))
        data = work / "data"
    run.step(
        "split_corpus",
        [str(DATA / "corpus" / "pretraining_corpus.txt"), args.heldout_every, args.quick],
        lambda: split_corpus(
            DATA / "corpus" / "pretraining_corpus.txt",
            work,
            args.heldout_every,
            QUICK_SLICES["corpus"] if args.quick else None,
        ),
    )
    vocab = work / "vocab.txt"
    run.script(
        "vocab",
        "build_vocab.py",
        {
            "input_file": work / "train_corpus.txt",
            "vocab_file": vocab,
            "vocab_size": recipe["vocab_size"],
            "min_char_count": 2,
            "do_lower_case": True,
        },
    )
    config, config_path, pretraining_config_path = write_configs(recipe, vocab, work)

    inits = [("random", None)]
    curves, throughput = {}, {}
    pretrained, curves["wwm"], throughput["wwm"] = pretrain(
        run, recipe, work, vocab, pretraining_config_path, "jieba", "wwm"
    )
    inits.insert(0, ("pretrained", pretrained))
    if args.char_masking_ablation:
        char, curves["char"], throughput["char"] = pretrain(
            run, recipe, work, vocab, pretraining_config_path, "none", "char"
        )
        inits.insert(1, ("pretrained-charmask", char))

    scores = {}
    if sklearn is not None:
        baseline = run.step(
            "tfidf_sentiment",
            [str(data / "sentiment")],
            lambda: tfidf_baseline(data / "sentiment", work / "sentiment_tfidf"),
        )
        scores[("sentiment", "tfidf-char-1-3")] = [baseline["eval_accuracy"] * 100]
    for init in inits:
        for seed in seeds:
            results = fine_tune(run, recipe, work, data, vocab, config_path, init, seed)
            for task, value in results.items():
                scores.setdefault((task, init[0]), []).append(value)
    rows = sorted(summarize(scores), key=lambda r: r["task"])

    print(f"\n{'task':10} {'init':22} {'seeds':>5} {'mean':>7} {'spread':>7}")
    for r in rows:
        print(f"{r['task']:10} {r['init']:22} {r['seeds']:5d} {r['mean']:7.2f} {r['spread']:7.2f}")
    print("\nmasked-LM accuracy on held-out documents:")
    for tag, curve in curves.items():
        for point in curve:
            print(
                f"  {tag:5} {point['phase']} seq {point['seq']:3d} step {point['step']:6d}: "
                f"masked_lm_accuracy {point['masked_lm_accuracy']:.4f}  "
                f"next_sentence_accuracy {point['next_sentence_accuracy']:.4f}"
            )
    print("\npretraining speed (median over logged intervals):")
    for tag, phases in throughput.items():
        for phase, speed in phases.items():
            if speed["median_seconds_per_step"]:
                print(
                    f"  {tag:5} {phase}: {speed['median_seconds_per_step']:.3f} s/step, "
                    f"{speed['sequences_per_second']:.0f} sequences/s"
                )
    print("\nwall time per step (s, when run):")
    for name, record in run.steps.items():
        print(f"  {name:32} {record['seconds']:8.1f}")
    result = {
        "quick": args.quick,
        "work_dir": str(work),
        "recipe": recipe,
        "model": config,
        "ner_test_predicted": (data / "peoples_daily_ner" / "test.txt").exists(),
        "table": rows,
        "masked_lm_curves": curves,
        "pretraining_speed": throughput,
        "step_seconds": {name: record["seconds"] for name, record in run.steps.items()},
        "this_invocation_seconds": time.perf_counter() - started,
    }
    if not result["ner_test_predicted"]:
        print(
            "\nNER test: no test.txt in the NER data folder (the split is held back), so no NER "
            "test predictions were written; place one there and rerun to add them."
        )
    default_name = "chinese_from_scratch_quick.json" if args.quick else "chinese_from_scratch.json"
    output = Path(args.output_json or REPO / "benchmarks" / "results" / default_name)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text(output, json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
