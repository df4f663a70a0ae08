"""Models the search process holds for the end of the search, in memory or spilled to a temporary folder.

On large data (trials on rungs) the holdout models of the best trials are the final models: an ensemble needs no
refit. Held in the search process's memory they sat beside every later trial process: an extra-trees model of
137 MB pickled takes 268 MB once loaded, and the search process of a 600 s fit grew from 580 MB to 890 MB. Spilled
models are written to disk as they arrive and read back only when the final model is built, after the trials.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import cloudpickle


class SpilledModel:
    """A trial's fitted model that its trial process wrote to ``path`` (a file of :meth:`HeldModels.new_path`)
    instead of sending it back: the search process reads it only if it needs it in memory (:meth:`load`), holds it
    on disk by its path (:meth:`HeldModels.put`), or removes it (:meth:`discard`). Loading an extra-trees model of
    183 MB to write it back to disk took the search process from 232 to 604 MB for a moment."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> Any:
        """The model (its file is removed: the model is in memory from now on)."""
        with open(self.path, "rb") as f:
            model = pickle.load(f)
        self.discard()
        return model

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.path)


def in_memory(model: Any) -> Any:
    """``model``, read from its file if its trial process spilled it."""
    return model.load() if isinstance(model, SpilledModel) else model


class HeldModels(MutableMapping[int, Any]):
    """Trial number -> fitted model; models put with ``spill=True`` live in a temporary folder (removed with the
    store) and are read back at each lookup. A plain assignment keeps the model in memory."""

    def __init__(self) -> None:
        self._memory: dict[int, Any] = {}
        self._spilled: dict[int, str] = {}
        self._folder: str | None = None

    @property
    def spilled_bytes(self) -> Mapping[int, int]:
        """Trial number -> bytes of its spilled model's file (about what the model takes once read back, half of a
        forest's); models held in memory are not in it."""
        return {number: os.path.getsize(path) for number, path in self._spilled.items()}

    def new_path(self, number: int) -> str:
        """A new name in the store's folder for trial ``number``'s model, for its trial process to write (a
        :class:`SpilledModel`); a file never put (a trial stopped while writing it) goes with the store."""
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="automl-held-")
            weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        return os.path.join(self._folder, f"trial-{number}-{uuid.uuid4().hex[:12]}.pkl")

    def put(self, number: int, model: Any, spill: bool) -> None:
        """Hold ``model`` for trial ``number``, on disk when ``spill`` (a :class:`SpilledModel` of this store's
        folder stays where its trial process wrote it)."""
        if number in self:  # not self.pop: that would read a spilled model back from disk only to drop it
            del self[number]
        if isinstance(model, SpilledModel) and spill and os.path.dirname(model.path) == self._folder:
            self._spilled[number] = model.path
            return
        model = in_memory(model)
        if not spill:
            self._memory[number] = model
            return
        path = self.new_path(number)
        with open(path, "wb") as f:
            cloudpickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)  # as trial processes send them
        self._spilled[number] = path

    def __setitem__(self, number: int, model: Any) -> None:
        self.put(number, model, spill=False)

    def __getitem__(self, number: int) -> Any:
        if number in self._memory:
            return self._memory[number]
        with open(self._spilled[number], "rb") as f:
            return pickle.load(f)

    def __delitem__(self, number: int) -> None:
        if number in self._memory:
            del self._memory[number]
            return
        os.remove(self._spilled.pop(number))

    def __iter__(self) -> Iterator[int]:
        yield from self._memory
        yield from self._spilled

    def __len__(self) -> int:
        return len(self._memory) + len(self._spilled)

    def __contains__(self, number: object) -> bool:
        return number in self._memory or number in self._spilled
