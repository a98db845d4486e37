"""The results of a search: its trials as rows, a table, a CSV file and a plot."""

import csv
import math
import os

import keras_tuner

OBJECTIVE = "val_loss"
# Result columns: (CSV name, table heading).
COLUMNS = (
    ("trial", "trial"),
    ("working_memory", "W"),
    ("long_short_term_memory", "M"),
    ("segment_length", "S"),
    ("parameters", "parameters"),
    ("val_loss", "val_loss"),
    ("bits_per_character", "bits per character"),
    ("tokens_per_second", "tokens/s"),
)
# Further settings a search can draw: (name, table heading).
OPTIONAL_HYPERPARAMETERS = (
    ("hidden_dim", "width"),
    ("num_layers", "depth"),
    ("learning_rate", "learning rate"),
)


def format_results(rows):
    """The results of `tune()` as the lines of a table, for printing.

    Example:

    ```python
    row = {"trial": "0", "working_memory": 32, "long_short_term_memory": 8,
           "segment_length": 32, "parameters": 266403, "val_loss": 1.87,
           "bits_per_character": 2.70, "tokens_per_second": 15766.0}
    print("\\n".join(memzoo.tuning.format_results([row])))
    ```
    """
    columns = list(COLUMNS) + [
        (name, heading) for name, heading in OPTIONAL_HYPERPARAMETERS
        if any(name in row for row in rows)
    ]
    table = [[heading for _, heading in columns]]
    for row in rows:
        table.append([format_value(name, row.get(name)) for name, _ in columns])
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths))
        ).rstrip()
        for line in table
    ]


def completed_trials(oracle):
    """The finished trials' rows, best (lowest val_loss) first."""
    rows = []
    for trial in oracle.trials.values():
        if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
            continue
        values = trial.hyperparameters.values
        working_memory = round(values["working_memory"])
        row = {
            "trial": trial.trial_id,
            "working_memory": working_memory,
            "long_short_term_memory": values["long_short_term_memory"],
            "segment_length": values.get("segment_length", working_memory),
            "parameters": int(trial.metrics.get_last_value("parameters")),
            "val_loss": trial.metrics.get_last_value(OBJECTIVE),
            "bits_per_character": trial.metrics.get_last_value("val_bits_per_character"),
            "tokens_per_second": trial.metrics.get_last_value("tokens_per_second"),
        }
        for name, _ in OPTIONAL_HYPERPARAMETERS:
            if name in values:
                row[name] = values[name]
        rows.append(row)
    return sorted(rows, key=lambda row: (row["val_loss"], row["trial"]))


def format_value(name, value):
    """A result as the table and the trial lines show it."""
    if value is None:
        return ""
    if name in ("val_loss", "bits_per_character"):
        return f"{value:.4f}" if name == "val_loss" else f"{value:.3f}"
    if name in ("parameters", "tokens_per_second"):
        return f"{value:,.0f}"
    if name == "learning_rate":
        return f"{value:.2e}"
    return str(value)


def write_csv(rows, path):
    """Writes the rows to a CSV file; a reader never sees half of one."""
    names = list(rows[0])
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


def plot_results(rows, path):
    """val_loss against W, one line per M, into a PNG (matplotlib's Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for memory in sorted({row["long_short_term_memory"] for row in rows}):
        # Trials that differ in other settings: the best at each W.
        best = {}
        for row in rows:
            if row["long_short_term_memory"] == memory:
                width = row["working_memory"]
                best[width] = min(best.get(width, math.inf), row["val_loss"])
        widths = sorted(best)
        axes.plot(widths, [best[w] for w in widths], marker="o", label=f"M = {memory}")
    axes.set_xscale("log", base=2)
    widths = sorted({row["working_memory"] for row in rows})
    axes.set_xticks(widths, [str(width) for width in widths])
    axes.minorticks_off()
    axes.set_xlabel("working memory W (tokens)")
    axes.set_ylabel("val_loss (nats per token)")
    axes.set_title("Search over memory sizes")
    axes.legend(title="long-short-term memory")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(f"{path}.tmp.png")
    os.replace(f"{path}.tmp.png", path)
