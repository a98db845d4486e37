"""Presets of `SequenceRegressor` for the real series of `memzoo.data.series`."""

PRESETS = {
    "co2_lstm": {
        "data": "co2",
        "sequence_length": 104,
        "description": (
            "The seeds' LSTM(50) for weekly Mauna Loa CO2: forecasts the next "
            "4 weeks from a window of 104 (memzoo.data.series 'co2')."
        ),
        "config": {
            "units": 50,
            "num_layers": 1,
            "output_steps": 4,
            # CO2 climbs out of the range of levels it was trained on; its
            # weekly changes do not.
            "differencing": True,
        },
    },
    "sunspots_lstm": {
        "data": "sunspots",
        "sequence_length": 22,
        "description": (
            "The seeds' LSTM(50) for yearly sunspot numbers: forecasts the "
            "next year from a window of 22 (memzoo.data.series 'sunspots')."
        ),
        "config": {
            "units": 50,
            "num_layers": 1,
            "output_steps": 1,
        },
    },
}
