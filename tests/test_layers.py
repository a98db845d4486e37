"""The memory layers against direct, unblocked reference computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from memzoo import layers


def inputs(batch_size, length, features=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch_size, length, features)).astype("float32")


def reference_window_attention(layer, x, return_weights=False):
    """Full-length attention with a band mask: what the blocked layer computes
    (and its weights `[batch, heads, query, key]`)."""
    length = x.shape[1]
    positions = np.arange(length)
    queries = layers.apply_rotary_embedding(layer.query_dense(x), positions)
    keys = layers.apply_rotary_embedding(layer.key_dense(x), positions)
    values = layer.value_dense(x)
    scores = np.einsum("bqhk,bshk->bhqs", queries, keys) / np.sqrt(layer.key_dim)
    offset = positions[:, None] - positions[None, :]
    band = (offset >= 0) & (offset < layer.window)
    scores = np.where(band, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    outputs = layer.output_dense(np.einsum("bhqs,bshk->bqhk", weights, values))
    return (outputs, weights) if return_weights else outputs


def window_layer(window, features=8):
    layer = layers.WindowAttention(num_heads=2, key_dim=4, window=window)
    layer.build((None, None, features))
    return layer


@pytest.mark.parametrize("window", [1, 2, 5, 16])
@pytest.mark.parametrize("length", [1, 7, 23])
def test_window_attention_matches_full_attention_with_a_band_mask(window, length):
    layer = window_layer(window)
    x = inputs(2, length)
    cache = layer.get_initial_state(2)
    outputs, new_cache = layer(x, cache, np.zeros(2, "int32"))
    np.testing.assert_allclose(outputs, reference_window_attention(layer, x),
                               atol=1e-5)
    assert new_cache["keys"].shape == (2, window - 1, 2, 4)


@pytest.mark.parametrize("window", [1, 4, 9])
def test_window_attention_reaches_back_through_the_cache(window):
    layer = window_layer(window)
    x = inputs(1, 30)
    expected = reference_window_attention(layer, x)
    cache, fill, pieces, start = layer.get_initial_state(1), 0, [], 0
    for size in (1, 6, 2, 13, 8):
        outputs, cache = layer(x[:, start : start + size], cache,
                               np.array([fill], "int32"))
        pieces.append(outputs)
        start += size
        fill = min(fill + size, window - 1)
    np.testing.assert_allclose(np.concatenate(pieces, 1), expected, atol=1e-5)


@pytest.mark.parametrize("window", [1, 4, 9])
@pytest.mark.parametrize("chunks", [(30,), (1, 6, 2, 13, 8)])
def test_window_attention_scores_are_the_weights_on_each_token_back(window,
                                                                  chunks):
    layer = window_layer(window)
    x = inputs(2, 30)
    _, dense = reference_window_attention(layer, x, return_weights=True)
    # Dense weights [.., t, s] read at s = t - j; 0 before the stream's start.
    queries, back = np.arange(30)[:, None], np.arange(window)[None, :]
    expected = np.where(queries >= back,
                        dense[..., queries, np.maximum(queries - back, 0)], 0.0)
    cache, fill, pieces, start = layer.get_initial_state(2), 0, [], 0
    for size in chunks:
        outputs, cache, scores = layer(
            x[:, start : start + size], cache, np.full(2, fill, "int32"),
            return_attention_scores=True,
        )
        assert scores.shape == (2, 2, size, window)
        pieces.append(scores)
        start += size
        fill = min(fill + size, window - 1)
    scores = np.concatenate(pieces, axis=2)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)


def test_window_attention_scores_stay_blocked():
    # 4096 tokens with a window of 8: a full score matrix would hold
    # 4096 * 4096 * 2 heads = 33.5M floats; the blocked one holds 4096 * 15 * 2.
    layer = window_layer(8)
    traced = tf.function(
        lambda x: layer(x, layer.get_initial_state(1), tf.zeros([1], tf.int32))[0]
    ).get_concrete_function(tf.TensorSpec([1, 4096, 8]))
    largest = max(
        int(np.prod(output.shape))
        for op in traced.graph.get_operations()
        for output in op.outputs
        if output.shape.is_fully_defined()
    )
    assert largest < 4096 * 64


def slots_layer(num_slots=3, segment_length=4, features=8):
    layer = layers.MemorySlots(num_slots, num_heads=2, segment_length=segment_length)
    layer.build((None, None, features), (None, None, features))
    return layer


@pytest.fixture
def make_layer(request):
    """The slot layer of either kind (`slot_memory`), made by its helper."""
    return {"gated": slots_layer, "associative": associative_layer}[request.param]


def reference_memory_slots(layer, x, queries):
    """A Python loop over segments with a plain softmax over each segment:
    the reads, the last slots, and each write's forget and input gates."""
    segment = layer.segment_length
    slots = layer.get_initial_state(x.shape[0])["slots"]
    reads, forget_gates, input_gates = [], [], []
    for start in range(0, x.shape[1], segment):
        reads.append(
            layer._read(
                queries[:, None, start : start + segment],
                layer._slot_inputs(slots)[:, None],
            )[:, 0]
        )
        tokens = x[:, start : start + segment]
        if tokens.shape[1] < segment:
            break
        slot_queries = layer.write_query(layer._slot_inputs(slots))
        scores = np.einsum("bmhk,bshk->bhms", slot_queries,
                           layer.write_key(tokens)) / np.sqrt(layer.key_dim)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attended = np.einsum("bhms,bshk->bhmk", weights, layer.write_value(tokens))
        candidate_input = layer.write_output(attended)
        gates = np.asarray(layer.gates(np.concatenate([slots, candidate_input], -1)))
        forget, input_gate, candidate = np.split(gates, 3, axis=-1)
        forget, input_gate = 1 / (1 + np.exp(-forget)), 1 / (1 + np.exp(-input_gate))
        forget_gates.append(forget)
        input_gates.append(input_gate)
        slots = forget * slots + (1 - forget) * input_gate * np.tanh(candidate)
    return np.concatenate(reads, axis=1), slots, (forget_gates, input_gates)


