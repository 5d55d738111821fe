"""What the data-file families share: the tiny classifier their files are given to."""

SPEC = """\
specc: 1
name: tiny
inputs:
  x: {shape: [4]}
layers:
  - {name: dense, type: Dense, units: 3, activation: softmax, inputs: x}
outputs: [dense]
compile:
  optimizer: sgd
  loss: sparse_categorical_crossentropy
"""
