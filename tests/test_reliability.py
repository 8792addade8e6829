"""What a user can rely on when runs are killed, interrupted, repeated or fed bad input.

* Outputs are complete or absent: a writer killed with SIGKILL leaves no file under the final
  name, and the next run removes its temporary.
* One run per --output_dir: a second one refuses, naming the first.
* Exact resume: a seeded run killed after a checkpoint and run again ends with the weights of a
  run that never stopped (run_classifier.py killed for real; run_pretraining.py from the
  checkpoint state a kill leaves).
* Damaged inputs and checkpoints: one line naming the file; an unreadable newest checkpoint
  falls back to the one before it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from conftest import REPO, SPECIAL_TOKENS, TINY_CONFIG, pretraining_flags, write_google_folder
from test_run_classifier import VOCAB, _flags, _mnli_files
from test_run_pretraining import PREDS, SEQ
from test_run_pretraining import _examples as pretraining_examples

from bert_tf import checkpoints, cli, files, records, training
from bert_tf.tasks import conll, glue, squad

FLAGS = flags.FLAGS


def _weights(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if not name.endswith(("adam_m", "adam_v"))
    }


def _max_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def _keep_checkpoints_up_to(output_dir, step):
    """What a kill right after ``model.ckpt-step`` was written leaves behind."""
    for path in os.listdir(output_dir):
        if (
            path.startswith(("model.ckpt-", "train_state.ckpt-"))
            and int(path.split("-")[1].split(".")[0]) > step
        ):
            os.remove(os.path.join(output_dir, path))
    if step:
        tf.compat.v1.train.update_checkpoint_state(
            str(output_dir), os.path.join(str(output_dir), f"model.ckpt-{step}")
        )
    else:
        os.remove(os.path.join(output_dir, "checkpoint"))


@pytest.fixture(scope="module")
def google_folder(tmp_path_factory):
    return write_google_folder(tmp_path_factory.mktemp("models") / "tiny", VOCAB, seed=3)


@pytest.fixture(scope="module")
def mnli_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("glue") / "MNLI"
    _mnli_files(data, np.random.default_rng(0))
    return data


def _classifier(folder, data, out, **overrides):
    import run_classifier

    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = dict(do_train=True, save_checkpoints_steps=2, iterations_per_loop=1, log_every_steps=2)
    values.update(overrides)
    with flagsaver.flagsaver(**_flags(folder, data, out, **values)):
        run_classifier.main([])


def _argv(values):
    return [f"--{name}={value}" for name, value in values.items() if value is not None]


@pytest.fixture(scope="module")
def uninterrupted(google_folder, mnli_data, tmp_path_factory):
    """run_classifier.py's 6 steps (24 examples / 4), a checkpoint every 2."""
    out = tmp_path_factory.mktemp("whole") / "out"
    _classifier(google_folder, mnli_data, out)
    return out


