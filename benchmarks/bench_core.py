"""Core benchmark: detection quality, speed and memory on a simulated body.

Prints, for a simulated camera roll (default: 10 MP, 300 frames, JPEG + DNG):

* seconds per frame to decode alone and to ingest as ``hotwatch scan`` does
  (decode + evidence + accumulate + catalogue, the next photos decoded on
  two threads meanwhile), and their ratio, per frame kind, in one run: JPEG,
  uncompressed DNG (the cheapest raw to decode, so the hardest ratio) and the
  same raws as lossless-JPEG DNGs (as cameras and Adobe's converter write them);
  elapsed (wall) time, and the CPU time of all threads (the work done);
* peak memory (max RSS) of the ingest process;
* accumulator bytes per pixel on disk;
* precision / recall / onset error of hotwatch against the truth, beside the
  seed method (lowest Welford M2, given the true number of defects) and
  ``rawpy.enhance.find_bad_pixels`` on the same frames.

Truth counted for recall: the planted defects that stand >= 3x above local
noise (camsim's ``visibility``) in at least 5% of the scenes (a burst or a
tripod run is one scene).

Usage, from the repository root:
``python -m benchmarks.bench_core [--width 3872 --height 2592 --frames 300] [--cfa XTRANS]
[--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotwatch.core.detect import closest_call
from hotwatch.io import frames
from hotwatch.sim import camsim
from hotwatch.sim.scoring import score
from hotwatch.state import store

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class JpegStyle:
    """How the body writes its JPEGs: cameras differ in both, and both change what a
    defect looks like (chroma subsampling spreads it over a wider cell, a lower quality
    rings more around it)."""

    subsampling: str = "4:2:2"  #: as most cameras write; 4:2:0 as phones and some cameras do
    quality: int = 92  #: a camera's "fine"; "normal" is nearer 80


def build_camera(
    width: int,
    height: int,
    n: int,
    seed: int,
    dng_compression: str = "none",
    style: JpegStyle = JpegStyle(),
    cfa: str = "RGGB",
):
    """The body: the hard cases (edges, pairs, faint night-only hot pixels, emerging ones)
    and the plain kinds, planted on purpose (camsim.plant_hard_cases). Its DNGs keep
    their capture time, exposure and ISO in IFD0, as pidng (Raspberry Pi cameras) writes
    them, not where most readers look; its JPEGs keep them in the EXIF IFD."""
    sensor = camsim.SensorSpec(width=width, height=height, cfa=cfa)
    shots = camsim.plan_roll(n, seed=seed)
    defects = camsim.plant_hard_cases(sensor, seed, n_shots=n)
    cam = camsim.Camera(
        sensor,
        defects,
        make="NIKON CORPORATION",
        model="NIKON D80",
        serial="3012345",
        seed=seed,
        dng_compression=dng_compression,
        dng_shot_tags="ifd0",
        subsampling=style.subsampling,
        jpeg_quality=style.quality,
    )
    return cam, shots, defects


def make_roll(
    folder: Path,
    width: int,
    height: int,
    n: int,
    seed: int,
    style: JpegStyle = JpegStyle(),
    cfa: str = "RGGB",
) -> dict:
    cam, shots, defects = build_camera(width, height, n, seed, style=style, cfa=cfa)
    t0 = time.perf_counter()
    camsim.write_roll(cam, shots, folder)
    info = {
        "cfa": cfa,
        "all_truth": camsim.ground_truth(defects, shots),
        "times": [s.taken_at.isoformat() for s in shots],
        "write_seconds": time.perf_counter() - t0,
    }
    vis = np.array([cam.visibility(s) for s in shots])  # (frames, defects)
    info["truth"] = qualifying(info["all_truth"], vis, "first_visible_index", scenes(shots))
    return info


def scenes(shots) -> np.ndarray:
    """Each frame's scene: a burst or tripod run is one scene, however many its frames
    (repeats of one scene are not independent chances to show a defect)."""
    ids = [("run", s.burst) if s.burst is not None else ("one", s.index) for s in shots]
    return np.unique([str(k) for k in ids], return_inverse=True)[1]


def qualifying(truth: list[dict], vis: np.ndarray, field: str, scene: np.ndarray) -> list[dict]:
    """The defects that stand >= 3x above local noise in >= 5% of the scenes (a run of
    repeats counts once), each with the first frame that shows it (onsets are dated
    against it) under ``field``."""
    out = []
    n_scenes = scene.max() + 1
    for j, t in enumerate(truth):
        shows = np.flatnonzero(vis[:, j] >= 3)
        if np.unique(scene[shows]).size >= 0.05 * n_scenes:
            out.append({**t, field: int(shows[0]) if shows.size else t["onset_index"]})
    return out


def jpeg_truth(
    info: dict, width: int, height: int, n: int, seed: int, style: JpegStyle = JpegStyle()
) -> list[dict]:
    """The defects the camera JPEGs show (camsim's ``jpeg_visibility``), computed once."""
    if "jpeg_truth" not in info:
        cfa = info.get("cfa", "RGGB")
        cam, shots, _ = build_camera(width, height, n, seed, style=style, cfa=cfa)
        vis = np.array([cam.jpeg_visibility(s) for s in shots])
        info["jpeg_truth"] = qualifying(info["all_truth"], vis, "first_visible_jpeg", scenes(shots))
    return info["jpeg_truth"]


def write_ljpeg_dngs(
    folder: Path, width: int, height: int, n: int, seed: int, cfa: str = "RGGB"
) -> None:
    """The same roll's raws as lossless-JPEG DNGs, the way cameras write them."""
    cam, shots, _ = build_camera(width, height, n, seed, dng_compression="ljpeg", cfa=cfa)
    camsim.write_roll(cam, shots, folder, formats=("dng",))
    (folder / "complete").write_text("")


def ingest_in_child(home: Path, files: list[Path], chunk: int = 25) -> dict:
    """Decode alone and ingest the files, a chunk at a time in turn, in a fresh process.

    Per chunk of ``chunk`` files: their bytes are read once (untimed, so both
    start from the page cache), then each is decoded alone, one after the other,
    then the chunk is ingested the way ``hotwatch scan`` ingests (digest, EXIF,
    decode, evidence, accumulate, detect, catalogue, the checkpoints included;
    the next files decoded on two threads while this one is absorbed). Taking the two
    in turn exposes both to the same machine noise: the ratio is what counts.
    Wall and CPU seconds per frame (CPU: all threads; the work done); peak
    memory is VmHWM from /proc (ru_maxrss would carry over the parent's peak
    across exec).
    """
    code = f"""
import json, sys, time
from pathlib import Path
from hotwatch.io import frames
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import resolve_paths
from hotwatch.pipeline.ingest import Ingestor, prepare
paths = resolve_paths({str(home)!r}).ensure()
files = [Path(p) for p in json.loads(sys.stdin.read())]
cat = Catalogue(paths.catalogue)
ing = Ingestor(paths, cat)
frames.read_frame(files[0]); prepare(files[0])  # load the compiled kernels once
wall = {{"decode": 0.0, "ingest": 0.0}}
cpu = {{"decode": 0.0, "ingest": 0.0}}
def timed(name, fn):
    w, c = time.perf_counter(), time.process_time()
    fn()
    wall[name] += time.perf_counter() - w
    cpu[name] += time.process_time() - c
def decode(f):
    try:
        frames.read_frame(f)
    except Exception:
        pass  # e.g. a blown raw of one value: skipped by both
for i in range(0, len(files), {chunk}):
    part = files[i : i + {chunk}]
    for f in part:
        f.read_bytes()
    timed("decode", lambda: [decode(f) for f in part])
    timed("ingest", lambda: list(ing.ingest_files(part)))
timed("ingest", ing.checkpoint)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
n = len(files)
print(json.dumps({{"wall": {{k: v / n for k, v in wall.items()}},
                  "cpu": {{k: v / n for k, v in cpu.items()}}, "maxrss_mb": int(hwm) / 1024}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([str(f) for f in files]),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode:
        raise SystemExit(f"ingest failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def clean_body(
    work: Path, size: str, n: int, seed: int, reuse: bool, style: JpegStyle = JpegStyle()
) -> None:
    """A body without defects, ``n`` frames of a realistic roll as JPEG and DNG: every report
    hotwatch makes on it is a false alarm."""
    width, height = (int(v) for v in size.split("x"))
    look = "" if style == JpegStyle() else f"-{style.subsampling.replace(':', '')}-q{style.quality}"
    folder = work / f"clean-{size}-{n}-{seed}{look}"
    if not (reuse and (folder / "complete").exists()):
        shutil.rmtree(folder, ignore_errors=True)
        cam = camsim.Camera(
            camsim.SensorSpec(width=width, height=height),
            (),
            "Canon",
            "Canon EOS 7D",
            "77",
            seed,
            subsampling=style.subsampling,
            jpeg_quality=style.quality,
        )
        camsim.write_roll(cam, camsim.plan_roll(n, seed=seed), folder)
        (folder / "complete").write_text("")
    took, reports, calls = scan_clean(folder, work / "home-clean")
    # a scan's time per photo must not grow with the photos a body has absorbed
    print(
        f"\nclean body, {n} frames of {size} (JPEG and DNG), scanned in {took:.0f} s"
        f" ({1000 * took / (2 * n):.1f} ms a file, start-up included): reports",
        end="",
    )
    for kind, found in reports.items():
        print(f"  {kind}: {len(found)} {found if found else ''}", end="")
    print()
    # how near it came: the highest score any pixel reached, against the bar
    for kind, (top, bar) in calls.items():
        print(f"  {kind}: highest score {top:.1f}, the bar {bar:.1f}")


def scan_clean(
    folder: Path, home: Path
) -> tuple[float, dict[str, list[tuple]], dict[str, tuple[float, float]]]:
    """``hotwatch scan`` of a clean body's photos as a user runs it, into a fresh ``home``:
    seconds taken, the reports per frame kind (each a false alarm: (x, y, kind)), and per
    kind the closest call (the highest score any pixel reached, and the bar)."""
    shutil.rmtree(home, ignore_errors=True)
    run = [sys.executable, "-m", "hotwatch", "--home", str(home)]
    began = time.perf_counter()
    subprocess.run([*run, "scan", str(folder)], check=True, cwd=ROOT, capture_output=True)
    took = time.perf_counter() - began
    out = subprocess.run([*run, "defects", "--json"], check=True, cwd=ROOT, capture_output=True)
    reports = {
        cam["frame"]: [(d["x"], d["y"], d["kind"]) for d in cam["defects"]]
        for cam in json.loads(out.stdout)["cameras"]
    }
    calls = {}
    for path in sorted((home / "accumulators").glob("*.hwacc")):
        acc = store.load(path)
        if acc is not None:
            calls[acc.kind] = closest_call(acc)
    return took, reports, calls


def _as_local(t):
    """A capture time as a file without its UTC offset gives it: the camera's wall clock,
    read as this computer's local time."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t.replace(tzinfo=None).timestamp(), UTC)


def report(s, truth: list[dict]) -> None:
    """A score: the summary, recall per category and kinds, and what went wrong."""
    print(f"    {s.summary()}")
    print(s.table())
    if s.wrong_kind:
        print(f"    kind disagreements (x, y, found, planted): {s.wrong_kind}")
    late = [e for e in s.onset_details if abs(e[2]) > 2]
    if late:
        print(f"    onsets off by more than 2 frames (x, y, frames): {late}")
    if s.missed:
        what = {(t["x"], t["y"]): f"{t['kind']}/{t['category']}" for t in truth}
        print(f"    missed (x, y, kind/category): {[(*m, what[m]) for m in s.missed]}")
    if s.false_positives:
        print(f"    false reports (x, y): {s.false_positives}")


def seed_method(files: list[Path], k: int) -> list[dict]:
    """The 2011 script: Welford M2 per subpixel, the k lowest (x, y)."""
    n = mean = m2 = None
    for f in files:
        pix = frames.read_frame(f).data.astype(np.float64)
        if n is None:
            n, mean, m2 = 0, np.zeros_like(pix), np.zeros_like(pix)
        n += 1
        delta = pix - mean
        mean += delta / n
        m2 += delta * (pix - mean)
    flat = m2.reshape(m2.shape[0], m2.shape[1], -1).min(axis=2).reshape(-1)
    order = np.argsort(flat, kind="stable")
    out, seen = [], set()
    w = m2.shape[1]
    for i in order:
        y, x = divmod(int(i), w)
        if (x, y) in seen:
            continue
        seen.add((x, y))
        out.append({"x": x, "y": y, "kind": "stuck", "onset": None})
        if len(out) == k:
            break
    return out


def rawpy_method(files: list[Path]) -> list[dict]:
    from rawpy import enhance

    coords = enhance.find_bad_pixels(
        [str(f) for f in files], find_hot=True, find_dead=True, confirm_ratio=0.9
    )
    return [{"x": int(x), "y": int(y), "kind": "hot", "onset": None} for y, x in coords]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=3872)
    ap.add_argument("--height", type=int, default=2592)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--subsampling",
        default="4:2:2",
        choices=("4:4:4", "4:2:2", "4:2:0"),
        help="the camera JPEGs' chroma subsampling (4:2:2 as most cameras write; 4:2:0 as "
        "phones and some cameras do)",
    )
    ap.add_argument(
        "--jpeg-quality",
        type=int,
        default=JpegStyle.quality,
        help="the camera JPEGs' quality (92: a camera's fine; 80: nearer its normal)",
    )
    ap.add_argument(
        "--rawpy-frames",
        type=int,
        default=60,
        help="frames given to rawpy.find_bad_pixels (it holds all in memory)",
    )
    ap.add_argument(
        "--cfa",
        default="RGGB",
        choices=("RGGB", "XTRANS"),
        help="the body's colour filter pattern (its hard-case roll; the clean body is Bayer)",
    )
    ap.add_argument("--keep", type=Path, help="keep the roll and state in this folder")
    ap.add_argument("--reuse", action="store_true", help="reuse the roll kept in --keep")
    ap.add_argument(
        "--kinds",
        default="raw,raw-ljpeg,jpeg",
        help="what to measure: raw (uncompressed DNG), raw-ljpeg (lossless-JPEG DNG, as "
        "cameras write: speed only, its defects must equal raw's), jpeg",
    )
    ap.add_argument(
        "--clean-frames",
        type=int,
        default=1000,
        help="frames of a defect-free body (bursts, night, lens cap, blown, stars...), which"
        " must give no report at all (0: skip)",
    )
    ap.add_argument("--clean-size", default="1600x1200", help="its frame size, WxH")
    args = ap.parse_args()
    style = JpegStyle(args.subsampling, args.jpeg_quality)
    work = args.keep or Path(tempfile.mkdtemp(prefix="hotwatch-bench-"))
    roll = work / "roll"
    roll.mkdir(parents=True, exist_ok=True)
    saved = work / "roll-info.json"
    if args.reuse and saved.exists():
        info = json.loads(saved.read_text())
        if info.get("cfa", "RGGB") != args.cfa:
            sys.exit(f"{work} holds a {info.get('cfa', 'RGGB')} roll, not {args.cfa}")
    else:
        info = make_roll(roll, args.width, args.height, args.frames, args.seed, style, args.cfa)
        saved.write_text(json.dumps(info, default=str))
    from datetime import datetime

    times = [datetime.fromisoformat(t) for t in info["times"]]
    mp = args.width * args.height / 1e6
    print(
        f"roll: {args.frames} frames of {args.width}x{args.height} ({mp:.1f} MP), "
        f"{len(info['all_truth'])} planted defects, {len(info['truth'])} qualify "
        f"(>=3x local noise in >=5% of scenes); written in {info['write_seconds']:.0f} s"
    )
    wanted = args.kinds.split(",")
    found_by_kind: dict[str, list[dict]] = {}
    for kind in ("raw", "raw-ljpeg", "jpeg"):
        if kind not in wanted:
            continue
        folder = roll
        if kind == "raw-ljpeg":
            folder = work / "roll-ljpeg"
            if not (folder / "complete").exists():
                write_ljpeg_dngs(folder, args.width, args.height, args.frames, args.seed, args.cfa)
        files = sorted(folder.glob("*.JPG" if kind == "jpeg" else "*.DNG"))
        home = work / f"home-{kind}"
        shutil.rmtree(home, ignore_errors=True)
        ing = ingest_in_child(home, files)
        acc_bytes = sum(p.stat().st_size for p in (home / "accumulators").glob("*.hwacc"))
        found = json.loads(
            subprocess.run(
                [sys.executable, "-m", "hotwatch", "--home", str(home), "defects", "--json"],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )["cameras"][0]["defects"]
        found_by_kind[kind] = found
        frame = "jpeg" if kind == "jpeg" else "raw"
        truth = info["truth"]
        # the DNGs keep a capture time without its UTC offset (as pidng writes it), which a
        # reader takes as this computer's local time: so is the truth dated for them
        when = times if kind == "jpeg" else [_as_local(t) for t in times]
        s = score(found, truth, when, kind=frame, planted=info["all_truth"])
        wall, cpu = ing["wall"], ing["cpu"]
        print(
            f"\n[{kind}] elapsed: decode alone {wall['decode']:.3f} s/frame, ingest"
            f" {wall['ingest']:.3f} s/frame: ratio {wall['ingest'] / wall['decode']:.2f}"
            f" (CPU time, all threads: decode {cpu['decode']:.3f}, ingest {cpu['ingest']:.3f},"
            f" ratio {cpu['ingest'] / cpu['decode']:.2f}); peak RSS {ing['maxrss_mb']:.0f} MB;"
            f" accumulator {acc_bytes / (args.width * args.height):.2f} bytes/pixel on disk"
        )
        if kind == "raw-ljpeg" and "raw" in found_by_kind:
            same = found == found_by_kind["raw"]
            print(f"  defects identical to the uncompressed DNGs': {'yes' if same else 'NO'}")
            continue
        if kind == "jpeg":
            shown = jpeg_truth(info, args.width, args.height, args.frames, args.seed, style)
            saved.write_text(json.dumps(info, default=str))
            by_raw = s
            s = score(
                found,
                shown,
                times,
                kind=frame,
                first_shown="first_visible_jpeg",
                planted=info["all_truth"],
            )
            truth = shown
            print(
                f"  hotwatch, the {len(shown)} defects the JPEGs show (>=3x their local noise"
                f" in >=5% of frames; onsets from the first JPEG that shows each):"
            )
        else:
            print("  hotwatch:")
        report(s, truth)
        if kind == "jpeg":
            print(f"  against the defects the raws show: {by_raw.summary()}")
            k = len(info["truth"])
            base = score(seed_method(files, k), info["truth"], times, kind=kind, check_kind=False)
            print(f"  seed method (lowest M2, k={k}): {base.summary()}")
        elif args.rawpy_frames > 0:
            t0 = time.perf_counter()
            rp = rawpy_method(files[: args.rawpy_frames])
            rps = score(rp, info["truth"], when, kind=frame, check_kind=False)
            print(
                f"  rawpy find_bad_pixels ({args.rawpy_frames} frames, confirm 0.9, "
                f"{time.perf_counter() - t0:.0f} s): {rps.summary()}"
            )
    if args.clean_frames:
        clean_body(work, args.clean_size, args.clean_frames, args.seed + 1, args.reuse, style)
    print(
        f"\nmax RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