@pytest.mark.parametrize("segment_length", [1, 4, 7])
@pytest.mark.parametrize("chunks", [(26,), (3, 1, 9, 13), (1,) * 26])
@pytest.mark.parametrize("first_position", ["zeros", None])
def test_memory_slots_match_a_loop_over_segments(segment_length, chunks,
                                                 first_position):
    # `None` says the first chunk starts a segment (the reshape path).
    layer = slots_layer(segment_length=segment_length)
    x, queries = inputs(2, 26, seed=1), inputs(2, 26, seed=2)
    expected_reads, expected_slots, _ = reference_memory_slots(layer, x, queries)
    state, position, pieces, start = layer.get_initial_state(2), 0, [], 0
    for size in chunks:
        positions = np.full(2, position, "int32")
        if start == 0 and first_position is None:
            positions = None
        read, state = layer(x[:, start : start + size],
                            queries[:, start : start + size], state, positions)
        pieces.append(read)
        start += size
        position = (position + size) % segment_length
    np.testing.assert_allclose(np.concatenate(pieces, 1), expected_reads, atol=1e-5)
    np.testing.assert_allclose(state["slots"], expected_slots, atol=1e-5)


@pytest.mark.parametrize("segment_length", [1, 4, 7])
@pytest.mark.parametrize("chunks", [(26,), (3, 1, 9, 13), (1,) * 26])
def test_memory_slots_report_the_gates_of_every_write(segment_length, chunks):
    layer = slots_layer(segment_length=segment_length)
    x, queries = inputs(2, 26, seed=1), inputs(2, 26, seed=2)
    _, _, (forget, input_gate) = reference_memory_slots(layer, x, queries)
    state, position, start = layer.get_initial_state(2), 0, 0
    written_forget, written_input = [], []
    for size in chunks:
        positions = None if start == 0 else np.full(2, position, "int32")
        read, state, gates = layer(
            x[:, start : start + size], queries[:, start : start + size], state,
            positions, return_gates=True,
        )
        written = np.asarray(gates["written"])
        assert gates["forget_gate"].shape[:2] == written.shape
        # Both rows are at the same place: they write the same segments.
        np.testing.assert_array_equal(written[0], written[1])
        for name, found in (("forget_gate", written_forget),
                            ("input_gate", written_input)):
            found.extend(np.moveaxis(np.asarray(gates[name])[:, written[0]], 1, 0))
        start += size
        position = (position + size) % segment_length
    # One write per whole segment of the stream, in order, whatever the chunks.
    assert len(written_forget) == 26 // segment_length
    np.testing.assert_allclose(written_forget, forget, atol=1e-5)
    np.testing.assert_allclose(written_input, input_gate, atol=1e-5)
    assert 0 <= np.min(written_forget) and np.max(written_input) <= 1


