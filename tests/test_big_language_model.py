import keras
import numpy as np
import pytest
import tensorflow as tf

import memzoo
from tests.test_case import LanguageModelTests
from tests.test_case import compiled_call

TINY = {
    "vocab_size": 259,
    "embedding_dim": 8,
    "hidden_dim": 16,
    "working_memory": 4,
    "long_short_term_memory": 3,
    "num_layers": 2,
    "num_heads": 2,
    "segment_length": 5,
    "lstm_layers": 1,
    "tokenizer": "byte",
}

# The edge configurations every structural property must hold for.
EDGE_CONFIGS = {
    "segment_differs_from_window": {},
    "segment_equals_window": {"segment_length": None},
    "window_of_one": {"working_memory": 1, "segment_length": 3},
    "two_lstm_layers": {"lstm_layers": 2},
    "no_lstm_no_slots": {"lstm_layers": 0, "long_short_term_memory": 0},
    "one_slot_long_segments": {"long_short_term_memory": 1, "segment_length": 9},
    "associative_slots": {"slot_memory": "associative"},
    "associative_one_slot_window_of_one": {
        "slot_memory": "associative", "long_short_term_memory": 1,
        "working_memory": 1, "segment_length": 3,
    },
}


def make_model(**overrides):
    return memzoo.BigLanguageModel(**{**TINY, **overrides})