def test_classifier_killed_after_a_checkpoint_resumes_to_the_same_weights(
    google_folder, mnli_data, uninterrupted, tmp_path
):
    out = tmp_path / "out"
    values = _flags(
        google_folder,
        mnli_data,
        out,
        do_train=True,
        save_checkpoints_steps=2,
        iterations_per_loop=1,
        log_every_steps=2,
        num_train_epochs=1.0,
    )
    run = subprocess.Popen(
        [sys.executable, str(REPO / "run_classifier.py")] + _argv(values),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not (out / "model.ckpt-2.index").exists():
        assert run.poll() is None, run.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    # While it runs, the folder is locked and the refusal names the run.
    with pytest.raises(
        files.OutputDirInUseError, match=f"in use by pid {run.pid} on .*run_classifier.py"
    ):
        with files.output_dir_lock(str(out)):
            pass
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    assert not (out / "model.ckpt-6.index").exists(), "killed too late to test anything"
    _classifier(google_folder, mnli_data, out)
    difference = _max_difference(
        _weights(uninterrupted / "model.ckpt-6"), _weights(out / "model.ckpt-6")
    )
    assert difference <= 1e-6


def _pretraining(setup, out, **overrides):
    import run_pretraining

    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    values = pretraining_flags(
        setup,
        out,
        SEQ,
        PREDS,
        init_checkpoint=None,
        do_train=True,
        do_eval=False,
        save_checkpoints_steps=2,
        iterations_per_loop=1,
        log_every_steps=4,
        random_seed=11,
    )
    values.update(overrides)
    with flagsaver.flagsaver(**values):
        run_pretraining.main([])


@pytest.fixture(scope="module")
def pretraining_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretraining")
    records.write_examples(
        [str(folder / "a.tfrecord"), str(folder / "b.tfrecord")], pretraining_examples(40)
    )
    (folder / "bert_config.json").write_text(json.dumps(TINY_CONFIG))
    # 99 tokens, the tiny config's vocab_size; the records' ids 2 and 3 are [CLS] and [SEP].
    tokens = SPECIAL_TOKENS + [f"w{i}" for i in range(94)]
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return folder


@pytest.mark.parametrize("dynamic_masking", [False, True], ids=["record_masks", "dynamic_masks"])
def test_pretraining_rerun_and_resume_equal_the_uninterrupted_run(
    pretraining_setup, tmp_path, dynamic_masking
):
    masking = {}
    if dynamic_masking:  # the masks are drawn anew in the input pipeline: a resume must redraw them
        masking = dict(
            dynamic_masking=True,
            vocab_file=str(pretraining_setup / "vocab.txt"),
            masked_lm_prob=0.15,
            do_whole_word_mask=False,
        )
    whole = tmp_path / "whole"
    _pretraining(pretraining_setup, whole, **masking)
    final = _weights(whole / "model.ckpt-6")
    # From step 0: a second identical run (--random_seed fixes the order and the dropout).
    for step in (0, 2):
        resumed = tmp_path / f"from_{step}"
        shutil.copytree(whole, resumed)
        _keep_checkpoints_up_to(resumed, step)
        _pretraining(pretraining_setup, resumed, **masking)
        assert _max_difference(final, _weights(resumed / "model.ckpt-6")) <= 1e-6


def test_a_killed_writer_leaves_no_file_under_the_final_name(tmp_path):
    """SIGKILL of create_pretraining_data.py while it writes, then a complete rerun."""
    rng = np.random.default_rng(0)
    words = VOCAB[5:20]
    text = "\n\n".join(
        "\n".join(" ".join(rng.choice(words, 12)) for _ in range(8)) for _ in range(300)
    )
    (tmp_path / "corpus.txt").write_text(text + "\n")
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    output = tmp_path / "out" / "examples.tfrecord"
    partial = tmp_path / "out" / ("examples.tfrecord" + files.INCOMPLETE_SUFFIX)
    argv = [
        sys.executable,
        str(REPO / "create_pretraining_data.py"),
        f"--input_file={tmp_path / 'corpus.txt'}",
        f"--output_file={output}",
        f"--vocab_file={tmp_path / 'vocab.txt'}",
        "--max_seq_length=16",
        "--max_predictions_per_seq=3",
        "--dupe_factor=40",
        "--random_seed=1",
    ]
    run = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (partial.exists() and partial.stat().st_size > 0):
        assert run.poll() is None, run.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    assert not output.exists(), "killed too late: the write had finished"
    assert partial.exists()

    from bert_tf import pretraining_data

    config = pretraining_data.PretrainingDataConfig(
        vocab_file=str(tmp_path / "vocab.txt"),
        max_seq_length=16,
        max_predictions_per_seq=3,
        dupe_factor=1,
    )
    pretraining_data.create_pretraining_data([str(tmp_path / "corpus.txt")], [str(output)], config)
    assert sorted(os.listdir(output.parent)) == ["examples.tfrecord"]
    assert records.check_record_framing(str(output)) > 0


def test_truncated_record_file_is_found_before_training(tmp_path):
    path = tmp_path / "data.tfrecord"
    records.write_examples([str(path)], pretraining_examples(5))
    assert records.check_record_framing(str(path)) == 5
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])
    with pytest.raises(ValueError, match=r"data.tfrecord is truncated: record 5 starts at byte"):
        records.check_record_framing(str(path))


