"""Rich tables whose identifier columns are never cut: the names a user must type stay whole at
any terminal width, and the other columns fold or wrap instead."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table


def listing(title: str, identifiers: Sequence[str], others: Sequence[str]) -> Table:
    """A table with ``identifiers`` first (never wrapped or truncated) then ``others``."""
    table = Table(title=title, title_justify="left")
    for header in identifiers:
        table.add_column(header, no_wrap=True, overflow="fold")
    for header in others:
        table.add_column(header, overflow="fold")
    return table


def add_rows(table: Table, rows: Sequence[Sequence[str]], identifiers: int) -> None:
    """Add ``rows``; the first ``identifiers`` columns get the width of their longest value."""
    for index in range(identifiers):
        longest = max(
            (len(line) for row in rows for line in str(row[index]).splitlines()), default=0
        )
        column = table.columns[index]
        column.min_width = max(longest, len(str(column.header)))
    for row in rows:
        table.add_row(*row)
