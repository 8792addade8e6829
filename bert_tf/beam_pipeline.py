"""create_pretraining_data as an Apache Beam pipeline: one input file, one unit of work, one file out.

The instances are made by the same functions as `create_pretraining_data.py` (reading,
tokenizing, cutting, masking, encoding in :mod:`bert_tf.pretraining_data`); Beam only spreads
the input files over workers, so corpora larger than one machine can run on Dataflow, Flink or
Spark, and small ones locally.

The rule that makes the output independent of the runner and of the number of workers: input
file ``k`` (its position in the expanded ``--input_file`` list: patterns in the order given,
each pattern's matches sorted by name, :func:`ordered_input_files`) is made on its own, exactly as one shard of
``--num_workers``: its documents are shuffled and cut with ``random.Random(random_seed + k)``,
random next segments come from the same file, and its instances are shuffled among themselves.
The records go, in that order, to ``<output_file>-<k>-of-<n>`` (5 digits each), written under a
temporary name and renamed when complete (:func:`bert_tf.files.atomic_path`). So

- file ``k`` of the output holds the records of ``create_pretraining_data.py`` run with
  ``--num_workers=1 --random_seed=<random_seed + k>`` on input file ``k`` alone (the original's
  records for that file and seed);
- when ``--num_workers=N`` cuts its input into exactly the N files (it cuts at byte offsets, so
  for example N files of equal size), its output holds the same records, taken one from each
  file in turn.

A file is read whole into one worker's memory, as one shard of ``--num_workers`` is: split
large files (for example ``split -l``, at blank lines) to spread the work and bound the memory.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
from absl import logging
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from bert_tf import pretraining_data
from bert_tf.pretraining_data import CorpusStats, PretrainingDataConfig

# The runner used when none is named: Beam's Python FnApiRunner, in this process or (with
# --direct_running_mode=multi_processing --direct_num_workers=N) in N local worker processes.
# The DirectRunner may hand the pipeline to the Prism runner, which downloads a binary.
LOCAL_RUNNER = "FnApiRunner"
METRICS_NAMESPACE = "create_pretraining_data"
_COUNTED = tuple(
    field.name for field in dataclasses.fields(CorpusStats) if field.name != "invalid_utf8_where"
)


def output_file_name(output_prefix: str, index: int, count: int) -> str:
    """The output of input file `index` of `count`: ``<prefix>-00003-of-00010``."""
    return f"{output_prefix}-{index:05d}-of-{count:05d}"


def ordered_input_files(patterns: str) -> list[str]:
    """The input files in their seeding order: patterns as given, each one's matches sorted.

    Sorting makes the order the same on every file system (a local glob lists files in
    directory order, which differs from machine to machine).
    """
    from bert_tf import records  # Imports TensorFlow.

    pieces = [piece.strip() for piece in patterns.split(",") if piece.strip()]
    if not pieces:
        raise ValueError("--input_file is empty: give one or more files or glob patterns")
    return [path for piece in pieces for path in sorted(records.expand_file_patterns(piece))]


def file_seed(random_seed: int, index: int) -> int:
    """The seed of input file `index`: that of shard `index` of ``--num_workers``."""
    return random_seed + index


class FileResult(NamedTuple):
    """What one unit of work made.

    Attributes:
        index: The input file's position.
        input_file: Its path.
        output_file: The TFRecord file written.
        stats: What was read and made.
    """

    index: int
    input_file: str
    output_file: str
    stats: CorpusStats


def make_file_records(
    index: int,
    input_file: str,
    output_file: str,
    config: PretrainingDataConfig,
    tokenizer: pretraining_data.CachedTokenizer | None = None,
) -> FileResult:
    """One unit of work: input file `index` to its TFRecord file (see the module docstring).

    Args:
        index: The file's position in the input list; seeds it with `file_seed`.
        input_file: Text, one sentence per line, blank lines between documents.
        output_file: The TFRecord file to write (atomically).
        config: The run's settings.
        tokenizer: The vocabulary's tokenizer, loaded from `config` when None.

    Returns:
        What was read and made.
    """
    from bert_tf import files  # Imports TensorFlow, as the writer does.
    from bert_tf.records import RoundRobinWriter

    if tokenizer is None:
        tokenizer = pretraining_data.load_tokenizer(
            config.vocab_file, config.do_lower_case, config.chinese_word_segmenter
        )
    stats = CorpusStats()
    documents = pretraining_data.read_documents([input_file], tokenizer, stats)
    stats.long_sentences = pretraining_data._count_long_sentences(documents, config.max_seq_length)
    instances = pretraining_data.instances_from_documents(
        documents, tokenizer, config, random.Random(file_seed(config.random_seed, index))
    )
    stats.instances = len(instances)
    del documents
    encoder = pretraining_data.InstanceEncoder(
        tokenizer.vocab, config.max_seq_length, config.max_predictions_per_seq
    )
    with files.atomic_path(output_file) as temporary, RoundRobinWriter([temporary]) as writer:
        for instance in instances:
            writer.write(encoder.encode(instance))
    logging.info(
        "%s: %d documents -> %d instances in %s",
        input_file,
        stats.documents,
        stats.instances,
        output_file,
    )
    return FileResult(index, input_file, output_file, stats)


class _MakeFileRecords(beam.DoFn):
    """Beam step: (index, input file) -> its TFRecord file, counted in Beam metrics."""

    def __init__(self, config: PretrainingDataConfig, output_prefix: str, count: int) -> None:
        self._config = config
        self._output_prefix = output_prefix
        self._count = count
        self._tokenizer = None

    def setup(self) -> None:
        self._tokenizer = pretraining_data.load_tokenizer(
            self._config.vocab_file,
            self._config.do_lower_case,
            self._config.chinese_word_segmenter,
        )

    def process(self, element):
        index, input_file = element
        output_file = output_file_name(self._output_prefix, index, self._count)
        result = make_file_records(index, input_file, output_file, self._config, self._tokenizer)
        for name in _COUNTED:
            beam.metrics.Metrics.counter(METRICS_NAMESPACE, name).inc(getattr(result.stats, name))
        for where in result.stats.invalid_utf8_where:
            logging.warning("bytes that are not UTF-8 dropped at %s", where)
        yield result.output_file


def add_steps(
    root: beam.Pipeline,
    input_files: Sequence[str],
    output_prefix: str,
    config: PretrainingDataConfig,
) -> beam.PCollection:
    """Adds the steps to a pipeline; returns the collection of output file names."""
    indexed = list(enumerate(input_files))
    return (
        root
        | "InputFiles" >> beam.Create(indexed, reshuffle=False)
        # One file per element, redistributed so that runners spread them over workers.
        | "Spread" >> beam.Reshuffle()
        | "MakeRecords" >> beam.ParDo(_MakeFileRecords(config, output_prefix, len(indexed)))
    )


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from the command line's Beam flags; the offline local runner by default."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_RUNNER
    return options


def _counter_totals(result) -> CorpusStats:
    """The run's CorpusStats from its Beam counters (committed values where the runner has them)."""
    stats = CorpusStats()
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        setattr(stats, name, getattr(stats, name) + int(value or 0))
    return stats


