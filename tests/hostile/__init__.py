"""Hostile and clumsy inputs, family by family, each with what handling it cleanly means.

Each ``family_*.py`` module lists ``CASES``; ``run.py`` runs them in-process (the test
suite, ``tests/test_hostile.py``) or each in its own process under memory and time limits
(``python -m tests.hostile --report``), which is how the table of inputs tried and handled
is made, against this checkout or an older one.
"""
