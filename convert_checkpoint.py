"""Turns a Hugging Face BERT folder into a Google checkpoint folder that every script here reads.

Example:
    python convert_checkpoint.py --input=path/to/hf_model --output_dir=converted
writes converted/bert_config.json, converted/bert_model.ckpt.{index,data-00000-of-00001} and
converted/vocab.txt. Hugging Face's "gelu" (erf) is written as hidden_act "gelu_exact".
"""

import bert_tf.startup  # first: imports TensorFlow without its start-up notices

# isort: split
from absl import flags, logging

from bert_tf import checkpoints, cli

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Folder with config.json, model.safetensors and vocab.txt.")
flags.DEFINE_string("output_dir", None, "Folder to write the Google-format checkpoint into.")


def main(_):
    bert_tf.startup.default_verbosity()
    prefix = checkpoints.convert_hf_to_google(FLAGS.input, FLAGS.output_dir)
    logging.info("Wrote %s (+ bert_config.json, vocab.txt)", prefix)


if __name__ == "__main__":
    flags.mark_flags_as_required(["input", "output_dir"])
    cli.run(main)
