"""Ray for specc's commands that spread work over processes or machines (``specc tune``,
``specc train --workers``)."""