def test_memory_slots_stay_bounded_however_long_the_stream():
    # Gates held at "keep everything, write everything": an LSTM's
    # `f * C + i * C~` would add about 1 a segment (a count of writes, which
    # trained slots did learn); the slots' update keeps them within [-1, 1].
    layer = slots_layer(segment_length=2)
    kernel, bias = layer.gates.weights
    kernel.assign(np.zeros(kernel.shape, "float32"))
    bias.assign(np.full(bias.shape, 8.0, "float32"))
    x = inputs(1, 400, seed=5)
    _, state = layer(x, x, layer.get_initial_state(1), None)
    slots = np.asarray(state["slots"])
    assert np.abs(slots).max() <= 1.0
    # 200 writes of f = i = sigmoid(8), C~ = tanh(8), from 0: C = (1 - f^200) i C~.
    gate = 1 / (1 + np.exp(-8.0))
    np.testing.assert_allclose(slots, (1 - gate**200) * gate * np.tanh(8.0),
                               rtol=1e-4)


@pytest.mark.parametrize("make_layer", ["gated", "associative"], indirect=True)
def test_memory_slots_are_read_as_of_the_previous_segment(make_layer):
    layer = make_layer(segment_length=4)
    x, queries = inputs(1, 12, seed=3), inputs(1, 12, seed=4)
    state = layer.get_initial_state(1)
    reads, _ = layer(x, queries, state, np.zeros(1, "int32"))
    changed = x.copy()
    changed[0, 5] += 1.0  # a token of the second segment
    changed_reads, _ = layer(changed, queries, state, np.zeros(1, "int32"))
    # Reads of segments one and two are unchanged; segment three sees it.
    np.testing.assert_allclose(changed_reads[:, :8], reads[:, :8], atol=1e-6)
    assert np.abs(changed_reads[:, 8:] - reads[:, 8:]).max() > 1e-4


def test_memory_slots_forget_gates_start_open():
    # Bias 1 on the forget gate and 0 on the others, as Keras's LSTM does.
    bias = np.asarray(slots_layer(features=8).gates.bias)
    np.testing.assert_array_equal(bias[:8], 1.0)
    np.testing.assert_array_equal(bias[8:], 0.0)


@pytest.mark.parametrize("make_layer", ["gated", "associative"], indirect=True)
@pytest.mark.parametrize("segment_position", [None, np.zeros(2, "int32")])
def test_memory_slots_compile_with_xla(segment_position, make_layer):
    layer = make_layer(segment_length=4)
    x, queries = inputs(2, 10, seed=5), inputs(2, 10, seed=6)
    state = layer.get_initial_state(2)
    expected, _ = layer(x, queries, state, segment_position)

    @tf.function(jit_compile=True)
    def read_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            read, _ = layer(x, queries, state, segment_position)
            loss = tf.reduce_sum(read**2)
        return read, tape.gradient(loss, x)

    read, gradient = read_and_gradient(tf.constant(x))
    np.testing.assert_allclose(read, expected, atol=1e-5)
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def associative_layer(num_slots=3, segment_length=4, features=8):
    layer = layers.AssociativeSlots(num_slots, num_heads=2,
                                    segment_length=segment_length)
    layer.build((None, None, features), (None, None, features))
    return layer


def unit(x):
    return x / np.sqrt((x**2).sum(-1, keepdims=True) + 1e-3)


def reference_associative_slots(layer, x, queries):
    """The delta rule token by token in Python: the reads, the last slots
    `[batch, heads, M, head]`, and the mean write strength of each write."""
    previous = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], 1)
    keys = unit(np.asarray(layer.write_key(np.concatenate([x, previous], -1))))
    values = np.asarray(layer.write_value(x))
    strength = 1 / (1 + np.exp(-np.asarray(layer.input_gate(x))))
    read_queries = unit(np.asarray(layer.read_query(queries)))
    forget = 1 / (1 + np.exp(-np.asarray(layer.forget_bias)))[None, :, :, None]
    batch, heads = x.shape[0], layer.num_heads
    slots = np.zeros((batch, heads, layer.num_slots, layer.head_dim))
    pending, share = slots.copy(), 0.0
    reads, shares = [], []
    for t in range(x.shape[1]):
        reads.append(np.einsum("bhm,bhmk->bhk", read_queries[:, t], slots))
        key, beta = keys[:, t], strength[:, t, :, None]
        predicted = np.einsum("bhm,bhmk->bhk", key, pending)
        pending = pending + (beta * key)[..., None] * (values[:, t] - predicted)[:, :, None]
        share = share + beta * key**2 / layer.segment_length
        if (t + 1) % layer.segment_length == 0:
            slots, pending = pending, forget * pending
            shares.append(share)
            share = 0.0
    reads = layer.read_output(np.stack(reads, 1).astype("float32"))
    return np.asarray(reads), slots, shares


