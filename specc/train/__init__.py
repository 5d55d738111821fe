"""Training: the onnxruntime-training engine behind one small interface.

``specc.train.engine`` is the only module that imports the onnxruntime training API; the
training-artifact builder, the loop and the callbacks build on it.
"""
