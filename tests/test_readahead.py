"""Reading ahead on a thread: order, bounds, early stops, errors, and the same result
as reading one photo after the other."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from hotwatch.core.errors import DiskFull
from hotwatch.io.readahead import read_ahead
from hotwatch.pipeline.ingest import Ingestor, prepare
from hotwatch.state import store
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import resolve_paths


@pytest.mark.parametrize("threads", [1, 2])
def test_results_come_in_order_each_item_read_once(threads):
    seen: list[int] = []

    def read(i: int) -> int:
        time.sleep(0.002 * (3 - i % 3))  # reads of uneven length: later ones finish first
        seen.append(i)
        return i * i

    got = list(read_ahead(range(20), read, depth=2, threads=threads))
    assert got == [i * i for i in range(20)]
    assert sorted(seen) == list(range(20))


@pytest.mark.parametrize(("depth", "threads"), [(1, 1), (2, 1), (2, 2)])
def test_reads_overlap_the_consumer_but_stay_within_depth(depth, threads):
    started: list[int] = []
    lock = threading.Lock()

    def read(i: int) -> int:
        with lock:
            started.append(i)
        return i

    for i in read_ahead(range(12), read, depth=depth, threads=threads):
        if i + 1 < 12:  # the next item is read while this one is being consumed
            deadline = time.monotonic() + 5
            while i + 1 not in started and time.monotonic() < deadline:
                time.sleep(0.001)
            assert i + 1 in started
        time.sleep(0.01)  # a slow consumer: the reader may not run further ahead
        with lock:
            assert max(started) <= i + depth


def test_closing_early_reads_nothing_more_and_waits_for_the_read_under_way():
    started, finished = [], []

    def read(i: int) -> int:
        started.append(i)
        time.sleep(0.05)
        finished.append(i)
        return i

    results = read_ahead(range(100), read, depth=2, threads=2)
    assert next(results) == 0
    results.close()
    assert sorted(started) == sorted(finished)  # no read is left running after close
    assert len(started) <= 4


def test_an_error_in_a_read_reaches_the_consumer_at_that_item():
    def read(i: int) -> int:
        if i == 3:
            raise MemoryError("no room")
        return i

    got = []
    with pytest.raises(MemoryError):
        for i in read_ahead(range(10), read):
            got.append(i)
    assert got == [0, 1, 2]


def test_ingesting_with_read_ahead_equals_one_photo_after_the_other(roll, tmp_path):
    files = sorted(roll.folder.glob("*.JPG"))[:40] + sorted(roll.folder.glob("*.DNG"))[:40]
    files.append(tmp_path / "missing.JPG")
    (tmp_path / "broken.JPG").write_bytes(b"\xff\xd8 not a jpeg")
    files.append(tmp_path / "broken.JPG")
    files.append(files[0])  # given twice: taken once
    files.append(files[1].parent / "sub" / ".." / files[1].name)  # and under another spelling

    def run(name: str, pipelined: bool) -> tuple[Path, list]:
        paths = resolve_paths(str(tmp_path / name)).ensure()
        with Catalogue(paths.catalogue) as cat:
            ing = Ingestor(paths, cat)
            if pipelined:
                outs = list(ing.ingest_files(files))
            else:
                once = dict.fromkeys(Path(os.path.abspath(f)) for f in files)
                outs = [ing.triage(f) or ing.commit(prepare(f)) for f in once]
            ing.close()
            rows = sorted((f.path, f.status, f.reason, f.digest) for f in cat.files())
            rows += sorted((a.slug, a.frames) for a in cat.accumulators())
        got = [(o.path.name, o.status, o.reason, o.kind, o.new_defects) for o in outs]
        return paths.accumulators, [got, rows]

    seq_accs, seq = run("one-by-one", pipelined=False)
    ahead_accs, ahead = run("read-ahead", pipelined=True)
    assert ahead == seq
    names = sorted(p.name for p in seq_accs.glob(f"*{store.SUFFIX}"))
    assert names == sorted(p.name for p in ahead_accs.glob(f"*{store.SUFFIX}"))
    assert len(names) == 2  # JPEG and RAW
    for name in names:
        a = store.load(seq_accs / name).state()
        b = store.load(ahead_accs / name).state()
        assert a.keys() == b.keys()
        for key in a:
            assert (a[key] == b[key]).all(), key


def test_the_readers_stop_when_absorbing_fails(roll, tmp_path, monkeypatch):
    """An error while absorbing (a full disk, say) leaves no reader behind, and the
    interpreter's switch interval as it was."""
    files = sorted(roll.folder.glob("*.DNG"))[:12]
    interval = sys.getswitchinterval()
    paths = resolve_paths(str(tmp_path / "home")).ensure()
    with Catalogue(paths.catalogue) as cat:
        ing = Ingestor(paths, cat)
        real, seen = ing.commit, []

        def failing(prep):
            seen.append(prep.path)
            if len(seen) == 3:
                raise DiskFull(paths.data)
            return real(prep)

        monkeypatch.setattr(ing, "commit", failing)
        with pytest.raises(DiskFull):
            for _ in ing.ingest_files(files):
                pass
        readers = [t for t in threading.enumerate() if t.name.startswith("hotwatch-read")]
        assert readers == [] and sys.getswitchinterval() == interval