def perturb_weights(model, seed=0, scale=0.5):
    """Random weights: properties must hold for any weights, not only fresh ones."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(0, scale, w.shape).astype(w.dtype) for w in model.get_weights()]
    )
    return model


def perturbed_model(batch_size=2, length=8, **overrides):
    model = make_model(**overrides)
    model(np.zeros((batch_size, length), np.int32))
    return perturb_weights(model)


def random_ids(batch_size, length, seed=0):
    return np.random.default_rng(seed).integers(3, 259, (batch_size, length),
                                                dtype=np.int32)


def run_in_chunks(model, ids, sizes):
    step = compiled_call(model)
    state = model.get_initial_state(ids.shape[0])
    logits, start = [], 0
    for size in sizes:
        chunk, state = step(ids[:, start : start + size], state)
        logits.append(np.asarray(chunk))
        start += size
    return np.concatenate(logits, axis=1), state


class TestBigLanguageModel(LanguageModelTests):
    model_class = memzoo.BigLanguageModel
    # One block keeps the shared checks fast; the properties use two.
    init_kwargs = {**TINY, "num_layers": 1}

    @pytest.mark.parametrize("config", EDGE_CONFIGS.values(), ids=EDGE_CONFIGS.keys())
    @pytest.mark.parametrize("batch_size", [1, 2])
    def test_one_call_equals_chunks_equals_token_by_token(self, config, batch_size):
        self.run_stateful_test(perturbed_model(**config), random_ids(batch_size, 40),
                               chunks=[(40,), (7, 13, 1, 19), (1,) * 40], atol=1e-4)


def test_seed_documents_call_works_as_written():
    model = memzoo.BigLanguageModel(
        vocab_size=10000, embedding_dim=64, hidden_dim=128, work_memory=100,
        long_short_term_memory=50,
    )
    assert model.working_memory == 100
    assert model.get_config()["working_memory"] == 100
    assert "work_memory" not in model.get_config()
    logits = model(np.zeros((1, 12), np.int32))
    assert logits.shape == (1, 12, 10000)


@pytest.mark.parametrize("config", EDGE_CONFIGS.values(), ids=EDGE_CONFIGS.keys())
def test_causality(config):
    model = perturbed_model(**config)
    length = 20
    ids = random_ids(2, length)
    call = compiled_call(model)
    state = model.get_initial_state(2)
    reference = np.asarray(call(ids, state)[0])
    for t in range(length - 1):
        changed = ids.copy()
        changed[:, t + 1 :] = random_ids(2, length - t - 1, seed=t + 1)
        logits = np.asarray(call(changed, state)[0])
        np.testing.assert_allclose(logits[:, : t + 1], reference[:, : t + 1],
                                   atol=1e-5, err_msg=f"t={t}")
        assert not np.allclose(logits[:, t + 1 :], reference[:, t + 1 :])


@pytest.mark.parametrize("window", [1, 3, 6])
@pytest.mark.parametrize("chunks", [(30,), (7, 13, 1, 9)])
def test_window_is_exactly_working_memory(window, chunks):
    model = perturbed_model(working_memory=window, long_short_term_memory=0,
                            lstm_layers=0, num_layers=1)
    ids = random_ids(1, 30)
    reference, _ = run_in_chunks(model, ids, chunks)
    for t in range(window, 30):
        outside = ids.copy()
        outside[0, t - window] = (ids[0, t - window] + 1) % 259
        logits, _ = run_in_chunks(model, outside, chunks)
        np.testing.assert_allclose(logits[0, t], reference[0, t], atol=1e-5)
        inside = ids.copy()
        inside[0, t - window + 1] = (ids[0, t - window + 1] + 1) % 259
        logits, _ = run_in_chunks(model, inside, chunks)
        assert np.abs(logits[0, t] - reference[0, t]).max() > 1e-4


@pytest.mark.parametrize("slot_memory", ["gated", "associative"])
@pytest.mark.parametrize("segment_length", [None, 3])
def test_slots_carry_a_token_from_five_windows_back(segment_length, slot_memory):
    window, length = 4, 40
    position = 2
    target = position + 5 * window
    changed_token = np.random.default_rng(1).integers(3, 259)
    ids = random_ids(1, length)
    changed = ids.copy()
    changed[0, position] = changed_token
    for slots in (2, 0):
        model = perturbed_model(working_memory=window, long_short_term_memory=slots,
                                lstm_layers=0, num_layers=2,
                                segment_length=segment_length,
                                slot_memory=slot_memory)
        for chunks in ((length,), (9, 1, 17, 13)):
            before, _ = run_in_chunks(model, ids, chunks)
            after, _ = run_in_chunks(model, changed, chunks)
            difference = np.abs(after[0, target] - before[0, target]).max()
            if slots:
                assert difference > 1e-4, chunks
            else:
                assert difference < 1e-5, chunks


def test_greedy_generation_follows_the_one_call_argmax_with_perturbed_weights():
    model = perturbed_model()
    prompt = random_ids(2, 6)
    generated = model.generate(prompt, max_new_tokens=15, sampler="greedy")
    logits, _ = run_in_chunks(model, generated, (generated.shape[1],))
    np.testing.assert_array_equal(
        generated[:, 6:], np.argmax(logits[:, 5:-1], axis=-1)
    )


@pytest.mark.slow
def test_state_has_constant_size_after_3000_tokens():
    model = make_model()
    initial = model.get_initial_state(2)
    ids = random_ids(2, 3000)
    _, state = run_in_chunks(model, ids, (500,) * 6)
    assert sorted(state) == sorted(initial)
    for name, value in initial.items():
        assert state[name].shape == value.shape, name
        assert state[name].dtype == value.dtype, name
    assert int(state["window_fill"][0]) == TINY["working_memory"] - 1
    assert int(state["segment_position"][0]) == 3000 % TINY["segment_length"]


def test_xla_compiled_call_streams_like_eager():
    model = perturbed_model()
    ids = random_ids(2, 24)
    whole = np.asarray(model(ids))
    model._use_xla_compatible_layers()
    step = tf.function(
        lambda ids, state: model(ids, initial_state=state, return_state=True),
        jit_compile=True,
    )
    state = model.get_initial_state(2)
    pieces = []
    for start in range(0, 24, 8):
        logits, state = step(ids[:, start : start + 8], state)
        pieces.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-4)


@pytest.mark.parametrize("config", EDGE_CONFIGS.values(), ids=EDGE_CONFIGS.keys())
def test_memory_weights_are_the_same_in_one_call_and_in_chunks(config):
    model = perturbed_model(**config)
    ids = random_ids(2, 40)
    logits, weights = model(ids, return_memory_weights=True)
    np.testing.assert_allclose(logits, model(ids), atol=1e-6)
    assert len(weights) == model.num_layers
    state, start, pieces = model.get_initial_state(2), 0, []
    for size in (7, 13, 1, 19):
        _, state, chunk_weights = model(
            ids[:, start : start + size], initial_state=state,
            return_state=True, return_memory_weights=True,
        )
        pieces.append(chunk_weights)
        start += size
    segment = model.segment_length or model.working_memory
    for layer, block_weights in enumerate(weights):
        attention = np.concatenate(
            [np.asarray(piece[layer]["attention"]) for piece in pieces], axis=2
        )
        assert attention.shape == (2, model.num_heads, 40, model.working_memory)
        np.testing.assert_allclose(attention, block_weights["attention"],
                                   atol=1e-5)
        if not model.long_short_term_memory:
            assert sorted(block_weights) == ["attention"]
            continue
        # Each row's gates of the segments written, whatever the chunks.
        for name in ("forget_gate", "input_gate"):
            def written(weights, row):
                gates = np.asarray(weights[name])[row]
                return gates[np.asarray(weights["written"])[row]]
            for row in range(2):
                gates = written(block_weights, row)
                assert gates.shape == (40 // segment,
                                       model.long_short_term_memory,
                                       model.hidden_dim)
                np.testing.assert_allclose(
                    np.concatenate([written(piece[layer], row)
                                    for piece in pieces]),
                    gates, atol=1e-5)
                assert 0 <= gates.min() and gates.max() <= 1


def test_state_without_slots_has_no_slot_parts():
    model = make_model(long_short_term_memory=0, lstm_layers=0, num_layers=1)
    assert sorted(model.get_initial_state(1)) == [
        "block_0_keys", "block_0_values", "segment_position", "window_fill"
    ]


@pytest.mark.parametrize(
    "argument, value, expected",
    [
        ("vocab_size", 0, "a strictly positive integer"),
        ("embedding_dim", None, "a strictly positive integer"),
        ("hidden_dim", 15, "a divisor"),
        ("working_memory", 0, "a strictly positive integer"),
        ("long_short_term_memory", -1, "an integer >= 0"),
        ("num_layers", 1.5, "an integer >= 0"),
        ("num_heads", 0, "a strictly positive integer"),
        ("num_heads", 16, "a divisor"),
        ("segment_length", 0, "a strictly positive integer"),
        ("lstm_layers", -2, "an integer >= 0"),
        ("dropout", -0.1, r"a rate in \[0, 1\)"),
        ("tokenizer", "words", "one of"),
    ],
)
def test_bad_arguments(argument, value, expected):
    name = "num_heads" if argument == "hidden_dim" else argument
    with pytest.raises(ValueError, match=f"`{name}`. Expected {expected}.*Received: {name}="):
        make_model(**{argument: value})


def test_work_memory_alias_conflict_and_missing_memory_arguments():
    with pytest.raises(ValueError, match="`work_memory`.*Received: work_memory=8, working_memory=4"):
        make_model(work_memory=8)
    config = {k: v for k, v in TINY.items() if k != "working_memory"}
    with pytest.raises(ValueError, match="`working_memory`.*Received: working_memory=None"):
        memzoo.BigLanguageModel(**config)
    config = {k: v for k, v in TINY.items() if k != "long_short_term_memory"}
    with pytest.raises(ValueError, match="`long_short_term_memory`.*Received: long_short_term_memory=None"):
        memzoo.BigLanguageModel(**config)


@pytest.mark.parametrize("preset", ["biglm_tiny", "biglm_small", "biglm_base"])
def test_presets_build(preset):
    model = memzoo.BigLanguageModel.from_preset(preset)
    logits = model(np.zeros((1, 3), np.int32))
    assert logits.shape == (1, 3, 259)


def test_mixed_bfloat16_keeps_the_slot_recurrence_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = make_model()
    model(np.zeros((1, 4), np.int32))
    memory = model.blocks[0].memory
    assert memory.compute_dtype == "float32"
    assert model.blocks[0].attention.compute_dtype == "bfloat16"


def test_gradients_stay_finite_with_large_attention_scores():
    # Large weights push the write-attention scores past exp's float32 range;
    # a masked-out overflow used to turn the gradients into NaN.
    model = make_model(segment_length=3)
    ids = random_ids(2, 20)
    model(ids)
    model.set_weights([w * 8 for w in perturb_weights(model).get_weights()])
    with tf.GradientTape() as tape:
        logits = model(ids)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            ids[:, 1:], logits[:, :-1]
        )
    gradients = tape.gradient(loss, model.trainable_weights)
    assert np.isfinite(float(loss))
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert np.all(np.isfinite(tf.convert_to_tensor(gradient))), weight.path


@pytest.mark.slow
@pytest.mark.training_outcome
def test_associative_slots_recall_pairs_from_beyond_the_window_and_no_slots_cannot(
        seed, record_property):
    # Two key-value pairs (keys from "abcd"), 16 blanks, then both keys
    # asked again: every answer lies 17 or more tokens after its pair, past
    # one block of W = 4 (reach 4). Trained 2,000 steps at Adam 1e-3 (3e-3
    # found "the set of values, not which is which" for some seeds: the
    # second answer by exclusion, the first at 0.55). Over seeds 0-4, with
    # oneDNN on and off (`make test-seeds`), on an AMD EPYC: recall 0.967-1.0
    # with 8 slots, 0.084-0.119 without; 57 s for both.
    reach = 4
    gap = 4 * reach
    accuracy = {}
    for slots, steps in ((8, 2000), (0, 300)):
        keras.utils.set_random_seed(seed)
        model = memzoo.BigLanguageModel(
            vocab_size=memzoo.data.tasks.VOCABULARY_SIZE, embedding_dim=32,
            hidden_dim=32, working_memory=reach, long_short_term_memory=slots,
            num_layers=1, num_heads=2, segment_length=4, lstm_layers=0,
            slot_memory="associative")
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      weighted_metrics=["sparse_categorical_accuracy"],
                      jit_compile=True)

        def pairs(batches, data_seed):
            return memzoo.data.tasks.multi_query_associative_recall(
                32, num_pairs=2, gap=gap, key_vocabulary="abcd",
                seed=data_seed, num_batches=batches)

        model.fit(pairs(None, seed), steps_per_epoch=steps, epochs=1, verbose=0)
        accuracy[slots] = model.evaluate(pairs(8, seed + 1000), verbose=0,
                                         return_dict=True)[
            "sparse_categorical_accuracy"]
        record_property(f"recall_M{slots}", accuracy[slots])
    assert accuracy[8] >= 0.9
    # Chance is 0.1: the twin sees neither the pairs nor their values.
    assert accuracy[0] <= 0.2


def test_associative_slots_save_load_and_old_configs_keep_gated_slots(tmp_path):
    model = perturbed_model(slot_memory="associative")
    ids = random_ids(2, 12)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.slot_memory == "associative"
    assert "block_0_pending_slots" in loaded.get_initial_state(1)
    np.testing.assert_allclose(loaded(ids), model(ids), atol=1e-5)
    # Configs saved before `slot_memory` existed (the shipped presets) have
    # no such key: they are gated slots.
    config = make_model().get_config()
    del config["slot_memory"]
    assert memzoo.BigLanguageModel.from_config(config).slot_memory == "gated"
