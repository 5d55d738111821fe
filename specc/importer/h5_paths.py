"""Where Keras's ``model.weights.h5`` keeps each layer's weights.

Keras does not address a layer by its name but by its class, counted in the model's layer
order (``saving_lib._save_container_state``): the second Dense is ``layers/dense_1``,
whatever it is called. A Functional model's layers include its InputLayers (which hold
no weights but take a name); a Sequential model's do not; op layers (``NotEqual``) are not
layers at all. A nested model's layers sit under its own group: ``layers/sequential/
layers/dense``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from specc.diagnostics import SpecPath


@dataclass(frozen=True)
class WeightSource:
    """One spec layer's weights in the h5 file: its group, its Keras class (and a
    wrapper's inner class), and the spec layer that owns them."""

    group: str
    class_name: str
    owner: str
    config_path: SpecPath
    inner_class: str | None = None


def to_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``BatchNormalization`` -> ``batch_normalization``,
    ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


@dataclass
class H5Names:
    """Hands out the group of each layer of one model, in the model's layer order."""

    prefix: str = ""
    used: dict[str, int] = field(default_factory=dict)

    def take(self, class_name: str) -> str:
        """The group of the next layer of class ``class_name``: ``layers/dense_1``."""
        base = to_snake_case(class_name)
        if base in self.used:
            self.used[base] += 1
            base = f"{base}_{self.used[base]}"
        else:
            self.used[base] = 0
        return f"{self.prefix}layers/{base}"
