"""``specc tune``: hyperparameter sweeps on Ray Tune, each trial a ``specc train`` run."""
