"""The knobs of a Synchronize run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scimgate.settings import Settings


@dataclass(frozen=True)
class SyncOptions:
    """Knobs of a run (from Settings)."""

    batch_size: int = 1000
    stale_after: float = 120.0  # seconds without a heartbeat before a run counts as dead
    sample_items: int = 200  # items a dry run returns for preview
    # Told each phase's name and wall-clock seconds as it ends (a phase may contain
    # another: the team pass, its memberships): how the benchmark times the passes.
    observe: Callable[[str, float], None] | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncOptions:
        """The knobs as configured (SCIMGATE_SYNC_*)."""
        return cls(batch_size=settings.sync_batch_size, stale_after=settings.sync_stale_seconds)