def test_damaged_record_stops_training_with_a_checkpoint_and_the_file_named(tmp_path):
    from test_training import _trainer

    path = tmp_path / "data.tfrecord"
    records.write_examples([str(path)], pretraining_examples(12))
    raw = bytearray(path.read_bytes())
    raw[len(raw) * 3 // 4] ^= 0xFF  # the framing is intact: only the CRC can tell
    path.write_bytes(bytes(raw))
    dataset = records.pretraining_dataset(
        [str(path)], 2, SEQ, PREDS, is_training=False, repeat_eval=True
    )
    trainer = _trainer(tmp_path / "out", steps=20, save_every=100)
    trainer.restore_or_initialize(None)
    with pytest.raises(
        ValueError, match=rf"reading {path} failed after step \d+: corrupted record"
    ):
        trainer.train(dataset, 20, data_name=str(path))
    saved = training.training_checkpoints(str(tmp_path / "out"))
    assert saved == [str(tmp_path / "out" / f"model.ckpt-{trainer.step}")] and trainer.step > 0


@pytest.fixture
def ctrl_c_raises():
    """SIGINT as an interactive Python has it (a background test run may start with it ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_saves_a_checkpoint_and_stops(tmp_path, ctrl_c_raises):
    from test_training import _dataset, _trainer

    trainer = _trainer(tmp_path, steps=100, save_every=100)
    trainer.restore_or_initialize(None)
    run_steps, calls = trainer.run_steps, []

    def ctrl_c_during_the_third_call(iterator, steps):
        calls.append(steps)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, as a terminal sends it
        return run_steps(iterator, steps)

    trainer.run_steps = ctrl_c_during_the_third_call
    with pytest.raises(
        training.TrainingInterrupted, match=r"saved .*model.ckpt-3 at step 3 of 100"
    ):
        trainer.train(_dataset(), 100)
    # The step under way finished, then the checkpoint of step 3 was saved.
    assert trainer.step == 3 and calls == [1, 1, 1]
    assert training.training_checkpoints(str(tmp_path)) == [str(tmp_path / "model.ckpt-3")]
    assert (tmp_path / "train_state.ckpt-3.index").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _run_cli(monkeypatch, capsys, main, output_dir=None):
    """cli.run(main) as a script's __main__ would, returning (exit status, stderr lines)."""
    monkeypatch.setattr(cli.app, "run", lambda function: function(["script"]))
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(output_dir=output_dir):
        with pytest.raises(SystemExit) as exit_info:
            cli.run(main)
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def test_errors_are_one_line_printed_once(monkeypatch, capsys, tmp_path):
    import run_classifier  # noqa: F401  (defines --output_dir)

    def bad(_):
        raise ValueError("--vocab_file: no such\nfile")

    code, lines = _run_cli(monkeypatch, capsys, bad)
    assert (code, lines) == (1, ["error: --vocab_file: no such file"])

    def interrupted(_):
        raise training.TrainingInterrupted("saved x/model.ckpt-3 at step 3 of 9")

    code, lines = _run_cli(monkeypatch, capsys, interrupted)
    assert (code, lines) == (130, ["interrupted: saved x/model.ckpt-3 at step 3 of 9"])

    (tmp_path / "a_file").write_text("")
    code, lines = _run_cli(monkeypatch, capsys, lambda _: None, str(tmp_path / "a_file"))
    assert (code, lines) == (
        1,
        [f"error: --output_dir={tmp_path / 'a_file'} is a file, not a folder"],
    )


def test_unreadable_newest_checkpoint_falls_back_to_the_one_before(
    google_folder, mnli_data, uninterrupted, tmp_path, caplog
):
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    data = out / "model.ckpt-6.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    _classifier(
        google_folder, mnli_data, out, do_train=False, do_eval=True, init_checkpoint=None,
        export_dir=str(tmp_path / "export"),
    )
    assert "global_step = 4" in (out / "eval_results.txt").read_text()
    assert f"checkpoint {out / 'model.ckpt-6'} cannot be read" in caplog.text
    # The export is of the checkpoint evaluated, not of the unreadable newest one.
    assert f"Exported {out / 'model.ckpt-4'} (step 4)" in caplog.text
    assert (tmp_path / "export" / "1" / "saved_model.pb").exists()
    (out / "model.ckpt-4.index").write_bytes(b"")
    for stale in out.glob("model.ckpt-2.*"):
        stale.unlink()
    with pytest.raises(ValueError, match="no readable checkpoint"):
        _classifier(
            google_folder, mnli_data, out, do_train=False, do_eval=True, init_checkpoint=None
        )


