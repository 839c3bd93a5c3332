"""What numba has compiled already, and compiling beside another process safely.

The kernels are compiled by numba on first use and kept in its cache (``cache=True``):
``__pycache__/*.nbi`` (an index per function) and ``*.nbc`` (one per compiled signature)
beside the source when that folder is writable, else in ``$NUMBA_CACHE_DIR``, else in the
user's cache folder (``~/.cache/numba``). A first run compiles them (15-25 s on two cores),
later runs load them (a fraction of a second). Two things help the first run, and both
lean on numba's documented event API and, guardedly, on the cache's internals:

* :func:`from_cache_only` makes any compilation raise :class:`NotCompiled` instead, so a
  caller can load what is cached and learn, at once, what is not;
* :func:`serialised_cache_io` makes one process's cache reads and writes wait for
  another's: numba's cache is not safe for two processes writing the same function's
  index (a lost update can pair an index entry with another signature's code), and the
  warm-up compiles two signatures of the same functions in two processes at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from numba.core import event

COMPILE = "numba:compile"


class NotCompiled(Exception):
    """A kernel is not in numba's cache; nothing was compiled."""


class _Refuse(event.Listener):
    def __init__(self, applies: Callable[[], bool]) -> None:
        self.applies = applies

    def on_start(self, ev: event.Event) -> None:
        if self.applies():
            dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
            name = getattr(getattr(dispatcher, "py_func", None), "__qualname__", "a kernel")
            raise NotCompiled(f"{name} is not compiled for {ev.data.get('args')}")

    def on_end(self, ev: event.Event) -> None:
        pass


@contextmanager
def from_cache_only(applies: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """Within the block, kernels load from numba's cache or raise :class:`NotCompiled`.

    ``applies`` says whether a compilation about to start is to be refused (the listener is
    process-wide: a caller running this on one thread passes a test of the thread).
    """
    with event.install_listener(COMPILE, _Refuse(applies)):
        yield


def _cache_file() -> type | None:
    """numba's class that reads and writes a function's cache index and code, if this numba
    has it as hotwatch knows it."""
    try:
        from numba.core.caching import IndexDataCacheFile
    except ImportError:
        return None
    if not all(callable(getattr(IndexDataCacheFile, n, None)) for n in ("save", "load")):
        return None
    return IndexDataCacheFile


def can_serialise_cache_io() -> bool:
    """Can :func:`serialised_cache_io` work with this numba?"""
    return _cache_file() is not None


def serialised_cache_io(lock: Callable[[], AbstractContextManager[object]]) -> bool:
    """Make every read and write of numba's cache run inside ``lock()``, in this process.

    Returns False (and changes nothing) if this numba keeps its cache otherwise, so that the
    caller can fall back to compiling in one process.
    """
    IndexDataCacheFile = _cache_file()
    if IndexDataCacheFile is None:
        return False
    if getattr(IndexDataCacheFile, "_hotwatch_serialised", False):
        return True
    save, load = IndexDataCacheFile.save, IndexDataCacheFile.load

    def locked_save(self: object, key: object, data: object) -> None:
        with lock():
            save(self, key, data)

    def locked_load(self: object, key: object) -> object:
        with lock():
            return load(self, key)

    IndexDataCacheFile.save = locked_save
    IndexDataCacheFile.load = locked_load
    IndexDataCacheFile._hotwatch_serialised = True
    return True
