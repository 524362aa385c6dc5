"""Image-pull progress: per-layer byte counts folded from the engine's pull events (pure), drawn as rich
progress bars on a terminal and not at all otherwise (no escape codes in logs or pipes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolhive_py.runtime.images import PullProgress

__all__ = ["LayerState", "PullState", "pull_display"]


@dataclass
class LayerState:
    status: str = ""
    current: int = 0
    total: int | None = None


@dataclass
class PullState:
    """Layers by id, in the order the engine first mentioned them."""

    layers: dict[str, LayerState] = field(default_factory=dict)

    def apply(self, event: PullProgress) -> LayerState | None:
        if not event.layer or event.status.startswith(("Pulling from", "Digest:", "Status:")):
            return None
        layer = self.layers.setdefault(event.layer, LayerState())
        layer.status = event.status
        if event.total:
            layer.total = event.total
        if event.current is not None:
            layer.current = event.current
        if event.status in ("Download complete", "Pull complete", "Already exists") and layer.total:
            layer.current = layer.total
        return layer

    @property
    def done(self) -> int:
        return sum(1 for layer in self.layers.values() if layer.status in ("Pull complete", "Already exists"))


@contextmanager
def pull_display(enabled: bool) -> Iterator[Callable[[PullProgress], None] | None]:
    """A progress callback drawing bars on stderr, or None when not on a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from toolhive_py.cli.output import err_console

    state = PullState()
    tasks: dict[str, Any] = {}
    bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err_console(),
                    transient=True)

    def on_event(event: PullProgress) -> None:
        # Drawn only while a pull runs: a live display left on would fight later prompts for the terminal.
        if event.status.startswith("Status:"):
            bars.stop()
            return
        layer = state.apply(event)
        if layer is None:
            return
        if not bars.live.is_started:
            bars.start()
        if event.layer not in tasks:
            tasks[event.layer] = bars.add_task(event.layer[:12], total=layer.total)
        bars.update(tasks[event.layer], description=f"{event.layer[:12]} {layer.status}", total=layer.total,
                    completed=layer.current)

    try:
        yield on_event
    finally:
        bars.stop()
