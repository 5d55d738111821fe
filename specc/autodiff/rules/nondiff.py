"""Ops through which no gradient flows: their outputs are booleans, integers, shapes or
random draws, or are piecewise constant in their inputs (Sign, Floor, Ceil, Round), so the
derivative is zero wherever it exists, as in Keras's backends.

Mod is not among them: for floats it is fmod, whose gradient ``elementwise`` gives (specc
emits it on int64 sizes only, which carry no gradient anyway).
"""

from __future__ import annotations

from specc.autodiff.core import no_gradient

# Comparisons and logic: boolean outputs.
no_gradient("Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual")
no_gradient("Not", "And", "Or", "Xor", "IsNaN", "IsInf")
# Piecewise constant.
no_gradient("Sign", "Floor", "Ceil", "Round")
# Shapes, sizes, indices and index-valued results.
no_gradient("Shape", "Size", "Range", "ConstantOfShape", "ArgMax", "ArgMin", "NonZero", "OneHot")
# Bit operations: integer only (specc.random_ops builds its generator from them).
no_gradient("BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot")
# Random draws: the "Like" ops read only their input's shape and dtype.
no_gradient("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike")
no_gradient("Multinomial", "Bernoulli")
