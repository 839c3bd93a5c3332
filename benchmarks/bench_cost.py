"""What one photo costs: hotwatch's CPU and elapsed time per frame against the decode floor.

For each kind of file (a simulated 10 MP body's camera JPEGs, uncompressed DNGs and
lossless-JPEG DNGs, and a real compressed raw: the Canon PowerShot S40's CRW files in
``../shared/data/digicam-s40``), in one run, after the kernels are loaded:

* **floor**: the fastest decode of the same bytes on one thread (simplejpeg for JPEG,
  LibRaw's unpack through rawpy for raws), CPU and elapsed per frame;
* **one thread**: hotwatch's ingest of the same files one after the other, its CPU split
  into its stages (reading the bytes, hash, EXIF, decode, evidence pass, absorb,
  detection, checkpoint, and the rest: Python glue and catalogue look-ups), so the next
  step is visible;
* **scan**: the files ingested as ``hotwatch scan`` does (the next photos decoded on the
  read-ahead threads): elapsed per frame, and CPU of all threads per frame.

The ratios (CPU against the floor's CPU, elapsed against the floor's elapsed) are what
to read: each pair is measured in the same run, files in the page cache, in turn over a
few rounds, each figure the least of its rounds (a shared machine's bursts of other work
only ever add time). The first photo of each kind is ingested untimed: it makes the body's
accumulator, as only a body's very first photo does.

Then ``hotwatch scan`` itself, as a user runs it, with ``--workers`` 1, 2 and 3 on the
JPEG + DNG roll (wall time, same defects?), and what a 100,000-photo backfill takes on 4,
8 and 16 cores, on paper from the CPU measured here.

Usage, from the repository root:
``python -m benchmarks.bench_cost [--width 3872 --height 2592 --frames 30] [--rounds 3]
[--keep DIR] [--no-workers]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

from benchmarks.bench_core import build_camera, write_ljpeg_dngs
from hotwatch.core import accumulator, confirm
from hotwatch.io import frames
from hotwatch.io.exiftool import optional_exiftool
from hotwatch.pipeline import ingest, warmup
from hotwatch.pipeline.scan import usable_cores
from hotwatch.sim import camsim
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import resolve_paths
from tests.support.shared_data import shared_data

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("read", "hash", "exif", "decode", "evidence", "absorb", "detect", "checkpoint")
CORES = (4, 8, 16)
BACKFILL = 100_000


# --------------------------------------------------------------------------- the files


def rolls(work: Path, width: int, height: int, n: int) -> dict[str, list[Path]]:
    """The files of each kind, written once into ``work`` (kept with ``--keep``)."""
    sim = work / f"roll-{width}x{height}-{n}"
    if not (sim / "complete").exists():
        cam, shots, _ = build_camera(width, height, n, seed=18)
        camsim.write_roll(cam, shots, sim)
        (sim / "complete").write_text("")
    ljpeg = work / f"ljpeg-{width}x{height}-{n}"
    if not (ljpeg / "complete").exists():
        write_ljpeg_dngs(ljpeg, width, height, n, seed=18)
    crw = shared_data("digicam-s40", "a Canon PowerShot S40's own CRW files")
    return {
        "camera JPEG": sorted(sim.glob("*.JPG")),
        "DNG, uncompressed": sorted(sim.glob("*.DNG")),
        "DNG, lossless JPEG": sorted(ljpeg.glob("*.DNG")),
        "CRW (real, 4 MP)": sorted(crw.glob("*.CRW")),
    }


# --------------------------------------------------------------------------- the floor


def floor_decode(data: bytes, jpeg: bool) -> None:
    """The fastest decode of ``data`` there is on one thread."""
    if jpeg:
        import simplejpeg

        simplejpeg.decode_jpeg(data, colorspace="RGB")
    else:
        import rawpy

        with rawpy.imread(io.BytesIO(data)) as raw:  # opens and unpacks
            raw.raw_image_visible  # noqa: B018 - the photosites, as hotwatch reads them


def floor(files: Sequence[Path]) -> tuple[float, float]:
    """CPU and elapsed seconds per frame of the floor decode (bytes already in memory)."""
    jpeg = files[0].suffix.lower() in (".jpg", ".jpeg")
    blobs = [f.read_bytes() for f in files]
    cpu, wall = time.thread_time(), time.perf_counter()
    for data in blobs:
        floor_decode(data, jpeg)
    return (time.thread_time() - cpu) / len(files), (time.perf_counter() - wall) / len(files)


# --------------------------------------------------------------------------- hotwatch


@contextmanager
def stage_clock() -> Iterator[Counter]:
    """CPU seconds of this thread in each stage of ingest, while the block runs."""
    spent: Counter = Counter()

    def timed(name: str, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.thread_time() - t

        return wrapper

    targets = [
        (frames, "read_photo", "read"),
        (ingest, "digest_bytes", "hash"),
        (ingest, "read_camera_file", "exif"),
        (frames, "read_frame", "decode"),
        (ingest.evidence, "extract", "evidence"),
        (accumulator.Accumulator, "update", "absorb"),
        (confirm, "confirm", "detect"),
        (confirm, "grow_candidates", "detect"),
        (ingest.Ingestor, "_checkpoint", "checkpoint"),
    ]
    with ExitStack() as stack:
        for owner, attr, name in targets:
            stack.enter_context(mock.patch.object(owner, attr, timed(name, getattr(owner, attr))))
        yield spent


#: exiftool, for the files exifread cannot identify (a CRW's body): set by main()
EXIFTOOL: object | None = None


def exiftool_cpu() -> float:
    """CPU seconds of the exiftool process so far (its work is a photo's cost too)."""
    proc = getattr(EXIFTOOL, "_proc", None)  # started on first use
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def primed_ingestor(home: Path, first: Path) -> ingest.Ingestor:
    """An ingestor whose body already has an accumulator (from ``first``, saved): every
    photo but a body's very first finds it so, and the timed photos are those."""
    paths = resolve_paths(str(home)).ensure()
    ing = ingest.Ingestor(paths, Catalogue(paths.catalogue), exiftool=EXIFTOOL)
    for _ in ing.ingest_files([first]):
        pass
    ing.checkpoint()
    return ing


def amortised_save(save: float, per_frame: float) -> float:
    """Seconds per frame that saving costs a long scan at ``per_frame`` seconds a frame,
    by the ingest's own rule: a save once ``CHECKPOINT_FRAMES`` photos wait and it costs
    no more than ``CHECKPOINT_SHARE`` of the time since the last one, or once
    ``CHECKPOINT_SECONDS`` passed."""
    every = max(save / ingest.CHECKPOINT_SHARE, ingest.CHECKPOINT_FRAMES * per_frame)
    every = min(every, ingest.CHECKPOINT_SECONDS)
    return save * per_frame / every


def timed_save(ing: ingest.Ingestor, *clocks: Callable[[], float]) -> list[float]:
    """Seconds of each clock that saving what ``ing`` holds took (the run's one save, at its
    end: spread per frame with :func:`amortised_save`)."""
    began = [clock() for clock in clocks]
    ing.checkpoint()
    return [clock() - t for clock, t in zip(clocks, began, strict=True)]


def one_thread(files: Sequence[Path], home: Path) -> tuple[float, Counter]:
    """hotwatch's CPU per frame, one file after the other on this thread, and its stages
    (the save at the end counted as a long scan spreads its saves: see
    :func:`amortised_save`)."""
    ing = primed_ingestor(home, files[0])
    timed = files[1:]
    with stage_clock() as spent:
        t, et = time.thread_time(), exiftool_cpu()
        for f in timed:
            ing.commit(ingest.extract(ingest.decode(ingest.identify(f, EXIFTOOL))))
        spent["exif"] += exiftool_cpu() - et
        total = time.thread_time() - t + exiftool_cpu() - et
    total -= spent.pop("checkpoint", 0.0)  # a save the run made itself: counted below
    (save,) = timed_save(ing, time.thread_time)
    n = len(timed)
    per = Counter({k: v / n for k, v in spent.items()})
    per["other"] = total / n - sum(per.values())
    per["checkpoint"] = amortised_save(save, total / n)
    per["save"] = save
    return total / n + per["checkpoint"], per


def as_scan(files: Sequence[Path], home: Path) -> tuple[float, float]:
    """CPU (all threads) and elapsed seconds per frame, ingested as ``scan`` does (the save
    at the end spread as in :func:`one_thread`; the timed photos take seconds, far from the
    ingest's own 60 s save)."""
    ing = primed_ingestor(home, files[0])
    timed = files[1:]
    cpu, wall = time.process_time() + exiftool_cpu(), time.perf_counter()
    for _ in ing.ingest_files(timed):
        pass
    cpu = (time.process_time() + exiftool_cpu() - cpu) / len(timed)
    wall = (time.perf_counter() - wall) / len(timed)
    save_cpu, save_wall = timed_save(ing, time.process_time, time.perf_counter)
    return cpu + amortised_save(save_cpu, wall), wall + amortised_save(save_wall, wall)


def warm_up(files: Sequence[Path], home: Path) -> None:
    """Load (or build) every compiled kernel, as ``scan``'s warm-up does (a few photos of a
    new body need not run detection's grouping), and fill the page cache."""
    for variant in warmup.VARIANTS:
        warmup.exercise(variant)
    for f in files:
        f.read_bytes()
    as_scan(files[:3], home)


# --------------------------------------------------------------------------- workers


def cli_scan(home: Path, files: Sequence[Path], workers: int | None) -> float:
    """Wall seconds of ``hotwatch scan`` as a user runs it (a fresh process)."""
    extra = [] if workers is None else ["--workers", str(workers)]
    cmd = [sys.executable, "-m", "hotwatch", "--home", str(home), "-q", "scan", *extra]
    t = time.perf_counter()
    subprocess.run([*cmd, *map(str, files)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def defects(home: Path) -> object:
    cmd = [sys.executable, "-m", "hotwatch", "--home", str(home), "defects", "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT).stdout)


def compare_workers(files: Sequence[Path], work: Path, rounds: int = 3) -> None:
    """Each setting ``rounds`` times, in turn (so the machine's noise hits all alike): the
    fastest wall time of each, and whether each found the same defects."""
    print(
        f"\nhotwatch scan of {len(files)} files (JPEG + DNG), each in a fresh process "
        f"(this machine: {usable_cores()} cores; --workers is never given more):"
    )
    runs = {"default": None, "--workers 1": 1, "--workers 2": 2, "--workers 3": 3}
    walls: dict[str, list[float]] = {label: [] for label in runs}
    found: dict[str, object] = {}
    for r in range(rounds):
        for label, n in runs.items():
            home = work / f"workers-{r}-{label.replace(' ', '')}"
            walls[label].append(cli_scan(home, files, n))
            found.setdefault(label, defects(home))
    base = min(walls["default"])
    for label, times in walls.items():
        same = "same defects" if found[label] == found["default"] else "DIFFERENT defects"
        print(
            f"  {label:<12} {min(times):6.1f} s (of {', '.join(f'{t:.1f}' for t in times)})  "
            f"speed {base / min(times):4.2f}x the default  ({same})"
        )


# --------------------------------------------------------------------------- report


def report(kind: str, files: Sequence[Path], work: Path, rounds: int) -> dict[str, float]:
    """Each figure is the least of ``rounds`` rounds (floor, one thread, scan, in turn): a
    shared machine's bursts of other work only ever add time."""
    warm_up(files, work / f"warm-{len(kind)}")
    runs = []
    for r in range(rounds):
        runs.append(
            (
                floor(files[1:]),  # the photos timed below
                one_thread(files, work / f"one-{kind[:3]}-{r}"),
                as_scan(files, work / f"scan-{kind[:3]}-{r}"),
            )
        )
    f_cpu, f_wall = (min(run[0][i] for run in runs) for i in (0, 1))
    h_cpu, stages = min((run[1] for run in runs), key=lambda got: got[0])
    s_cpu, s_wall = (min(run[2][i] for run in runs) for i in (0, 1))
    mp = _megapixels(files[0])
    print(f"\n{kind}: {len(files) - 1} files timed, {mp:.1f} MP, least of {rounds} rounds")
    print(f"  floor decode         CPU {1e3 * f_cpu:7.1f} ms   elapsed {1e3 * f_wall:7.1f} ms")
    print(f"  hotwatch, one thread CPU {1e3 * h_cpu:7.1f} ms   = {h_cpu / f_cpu:4.2f}x the floor")
    print(
        f"  hotwatch scan        CPU {1e3 * s_cpu:7.1f} ms   = {s_cpu / f_cpu:4.2f}x the floor "
        f"(all threads); elapsed {1e3 * s_wall:7.1f} ms = {s_wall / f_wall:4.2f}x"
    )
    split = "  ".join(f"{k} {1e3 * stages[k]:.1f}" for k in (*STAGES, "other"))
    print(f"  one thread, ms per frame: {split}")
    print(
        f"  (checkpoint: one save took {1e3 * stages['save']:.0f} ms; a long scan saves once "
        f"{ingest.CHECKPOINT_FRAMES} photos wait and the save costs at most "
        f"{100 * ingest.CHECKPOINT_SHARE:.0f} % of the time since the last, or every "
        f"{ingest.CHECKPOINT_SECONDS:.0f} s: the figure is that per frame; the body's "
        "accumulator exists, as for every photo but its first)"
    )
    own = h_cpu - stages["decode"] - stages["read"]
    print(
        f"  hotwatch's own share (all but reading and decoding): {1e3 * own:.1f} ms "
        f"= {own / f_cpu:4.2f}x the floor; its decode {stages['decode'] / f_cpu:4.2f}x the floor's"
    )
    return {"scan_cpu": s_cpu, "serial": stages["absorb"] + stages["detect"] + stages["checkpoint"]}


def backfill_table(costs: dict[str, dict[str, float]]) -> None:
    """On paper: N cores decode in parallel, one absorbs (the serial part bounds it)."""
    print(f"\n{BACKFILL:,} photos backfilled with `hotwatch scan --workers N` (hours, on paper):")
    print(f"  {'kind':<20}" + "".join(f"{n:>4} cores" for n in CORES))
    for kind, c in costs.items():
        hours = [BACKFILL * max(c["scan_cpu"] / n, c["serial"]) / 3600 for n in CORES]
        print(f"  {kind:<20}" + "".join(f"{h:10.2f}" for h in hours))


def _megapixels(path: Path) -> float:
    frame = frames.read_frame(path)
    return frame.width * frame.height / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=3872)
    parser.add_argument("--height", type=int, default=2592)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="write (and reuse) the rolls here")
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers runs")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each measure")
    args = parser.parse_args()
    global EXIFTOOL
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp, optional_exiftool() as et:
        EXIFTOOL = et
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        files = rolls(work, args.width, args.height, args.frames)
        print(f"rolls ready in {time.perf_counter() - t:.0f} s (in {work})")
        runs = Path(tempfile.mkdtemp(prefix="homes-", dir=tmp))
        costs = {kind: report(kind, fs, runs, args.rounds) for kind, fs in files.items()}
        backfill_table(costs)
        if not args.no_workers:
            both = files["camera JPEG"] + files["DNG, uncompressed"]
            compare_workers(both, runs)


if __name__ == "__main__":
    main()