def run_slots_in_chunks(layer, x, queries, chunks, return_gates=False):
    state, position, start, pieces = layer.get_initial_state(x.shape[0]), 0, 0, []
    for size in chunks:
        positions = None if start == 0 else np.full(x.shape[0], position, "int32")
        pieces.append(layer(x[:, start : start + size],
                            queries[:, start : start + size], state, positions,
                            return_gates=return_gates))
        state = pieces[-1][1]
        start += size
        position = (position + size) % layer.segment_length
    return pieces, state


@pytest.mark.parametrize("segment_length", [1, 4, 7])
@pytest.mark.parametrize("chunks", [(26,), (3, 1, 9, 13), (1,) * 26])
def test_associative_slots_follow_the_delta_rule_token_by_token(segment_length,
                                                                chunks):
    layer = associative_layer(segment_length=segment_length)
    x, queries = inputs(2, 26, seed=1), inputs(2, 26, seed=2)
    expected_reads, expected_slots, shares = reference_associative_slots(
        layer, x, queries
    )
    pieces, state = run_slots_in_chunks(layer, x, queries, chunks,
                                        return_gates=True)
    reads = np.concatenate([piece[0] for piece in pieces], 1)
    np.testing.assert_allclose(reads, expected_reads, atol=1e-5)
    np.testing.assert_allclose(layer._to_heads(state["slots"]), expected_slots,
                               atol=1e-5)
    # One write per whole segment, whatever the chunks, with its strength.
    written_shares = []
    for _, _, gates in pieces:
        written = np.asarray(gates["written"])[0]
        written_shares.extend(np.asarray(gates["input_gate"])[0, written])
    assert len(written_shares) == 26 // segment_length
    head_dim = layer.head_dim
    np.testing.assert_allclose(
        np.asarray(written_shares)[:, :, ::head_dim],
        np.moveaxis(np.asarray(shares)[:, 0], 1, 2), atol=1e-5,
    )


def test_associative_slots_recall_a_value_by_its_key_many_segments_later():
    # One head, keys along the slots' axes, gates open: a value written
    # under a key is read back exactly by a query of that key, 50 segments
    # later, while other keys' writes leave it alone.
    layer = layers.AssociativeSlots(4, num_heads=1, segment_length=2,
                                    max_timescale=1e9)
    layer.build((None, None, 8), (None, None, 8))
    eye = np.eye(8, dtype="float32")
    key_kernel = np.zeros((16, 1, 4), "float32")
    key_kernel[:4, 0] = 30 * eye[:4, :4]  # the token's own features
    layer.write_key.kernel.assign(key_kernel)
    layer.read_query.kernel.assign(30 * eye[:, :4, None].transpose(0, 2, 1))
    layer.write_value.kernel.assign(eye[:, None, :])
    layer.read_output.kernel.assign(eye[None])
    layer.input_gate.kernel.assign(np.zeros((8, 1), "float32"))
    layer.input_gate.bias.assign(np.full(1, 30.0, "float32"))
    layer.forget_bias.assign(np.full((1, 4), 30.0, "float32"))
    remembered = np.zeros(8, "float32")
    remembered[[0, 5]] = 1.0
    x = np.zeros((1, 100, 8), "float32")
    x[0, 0] = remembered
    x[0, 2:100:2, 1] = 1.0            # key 1 written over and over
    x[0, 2:100:2, 6] = np.linspace(-1, 1, 49)
    queries = np.zeros_like(x)
    queries[0, -1, 0] = 1.0           # asks for key 0 at the end
    read, _ = layer(x, queries, layer.get_initial_state(1), None)
    np.testing.assert_allclose(read[0, -1], remembered, atol=1e-4)


def test_associative_slots_forget_on_time_scales_from_2_to_1024_segments():
    bias = np.asarray(associative_layer(num_slots=8).forget_bias)
    forget = 1 / (1 + np.exp(-bias))
    timescales = 1 / (1 - forget)
    np.testing.assert_allclose(timescales[:, 0], 2.0, rtol=1e-4)
    np.testing.assert_allclose(timescales[:, -1], 1024.0, rtol=1e-3)
    # Evenly spread on a log scale, the same in every head.
    np.testing.assert_allclose(np.diff(np.log(timescales), axis=1),
                               np.log(512) / 7, rtol=1e-3)
    np.testing.assert_array_equal(bias[0], bias[1])


