"""Coverage-guided fuzzing of everything specc reads from a file (docs/fuzzing.md).

One module per target (``spec_yaml``, ``spec_json``, ``lambda_expr``, ``weights_npz``,
``data_npz``, ``data_csv``) says how one input reaches specc; ``oracle`` decides whether
specc handled it cleanly; ``worker`` runs a target under atheris (libFuzzer) in its own
process; ``runner`` starts workers and reads their figures; ``python -m tests.fuzz`` is the
long run and ``tests/fuzz/test_fuzz.py`` the short one in the test suite.

This package imports nothing from specc at import time: a worker imports specc inside
atheris's instrumentation so that coverage of specc's code guides the fuzzer.
"""
