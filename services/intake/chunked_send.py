"""Send a long list in chunks behind a progress bar (``produce``, ``import``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

T = TypeVar("T")


async def send_in_chunks(
    items: Sequence[T],
    send: Callable[[Sequence[T]], Awaitable[object]],
    *,
    label: str,
    console: Console,
    chunk: int = 2000,
) -> None:
    """``send`` must return only once its chunk is acknowledged (or raise)."""
    with Progress(
        label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as progress:
        task = progress.add_task(label, total=len(items))
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            await send(part)
            progress.update(task, advance=len(part))
