"""darktable bridge benchmark: how well `hotwatch darktable heal` heals, measured in darktable.

Trains a home on a simulated body (320x240 RGGB with sensor margins, two stuck, one dead and one
late stuck photosite), then for a later shot (DNG and JPEG) renders with darktable-cli (4.2 on
the host, or 5.4.1 / 5.0.1 in the trixie chroot of ``.ci/darktable5.sh``):

* the photo as it is, with an empty hotwatch retouch instance (same modules: the baseline),
* the photo with the sidecar `hotwatch darktable heal` wrote,
* the same shot from the same camera *without* defects (the truth).

Prints, per defect, the residual against the truth before and after healing (0-1 scale), the
pixels that changed farther than 6 px from any defect, and each render's time.

Usage: ``python -m benchmarks.bench_darktable [--darktable host|backports|trixie]`` from the
repository root (as root for the chroot).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hotwatch.darktable.xmp import patch_sidecar
from hotwatch.sim import camsim
from tests.support import chroot
from tests.support import darktable as du
from tests.support.cli import hotwatch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [d.name for d in chroot.DARKTABLES]
    parser.add_argument("--darktable", choices=["host", *names], default="host")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hotwatch-dt-"))
    render = du.render
    if args.darktable != "host":  # darktable 5.x in the chroot, which sees WORK
        dt5 = next(d for d in chroot.DARKTABLES if d.name == args.darktable)
        render = functools.partial(
            du.render, cli=dt5.cli, runner=lambda cmd: chroot.run_in_chroot(cmd, [work])
        )
    try:
        run(work, render)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, render=du.render) -> None:
    home, roll = work / "home", work / "roll"
    t0 = time.perf_counter()
    du.train_home(home, roll)
    print(f"trained on {du.SIM_SHOTS} shots in {time.perf_counter() - t0:.1f} s")
    shot = du.sim_shots()[du.SIM_SHOTS + 1]  # after every onset, never scanned
    cam = du.sim_camera()
    clean = camsim.Camera(cam.sensor, [], du.SIM_MAKE, du.SIM_MODEL, du.SIM_SERIAL, seed=1)
    conf = work / "dtconf"
    conf.mkdir()
    for kind, suffix in (("raw", ".dng"), ("jpeg", ".jpg")):
        photo, truth = work / f"photo{suffix}", work / f"truth{suffix}"
        write = "write_dng" if kind == "raw" else "write_jpeg"
        getattr(cam, write)(shot, photo)
        getattr(clean, write)(shot, truth)
        proc = hotwatch("darktable", "heal", str(photo), "--json", home=home, check=False)
        result = json.loads(proc.stdout)["results"][0]
        healed_xmp = Path(f"{photo}.xmp")
        # baseline: the same pipe with an empty hotwatch instance
        base_xmp = work / f"base{suffix}.xmp"
        base_xmp.write_text(
            patch_sidecar(None, [], kind, photo.name, keep_empty=True), encoding="utf-8"
        )
        truth_xmp = work / f"truth{suffix}.xmp"
        truth_xmp.write_text(base_xmp.read_text(encoding="utf-8"), encoding="utf-8")
        before, t_before, _ = render(photo, base_xmp, work / f"before-{kind}.tif", conf)
        after, t_after, _ = render(photo, healed_xmp, work / f"after-{kind}.tif", conf)
        ref, _, _ = render(truth, truth_xmp, work / f"truth-{kind}.tif", conf)
        points = [(x, y) for x, y, *_ in du.SIM_DEFECTS]
        print(
            f"\n[{kind}] heal: {result['status']}, {result['defects']} defects; "
            f"render {t_before:.1f} s (baseline), {t_after:.1f} s (healed)"
        )
        for x, y, k, _, onset in du.SIM_DEFECTS:
            px, py = _locate(before, ref, x, y)
            b = float((before[py, px] - ref[py, px]).mean())
            a = float((after[py, px] - ref[py, px]).mean())
            print(
                f"  {k:<5} at {x},{y} (onset shot {onset}): off by {b:+.3f} before, {a:+.3f} after"
            )
        far = du.changed_far(before, after, [_locate(before, ref, x, y) for x, y in points])
        print(f"  pixels changed farther than 6 px from a defect: {len(far)}")


def _locate(img: np.ndarray, ref: np.ndarray, x: int, y: int) -> tuple[int, int]:
    """Where the defect shows in the render (within 1 px of x, y): its largest deviation."""
    best, pos = -1.0, (x, y)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            yy, xx = y + dy, x + dx
            if 0 <= yy < img.shape[0] and 0 <= xx < img.shape[1]:
                d = float(np.abs(img[yy, xx] - ref[yy, xx]).mean())
                if d > best:
                    best, pos = d, (xx, yy)
    return pos


if __name__ == "__main__":
    main()
