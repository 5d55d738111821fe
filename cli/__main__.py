"""``python -m specc.cli``: the same as the ``specc`` command."""

from specc.cli.entry import main

main()