def test_bad_inputs_name_the_file(google_folder, mnli_data, tmp_path, caplog):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"sentence\tlabel\nthe cat\t1\nthe \xff dog\t0\n")
    with pytest.raises(ValueError, match=r"bad.tsv, line 3: not UTF-8 text"):
        list(glue.read_tsv(str(bad)))
    conll_file = tmp_path / "train.txt"
    conll_file.write_bytes(b"EU B-ORG\nrejects O\n\nthe \xc3 O\n")
    with pytest.raises(ValueError, match=r"train.txt, line 4: not UTF-8 text"):
        conll.read_conll(str(conll_file))
    squad_file = tmp_path / "squad.json"
    squad_file.write_text('{"data": [{"title": "x", "paragraphs": [{"context": "a b"}]}]}')
    with pytest.raises(ValueError, match=r"data\[0\].paragraphs\[0\].qas should be a list"):
        squad.load_squad_json(str(squad_file))
    header_only = tmp_path / "SST-2"
    header_only.mkdir()
    (header_only / "dev.tsv").write_text("sentence\tlabel\n")
    with pytest.raises(ValueError, match=r"dev.tsv holds no sst-2 example"):
        glue.get_processor("sst-2").get_dev_examples(str(header_only))
    with pytest.raises(ValueError, match=rf"--vocab_file={tmp_path} is a folder, not a file"):
        cli.require_file(str(tmp_path), "vocab_file")
    empty_index = tmp_path / "model.ckpt"
    (tmp_path / "model.ckpt.index").write_bytes(b"")
    with pytest.raises(ValueError, match=rf"checkpoint {empty_index} cannot be read"):
        checkpoints.list_checkpoint(str(empty_index))
    config = tmp_path / "bert_config.json"
    config.write_text(
        json.dumps({k: v for k, v in TINY_CONFIG.items() if k != "num_hidden_layers"})
    )
    from bert_tf.modeling import BertConfig

    assert BertConfig.from_json_file(str(config)).num_hidden_layers == 12
    assert (
        "has no 'num_hidden_layers': using the original's default num_hidden_layers=12"
        in caplog.text
    )


def test_vocab_without_cls_and_predicting_untrained_are_refused(google_folder, mnli_data, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(v for v in VOCAB if v != "[CLS]") + "\n")
    with pytest.raises(ValueError, match=r"--vocab_file=.*vocab.txt lacks \[CLS\]"):
        _classifier(google_folder, mnli_data, tmp_path / "a", vocab_file=str(vocab))
    out = tmp_path / "b"
    with pytest.raises(ValueError, match="no trained model: .* no --init_checkpoint"):
        _classifier(
            google_folder, mnli_data, out, do_train=False, do_predict=True, init_checkpoint=None
        )
    assert not list(out.glob("*.tsv"))


def test_record_writers_publish_only_complete_files(tmp_path):
    old = tmp_path / "train.tf_record"
    records.write_examples([str(old)], pretraining_examples(2))
    before = old.read_bytes()

    def failing():
        yield from pretraining_examples(3)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        records.write_examples([str(old), str(tmp_path / "other.tf_record")], failing())
    assert sorted(os.listdir(tmp_path)) == ["train.tf_record"]
    assert old.read_bytes() == before