def run(
    input_files: Sequence[str],
    output_prefix: str,
    config: PretrainingDataConfig,
    beam_args: Sequence[str] = (),
) -> tuple[list[str], CorpusStats]:
    """Makes one TFRecord file per input file with a Beam runner; waits for the end.

    Args:
        input_files: Text files, already expanded from patterns, in their seeding order.
        output_prefix: Output files are ``<output_prefix>-<k>-of-<n>``.
        config: Settings (validated here).
        beam_args: Beam's flags, e.g. ``--runner=DataflowRunner --project=...``, or
            ``--direct_running_mode=multi_processing --direct_num_workers=4`` locally.

    Returns:
        The output files in input order, and what was read and made (from Beam's counters).

    Raises:
        FileNotFoundError: If a local input file does not exist.
        ValueError: On bad settings, no input file or input without any text.
    """
    config.validate()
    if not input_files:
        raise ValueError("no input file given")
    for path in input_files:
        if "://" not in path and not os.path.isfile(path):
            raise FileNotFoundError(f"input file not found (or not a file): {path}")
    options = pipeline_options(beam_args)
    logging.info(
        "%d input files, runner %s", len(input_files), options.view_as(StandardOptions).runner
    )
    root = beam.Pipeline(options=options)
    add_steps(root, input_files, output_prefix, config)
    result = root.run()
    result.wait_until_finish()
    stats = _counter_totals(result)
    stats.log_summary(config.max_seq_length)
    if not stats.documents:
        raise ValueError(
            f"no text found in {', '.join(input_files)}: expected one sentence per line and blank "
            "lines between documents"
        )
    outputs = [
        output_file_name(output_prefix, k, len(input_files)) for k in range(len(input_files))
    ]
    return outputs, stats
