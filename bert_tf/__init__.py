"""bert-tf: Google's BERT on TensorFlow 2 and Keras 3.

The original release's public names live in their modules, as before:
`bert_tf.modeling.BertConfig`, `bert_tf.modeling.BertModel`, `bert_tf.tokenization.FullTokenizer`.
"""

__version__ = "0.1.0"
