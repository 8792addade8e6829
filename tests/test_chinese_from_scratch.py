"""benchmarks/chinese_from_scratch.py --quick: the whole from-scratch chain on data slices.

One run of the real scripts (vocabulary, whole-word-masked records, two pretraining phases with
held-out evals, sentiment and NER fine-tuning from the pretrained and from random weights), then
a rerun after a NER test file is placed (it must reuse every finished step and only predict the
test file), and one with a changed recipe that must refuse.
"""

import datetime
import importlib.util
import json
import re
import subprocess
import sys

import pytest
from conftest import REPO, SHARED_DATA, SPECIAL_TOKENS

CHINESE = SHARED_DATA / "chinese"
SCRIPT = REPO / "benchmarks" / "chinese_from_scratch.py"

needs_chinese_data = pytest.mark.skipif(
    not CHINESE.is_dir(), reason=f"the Chinese data ({CHINESE}) is absent"
)


def _run(work, output, *extra):
    command = [sys.executable, str(SCRIPT), "--quick", f"--work_dir={work}"]
    command += [f"--output_json={output}", *extra]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO)


def _eval_results(path):
    pairs = (line.split(" = ") for line in path.read_text(encoding="utf-8").splitlines())
    return {key: float(value) for key, value in pairs}


@needs_chinese_data
def test_quick_chain_runs_end_to_end_then_resumes(tmp_path):
    work, output = tmp_path / "work", tmp_path / "result.json"
    done = _run(work, output)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text(encoding="utf-8"))

    # The table holds what each fine-tuning run wrote, for both initialisations.
    rows = {(r["task"], r["init"]): r for r in result["table"]}
    sentiment = _eval_results(work / "sentiment_pretrained_seed1" / "eval_results.txt")
    assert rows["sentiment", "pretrained"]["values"] == [sentiment["eval_accuracy"] * 100]
    ner = _eval_results(work / "ner_random_seed1" / "eval_results.txt")
    assert rows["ner", "random"]["values"] == [ner["eval_f1"]]
    assert {("sentiment", "random"), ("ner", "pretrained")} <= set(rows)

    # Sentiment test predictions: one line per test row, two class probabilities summing to 1.
    test_rows = (work / "data" / "sentiment" / "test.tsv").read_text(encoding="utf-8")
    lines = (work / "sentiment_random_seed1" / "test_results.tsv").read_text().splitlines()
    assert len(lines) == len(test_rows.splitlines()) - 1
    assert all(abs(sum(map(float, line.split("\t"))) - 1) < 1e-4 for line in lines)
    # No NER test file in the slice: no NER test predictions.
    assert not result["ner_test_predicted"]
    assert not (work / "ner_pretrained_seed1" / "test_predictions.txt").exists()

    # Every checkpoint has a held-out eval; phase 2 starts from phase 1's last checkpoint, so
    # its steps continue the count. Phase 1's values are the periodic evals training made;
    # phase 2 ends between two of them (2 steps, evals every 3), so its last checkpoint is
    # evaluated by a separate process.
    recipe = result["recipe"]
    curve = result["masked_lm_curves"]["wwm"]
    every, phase1 = recipe["save_checkpoints_steps"], recipe["phase1_steps"]
    assert [p["step"] for p in curve] == list(range(every, phase1 + 1, every)) + [
        phase1 + recipe["phase2_steps"]
    ]
    assert [p["seq"] for p in curve] == [recipe["phase1_seq"]] * 2 + [recipe["phase2_seq"]]
    assert all(0 <= p["masked_lm_accuracy"] <= 1 for p in curve)
    assert len({p["masked_lm_loss"] for p in curve}) == 3
    evaluated_apart = [name for name in result["step_seconds"] if name.startswith("eval_")]
    assert evaluated_apart == ["eval_wwm_phase2_2"]
    # Phase 1 logged two intervals' worth of steps: its median step time is measured.
    speed = result["pretraining_speed"]["wwm"]["phase1"]
    assert 0 < speed["median_seconds_per_step"] < result["step_seconds"]["pretrain_wwm_phase1"]
    assert speed["sequences_per_second"] == recipe["phase1_batch"] / speed["median_seconds_per_step"]
    # An independent clock: the progress lines' timestamps, logged as each event was written.
    stamps = [
        datetime.datetime.strptime(m.group(1), "%H:%M:%S.%f")
        for m in re.finditer(
            r"^I\d{4} (\S+) .* step \d+/\d+ ",
            (work / "logs" / "pretrain_wwm_phase1.log").read_text(encoding="utf-8"),
            re.M,
        )
    ]
    assert len(stamps) == 2
    from_log = (stamps[1] - stamps[0]).total_seconds() / every
    assert abs(speed["median_seconds_per_step"] - from_log) < 0.01

    # A NER test file placed later: the rerun reads every finished step back and only predicts
    # it with each trained tagger.
    ner_data = work / "data" / "peoples_daily_ner"
    (ner_data / "test.txt").write_text((ner_data / "dev.txt").read_text(encoding="utf-8"))
    again = _run(work, output)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("[reuse]") == len(result["step_seconds"])
    ran = sorted(line.split()[1] for line in again.stdout.splitlines() if line.startswith("[run]"))
    assert ran == ["ner_pretrained_seed1_test", "ner_random_seed1_test"]
    assert json.loads(output.read_text(encoding="utf-8"))["ner_test_predicted"]
    # The test file is the dev slice, so each tagger scores it as it scored dev.
    for init in ("pretrained", "random"):
        folder = work / f"ner_{init}_seed1"
        predicted = (folder / "test_predictions.txt").read_text(encoding="utf-8")
        assert predicted == (folder / "eval_predictions.txt").read_text(encoding="utf-8")

    # A changed recipe does not silently reuse steps run with another command.
    changed = _run(work, output, "--sentiment_lr=1e-3")
    assert changed.returncode != 0
    assert "sentiment_pretrained_seed1" in changed.stderr
    assert "another command" in changed.stderr


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("chinese_from_scratch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pretraining_config_differs_from_fine_tuning_only_in_dropout(tmp_path):
    bench = _benchmark_module()
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"{t}\n" for t in [*SPECIAL_TOKENS, "中"]))
    read = lambda path: json.loads(path.read_text(encoding="utf-8"))  # noqa: E731

    # BERT's dropout for both: one config, read by pretraining and fine-tuning alike.
    config, fine_tuning, pretraining = bench.write_configs(bench.FULL, vocab, tmp_path)
    assert fine_tuning == pretraining == tmp_path / "bert_config.json"
    assert read(fine_tuning) == config
    assert config["vocab_size"] == 6 and config["num_hidden_layers"] == 4
    assert config["hidden_dropout_prob"] == config["attention_probs_dropout_prob"] == 0.1

    # Pretraining without dropout: its own config, the same model otherwise; fine-tuning keeps 0.1.
    recipe = dict(bench.FULL, pretraining_dropout=0.0)
    (tmp_path / "no_dropout").mkdir()
    _, fine_tuning, pretraining = bench.write_configs(recipe, vocab, tmp_path / "no_dropout")
    assert pretraining.name == "bert_config_pretraining.json" and fine_tuning != pretraining
    assert read(fine_tuning) == config
    dropouts = ("hidden_dropout_prob", "attention_probs_dropout_prob")
    assert all(read(pretraining)[key] == 0.0 for key in dropouts)
    assert {k: v for k, v in read(pretraining).items() if k not in dropouts} == {
        k: v for k, v in config.items() if k not in dropouts
    }


