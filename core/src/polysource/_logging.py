"""A structlog logger made on first use.

``import structlog`` loads its console renderer and, with rich installed, rich: more than a
process that never logs, or logs only on an error path, should pay at ``import polysource``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LazyLogger"]


class LazyLogger:
    """A structlog logger that imports structlog and binds itself on its first use.

    Args:
        name: The logger's name.
    """

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, method: str) -> Any:
        logger = self._logger
        if logger is None:
            import structlog

            logger = self._logger = structlog.get_logger(self._name)
        return getattr(logger, method)
