"""Scores SQuAD predictions with the official definitions and prints the official scripts' JSON.

    python -m bert_tf.squad_evaluate dev-v1.1.json predictions.json
    python -m bert_tf.squad_evaluate dev-v2.0.json predictions.json --na-prob-file null_odds.json

The version is read from the data file ("1.1" → exact_match/f1; "2.0" → exact, f1, HasAns/NoAns
and, with --na-prob-file, the best no-answer thresholds).
"""

from __future__ import annotations

import argparse
import json
import sys

from bert_tf import metrics


def evaluate_files(
    data_file: str,
    prediction_file: str,
    na_prob_file: str | None = None,
    na_prob_thresh: float = 1.0,
) -> dict:
    with open(data_file, encoding="utf-8") as f:
        data = json.load(f)
    with open(prediction_file, encoding="utf-8") as f:
        predictions = json.load(f)
    version = str(data.get("version", "1.1"))
    if version.startswith("1"):
        return metrics.squad_v1_scores(data["data"], predictions)
    na_probs = None
    if na_prob_file:
        with open(na_prob_file, encoding="utf-8") as f:
            na_probs = json.load(f)
    return metrics.squad_v2_scores(data["data"], predictions, na_probs, na_prob_thresh)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_file")
    parser.add_argument("pred_file")
    parser.add_argument("--na-prob-file", "-n", default=None)
    parser.add_argument("--na-prob-thresh", "-t", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        result = evaluate_files(
            args.data_file, args.pred_file, args.na_prob_file, args.na_prob_thresh
        )
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    if "exact_match" in result:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