class _CommandsOnly:
    """A Runner stand-in that keeps each script's arguments and runs nothing."""

    def __init__(self):
        self.args = {}

    def script(self, name, script, args, outputs=(), results_fn=dict):
        self.args[name] = args
        return {}


@pytest.mark.parametrize("masked_lm_prob, predictions", [(0.15, (10, 20)), (0.25, (16, 32))])
def test_masked_lm_prob_masks_training_records_only(tmp_path, masked_lm_prob, predictions):
    bench = _benchmark_module()
    run = _CommandsOnly()
    recipe = dict(bench.FULL, masked_lm_prob=masked_lm_prob)
    vocab, config = tmp_path / "vocab.txt", tmp_path / "bert_config.json"
    bench.pretrain(run, recipe, tmp_path, vocab, config, "jieba", "wwm")

    for seq, slots in zip((64, 128), predictions):  # the recipe's phase 1 and phase 2 lengths
        train = run.args[f"records_wwm_train_{seq}"]
        heldout = run.args[f"records_wwm_heldout_{seq}"]
        assert train["masked_lm_prob"] == masked_lm_prob
        # Held-out records keep BERT's rate, so every recipe's curve scores the same positions,
        # padded to the slots the training records need: one max_predictions_per_seq a length.
        assert heldout["masked_lm_prob"] == 0.15
        assert train["max_predictions_per_seq"] == heldout["max_predictions_per_seq"] == slots
    assert run.args["pretrain_wwm_phase1"]["max_predictions_per_seq"] == predictions[0]
    assert run.args["pretrain_wwm_phase2"]["max_predictions_per_seq"] == predictions[1]


def test_a_changed_model_config_is_another_step(tmp_path, monkeypatch):
    # The config file keeps its name when the model changes shape, so its contents are part of
    # what a step is: a rerun with more layers must not reuse the smaller model's pretraining.
    bench = _benchmark_module()
    launched = []

    def fake_run(command, **kwargs):  # records the script's command instead of running it
        launched.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    config = tmp_path / "bert_config.json"
    args = {"bert_config_file": config, "num_train_steps": 10}
    run = bench.Runner(tmp_path, reuse=True)

    def pretrain():
        return run.script("pretrain", "run_pretraining.py", args, results_fn=lambda: {"loss": 1.0})

    config.write_text(json.dumps({"num_hidden_layers": 4, "hidden_size": 256}))
    assert pretrain() == {"loss": 1.0} and len(launched) == 1
    assert launched[0][2:] == [f"--bert_config_file={config}", "--num_train_steps=10"]
    # Same flags and the same config, written out in another order: reused, nothing launched.
    config.write_text(json.dumps({"hidden_size": 256, "num_hidden_layers": 4}, indent=2))
    assert pretrain() == {"loss": 1.0} and len(launched) == 1

    config.write_text(json.dumps({"num_hidden_layers": 6, "hidden_size": 256}))
    with pytest.raises(SystemExit, match="another command or model config"):
        pretrain()
    assert len(launched) == 1
