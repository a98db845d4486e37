from keras import ops


def stable_softmax(scores, axis=-1):
    """Softmax over `axis`, computed in float32.

    `keras.ops.softmax` warns when the axis has size 1, which is a valid case
    here (a window of 1, a single memory slot); this computes the same thing
    without the warning.
    """
    scores = ops.cast(scores, "float32")
    scores = scores - ops.max(scores, axis=axis, keepdims=True)
    exponentials = ops.exp(scores)
    return exponentials / ops.sum(exponentials, axis=axis, keepdims=True)
