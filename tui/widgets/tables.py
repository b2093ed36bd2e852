"""Small helpers for the console's DataTables: the row under the cursor, columns from a spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable

# A DataTable cell's padding (one each side) and the scrollbar and borders' allowance.
CELL_PADDING = 2
EDGE = 2


def add_columns(table: DataTable[Any], columns: Sequence[tuple[str, int]],
                fill_to: int | None = None) -> None:
    """Columns keyed by their names, each `width` cells wide (so 80 columns can be planned);
    with `fill_to` (the screen's width), the last column takes what the others leave, so
    nothing scrolls sideways at 80 columns and a large terminal shows more of it."""
    last = len(columns) - 1
    for index, (name, width) in enumerate(columns):
        if index == last and fill_to is not None:
            used = sum(w + CELL_PADDING for _, w in columns[:-1]) + CELL_PADDING + EDGE
            width = max(1, fill_to - used)
        table.add_column(name, key=name, width=width)


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor; None when the table is empty."""
    if not table.row_count:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    return None if key.value is None else str(key.value)
