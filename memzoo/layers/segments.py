"""Cutting a chunk of a stream into the stream's segments.

Shared by the slot memories, which write once per segment of
`segment_length` tokens counted from the start of the stream, whatever the
chunking.
"""

import tensorflow as tf
from keras import ops


def segment_layout(batch_size, length, segment_length, segment_position=None):
    """How a chunk of `length` tokens lies over the stream's segments.

    Args:
        batch_size: int or scalar tensor. Rows of the chunk.
        length: int or scalar tensor. Tokens in the chunk (static under XLA).
        segment_length: int. Tokens per segment.
        segment_position: int `[batch]`: tokens of the current segment seen
            before the chunk; `None` when every row starts a segment, which
            takes a reshape instead of a per-row gather.

    Returns:
        `(num_segments, to_segments, from_segments, valid, ends)`:
        `to_segments` cuts a `[batch, time, ...]` tensor into `[batch,
        num_segments, segment_length, ...]` with the stream's boundaries on
        segment boundaries (places outside the chunk repeat a token of it:
        mask them with `valid`); `from_segments` undoes it on `[batch,
        num_segments * segment_length, ...]`; `valid`, float32 `[batch,
        num_segments, segment_length]`, is 1 where a token of the chunk is;
        `ends`, float32 `[batch, num_segments]`, is 1 where a segment's
        last token is in the chunk.
    """
    segment = segment_length
    if segment_position is None:
        start = ops.zeros((batch_size,), "int32")
        # Every row starts a segment (training windows, the first call of a
        # stream): a reshape aligns the chunk, and no segment is empty.
        num_segments = (length + segment - 1) // segment
        padding = num_segments * segment - length

        def to_segments(tensor):
            pads = [[0, 0]] * len(tensor.shape)
            pads[1] = [0, padding]
            return ops.reshape(
                ops.pad(tensor, pads),
                (-1, num_segments, segment, *tensor.shape[2:]),
            )

        def from_segments(tensor):
            return tensor[:, :length]

    else:
        start = ops.cast(segment_position, "int32")
        # Segments the chunk touches; the first may have begun in an earlier
        # call. A static count when the length is static (XLA).
        num_segments = (length + 2 * segment - 2) // segment
        # Aligned index j holds token j - start. Each row may be at its own
        # place in its segment, hence a per-row gather (static shape under
        # XLA) rather than a slice. It is `tf.gather_nd` of whole token
        # vectors: `ops.take_along_axis` broadcasts the indices to every
        # feature and gathers element by element, and the gradient of a
        # `tf.gather` with `batch_dims` takes dozens of ops of shape
        # arithmetic where this one takes a scatter.
        sources = ops.expand_dims(ops.arange(num_segments * segment), 0)
        sources = ops.clip(sources - ops.expand_dims(start, 1), 0, length - 1)

        def gather_rows(tensor, indices):
            rows = ops.broadcast_to(
                ops.expand_dims(ops.arange(ops.shape(indices)[0]), 1),
                ops.shape(indices),
            )
            return tf.gather_nd(tensor, ops.stack([rows, indices], axis=-1))

        def to_segments(tensor):
            return ops.reshape(
                gather_rows(tensor, sources),
                (-1, num_segments, segment, *tensor.shape[2:]),
            )

        def from_segments(tensor):
            positions = ops.expand_dims(ops.arange(length), 0)
            return gather_rows(tensor, positions + ops.expand_dims(start, 1))

    aligned = ops.expand_dims(ops.arange(num_segments * segment), 0)
    aligned = aligned - ops.expand_dims(start, 1)
    valid = ops.cast((aligned >= 0) & (aligned < length), "float32")
    valid = ops.reshape(valid, (-1, num_segments, segment))
    # Segment k ends inside this chunk if its last token is in it.
    last = (ops.arange(num_segments) + 1) * segment - 1
    ends = ops.expand_dims(last, 0) < ops.expand_dims(start + length, 1)
    return num_segments, to_segments, from_segments, valid, ops.cast(ends, "float32")