def test_dropout_draws_keras_masks_and_compiles_with_xla():
    x = np.ones((4, 64, 32), "float32")
    ours, theirs = layers.Dropout(0.25, seed=3), keras.layers.Dropout(0.25, seed=3)
    for _ in range(2):  # the seed generator advances alike
        np.testing.assert_array_equal(ours(x, training=True),
                                      theirs(x, training=True))
    np.testing.assert_array_equal(ours(x, training=False), x)
    masked = tf.function(lambda x: ours(x, training=True), jit_compile=True)(x)
    kept = np.asarray(masked) > 0
    np.testing.assert_allclose(np.asarray(masked)[kept], 1 / 0.75, rtol=1e-6)
    assert 0.7 < kept.mean() < 0.8
    shared = layers.Dropout(0.5, noise_shape=(None, 1, 32), seed=1)(
        x, training=True)
    np.testing.assert_array_equal(shared[:, 0], shared[:, 1])


def test_memory_block_without_slots_has_no_memory_layer():
    block = layers.MemoryBlock(num_heads=2, working_memory=3,
                               long_short_term_memory=0, segment_length=3,
                               intermediate_dim=16)
    block.build((None, None, 8))
    assert not hasattr(block, "memory")
    assert sorted(block.get_initial_state(1)) == ["keys", "values"]


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_stateful_lstm_stack_carries_its_state_across_chunks(num_layers):
    stack = layers.StatefulLSTMStack(units=6, num_layers=num_layers)
    stack.build((None, None, 8))
    x = inputs(2, 15)
    whole, _ = stack(x, stack.get_initial_state(2))
    state, pieces = stack.get_initial_state(2), []
    for start, stop in ((0, 4), (4, 5), (5, 15)):
        outputs, state = stack(x[:, start:stop], state)
        pieces.append(outputs)
    np.testing.assert_allclose(np.concatenate(pieces, 1), whole, atol=1e-5)
    assert whole.shape == (2, 15, 6 if num_layers else 8)
    assert len(state) == 2 * num_layers


@pytest.mark.parametrize("layer", [
    layers.WindowAttention(num_heads=2, key_dim=4, window=3),
    layers.MemorySlots(num_slots=2, num_heads=2, segment_length=5),
    layers.AssociativeSlots(num_slots=2, num_heads=2, segment_length=5),
    layers.MemoryBlock(num_heads=2, working_memory=3, long_short_term_memory=2,
                       segment_length=4, intermediate_dim=16, dropout=0.1),
    layers.MemoryBlock(num_heads=2, working_memory=3, long_short_term_memory=2,
                       segment_length=4, intermediate_dim=16,
                       slot_memory="associative"),
    layers.StatefulLSTMStack(units=4, num_layers=2, dropout=0.1),
])
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize(
    "make, argument, expected",
    [
        (lambda: layers.WindowAttention(num_heads=0, key_dim=4, window=3), "num_heads", "a strictly positive integer"),
        (lambda: layers.WindowAttention(num_heads=2, key_dim=5, window=3), "key_dim", "an even size"),
        (lambda: layers.WindowAttention(num_heads=2, key_dim=4, window=0), "window", "a strictly positive integer"),
        (lambda: layers.MemorySlots(num_slots=0, num_heads=2, segment_length=4), "num_slots", "a strictly positive integer"),
        (lambda: layers.MemorySlots(num_slots=2, num_heads=2, segment_length=-1), "segment_length", "a strictly positive integer"),
        (lambda: layers.AssociativeSlots(num_slots=0, num_heads=2, segment_length=4), "num_slots", "a strictly positive integer"),
        (lambda: layers.AssociativeSlots(num_slots=2, num_heads=2, segment_length=4, max_timescale=1), "max_timescale", "a number >= 2"),
        (lambda: layers.MemoryBlock(2, 3, -1, 4, 16), "long_short_term_memory", "an integer >= 0"),
        (lambda: layers.MemoryBlock(2, 3, 2, 4, 16, dropout=2.0), "dropout", "a rate"),
        (lambda: layers.MemoryBlock(2, 3, 2, 4, 16, slot_memory="lstm"), "slot_memory", "one of"),
        (lambda: layers.StatefulLSTMStack(units=4, num_layers=-1), "num_layers", "an integer >= 0"),
        (lambda: layers.StatefulLSTMStack(units=0, num_layers=1), "units", "a strictly positive integer"),
    ],
)
def test_layer_arguments_are_validated(make, argument, expected):
    with pytest.raises(ValueError, match=f"argument `{argument}`. Expected {expected}.*Received: {argument}="):
        make()
