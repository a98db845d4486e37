from keras import ops


def apply_rotary_embedding(inputs, positions, max_wavelength=10_000):
    """Rotates feature pairs of `inputs` by angles proportional to `positions`.

    Rotary position embedding (Su et al., 2021): after both queries and keys are
    rotated, their dot product depends only on the difference of their
    positions. Keras has no rotary layer (keras-hub's is not a dependency), and
    the window attention needs it as a function of explicit positions.

    Args:
        inputs: `[..., length, heads, head_dim]` with an even `head_dim`.
        positions: `[length]` float positions.
        max_wavelength: the longest wavelength of the rotations.
    """
    head_dim = inputs.shape[-1]
    exponents = ops.arange(0, head_dim, 2, dtype="float32") / head_dim
    inverse_frequencies = 1.0 / ops.power(float(max_wavelength), exponents)
    angles = ops.einsum("l,f->lf", ops.cast(positions, "float32"),
                        inverse_frequencies)
    # [length, 1, head_dim // 2]: broadcast over heads.
    cos = ops.cast(ops.expand_dims(ops.cos(angles), 1), inputs.dtype)
    sin = ops.cast(ops.expand_dims(ops.sin(angles), 1), inputs.dtype)
    first, second = ops.split(inputs, 2, axis=-1)
    return ops.concatenate(
        [first * cos - second * sin, second * cos + first * sin], axis=-1
    )
