"""How ``verbose`` is tied to :mod:`logging`: the loggers a fit's progress and the engine's log go to, and the
context that turns them up for the duration of a fit (used by :class:`automl.AutoML` and its synthesis fits)."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

log = logging.getLogger("automl")
progress_log = logging.getLogger("automl.progress")  # what verbose=1 shows: the task, the data, each trial


@contextlib.contextmanager
def engine_log(verbose: int) -> Iterator[None]:
    """For the duration: with ``verbose >= 1`` the ``"automl.progress"`` logger at INFO, with ``verbose >= 2`` all
    of ``"automl"``; with a handler on standard error when logging is not set up (no handler on that logger or
    above it: a configured root logger, as the CLI's ``basicConfig``, gets the records instead). With ``verbose=0``
    nothing changes."""
    if verbose < 1:
        yield
        return
    logger = log if verbose >= 2 else progress_log
    before = logger.level
    handler = None if logger.hasHandlers() else logging.StreamHandler()
    if handler is not None:
        handler.setFormatter(logging.Formatter("automl: %(message)s" if verbose >= 2 else "%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(before)
        if handler is not None:
            logger.removeHandler(handler)
