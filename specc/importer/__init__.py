"""``specc import``: a Keras 3 model file read as data and written as a spec and weights.

Nothing in the file is executed and Keras is not imported: the model's ``config.json`` is
parsed as JSON, every class name in it is looked up in specc's own registries, and the
weights are read from the HDF5 file as plain arrays. Anything that is not a known Keras
class (a custom layer, a ``Lambda`` holding pickled Python code, an op layer other than an
``Embedding``'s mask) is reported by its path in the config, all of them at once.
"""

from specc.importer.model import ImportedModel, import_model

__all__ = ["ImportedModel", "import_model"]
