"""Training: two backends behind one small interface (``specc.train.backend``).

The default, ``standard``, builds one training step in standard ONNX ops
(``specc.train.step_graph``) and runs it on stock onnxruntime (``specc.train.standard``).
``ort-training`` runs onnxruntime-training 1.19.2, an optional install: ``specc.train.engine``
is the only module that imports its API, and ``specc.train.ort_training`` says whether
it can be used here and how to install it.
"""
