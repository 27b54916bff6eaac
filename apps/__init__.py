"""Applications on top of the models and the converter: model export and the training engine.

(test.py, train.py, parity/, bench.py, preprocess/ and web/ are applications too.) Nothing below this layer
imports it.
"""
