"""Classifies raw sentences with an exported classifier, as a server would: no bert_tf here.

Usage: python demo/serve_exported.py EXPORT_DIR [TEST_TSV TEST_RESULTS_TSV]

Loads the newest version in EXPORT_DIR with `tf.saved_model.load` (tensorflow_text only
registers the tokenizer's ops), classifies a few new sentences through `serving_default`, and,
given GLUE's test.tsv and run_classifier.py's test_results.tsv, checks that the raw-text
signature reproduces those probabilities.
"""

import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the in-graph tokenizer)

NEW_SENTENCES = [
    "An absolute joy from start to finish!",
    "A boring, clumsy and lifeless film.",
    "The soundtrack was nice, but the story made no sense at all.",
    "",
]


def main(argv):
    export_dir = argv[1]
    versions = [int(name) for name in os.listdir(export_dir) if name.isdigit()]
    path = os.path.join(export_dir, str(max(versions)))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = serve(text_a=tf.constant(NEW_SENTENCES))
    for text, label, probabilities in zip(
        NEW_SENTENCES, out["labels"].numpy(), out["probabilities"].numpy()
    ):
        shown = " ".join(f"{p:.3f}" for p in probabilities)
        print(f"  label {label.decode()}  ({shown})   {text or '(empty text)'}")
    if len(argv) > 3:
        with open(argv[2], encoding="utf-8") as f:
            lines = f.read().splitlines()[1:]
        texts = [line.split("\t", 1)[1] for line in lines]
        expected = np.loadtxt(argv[3], delimiter="\t", ndmin=2)
        got = serve(text_a=tf.constant(texts))["probabilities"].numpy()
        worst = float(np.max(np.abs(got - expected)))
        print(
            f"  {len(texts)} test sentences: largest difference from test_results.tsv {worst:.1e}"
        )
        if worst > 1e-5:
            raise SystemExit("the exported model does not reproduce run_classifier.py")
    loaded = sorted(name for name in sys.modules if name.startswith("bert_tf"))
    print(f"  bert_tf modules loaded in this process: {loaded or 'none'}")


if __name__ == "__main__":
    main(sys.argv)
