"""Process logging: one line per event on stderr, configured once by each entry point."""

from __future__ import annotations

import logging
import sys

from scimgate.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Plain key=value lines on stderr at the configured level (workers call this too)."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
        force=True,
    )
