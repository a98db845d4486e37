"""Argument checks whose errors name the argument, the value and what was expected."""

import numbers


def check_integer(name, value, minimum=1):
    """Returns `value` as an int if it is an integer >= `minimum`, else raises."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        expected = (
            "a strictly positive integer" if minimum == 1
            else f"an integer >= {minimum}"
        )
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected {expected}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def check_rate(name, value):
    """Returns `value` as a float if it is in [0, 1), else raises."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 <= value < 1
    ):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a rate in [0, 1). "
            f"Received: {name}={value!r}"
        )
    return float(value)
