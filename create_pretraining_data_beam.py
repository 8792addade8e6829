"""create_pretraining_data.py on Apache Beam: one TFRecord file per input file, on any runner.

Needs the optional extra: `pip install -r requirements-beam.txt`. The flags are
create_pretraining_data.py's (`--num_workers` and `--progress_seconds` aside); every other flag
goes to Beam. Input file k (patterns in the order given, the matches of each sorted by name) is
made with seed `random_seed + k` into `<output_file>-0000k-of-0000n`; see
bert_tf/beam_pipeline.py for what that guarantees.

Locally, offline (Beam's FnApiRunner, the default here), in 4 worker processes:
    python create_pretraining_data_beam.py --input_file='corpus/*.txt' \
      --output_file=data/pretrain.tfrecord --vocab_file=$BERT_DIR/vocab.txt \
      --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=5 \
      --direct_running_mode=multi_processing --direct_num_workers=4

On Dataflow (inputs and outputs on gs://; there `--num_workers` is Dataflow's worker count):
    python create_pretraining_data_beam.py --input_file='gs://bucket/corpus/*.txt' \
      --output_file=gs://bucket/data/pretrain.tfrecord --vocab_file=gs://bucket/vocab.txt \
      --runner=DataflowRunner --project=my-project --region=us-central1 \
      --temp_location=gs://bucket/tmp --requirements_file=requirements.txt \
      --setup_file=./pyproject.toml --num_workers=20
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
from absl import flags, logging

import create_pretraining_data  # Defines the flags this script shares with it.
from bert_tf import cli, pretraining_data

FLAGS = flags.FLAGS

# Flags of create_pretraining_data.py that mean nothing here: left to Beam (Dataflow, for one,
# has its own --num_workers).
_LEFT_TO_BEAM = ("num_workers", "progress_seconds")


def split_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """Splits a command line into this script's flags and Beam's.

    Returns:
        `(absl arguments, Beam arguments)`, each starting with the program name.
    """
    ours, beam_args = [argv[0]], [argv[0]]
    rest = iter(argv[1:])
    for argument in rest:
        if not argument.startswith("-") or argument in ("-", "--"):
            beam_args.append(argument)
            continue
        name, has_value = argument.lstrip("-").split("=", 1)[0], "=" in argument
        flag_name = name if name in FLAGS or not name.startswith("no") else name[2:]
        if flag_name not in FLAGS or flag_name in _LEFT_TO_BEAM:
            beam_args.append(argument)
            continue
        ours.append(argument)
        if not has_value and not FLAGS[flag_name].boolean:
            ours.append(next(rest, ""))  # "--flag value"
    return ours, beam_args


def _parse(argv: list[str]) -> list[str]:
    ours, beam_args = split_arguments(argv)
    FLAGS(ours)
    return beam_args


def main(argv: list[str]) -> None:
    """Reads the flags and runs the pipeline (see the module docstring)."""
    from bert_tf import beam_pipeline  # After the flags, so --help works without Beam.

    bert_tf.startup.default_verbosity()
    vocab_file = cli.require_file(FLAGS.vocab_file, "vocab_file")
    input_files = beam_pipeline.ordered_input_files(FLAGS.input_file or "")
    output_files = [path.strip() for path in (FLAGS.output_file or "").split(",") if path.strip()]
    if len(output_files) != 1:
        raise ValueError(
            f"--output_file={FLAGS.output_file!r}: give one name; file k of the input is written "
            "to <output_file>-0000k-of-0000n"
        )
    settings = {name: FLAGS[name].value for name in create_pretraining_data._ALGORITHM_FLAGS}
    config = pretraining_data.PretrainingDataConfig(vocab_file=vocab_file, **settings)
    outputs, stats = beam_pipeline.run(input_files, output_files[0], config, argv[1:])
    logging.info("Wrote %d instances to %d files %s ...", stats.instances, len(outputs), outputs[0])


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])
    cli.run(main, flags_parser=_parse)
