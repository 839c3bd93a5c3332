"""Helpers for the darktable tests: small real files, darktable-cli renders, measurements.

Everything here makes or reads real files; darktable-cli and darktable are the
real programs (darktable 4.2 from Debian in CI).
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from hotwatch.darktable.heal import SidecarTarget, heal_shapes
from hotwatch.darktable.xmp import patch_sidecar

from .cli import hotwatch

W, H = 256, 192  # rendered size: a darktable-cli run stays well under a second


def smooth_scene(h: int, w: int, seed: int, noise: float = 0.004) -> np.ndarray:
    """A smooth mid-grey gradient with a little noise, values 0..1, shape (h, w)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.40 + 0.08 * np.sin(xx / 45.0) + 0.06 * np.cos(yy / 35.0)
    return base + rng.normal(0.0, noise, (h, w))


def write_jpeg(
    path: Path,
    defects: list[tuple[int, int, str]],
    seed: int = 1,
    *,
    orientation: int = 1,
    size: tuple[int, int] = (W, H),
    taken: str = "2024:05:01 12:00:00",
) -> np.ndarray:
    """A JPEG (quality 100, no chroma subsampling) with hot (white) / dead (black) pixels."""
    w, h = size
    g = smooth_scene(h, w, seed)
    rgb = np.stack([g * 0.95, g, g * 1.05], -1)
    for x, y, kind in defects:
        rgb[y, x] = 1.0 if kind != "dead" else 0.0
    arr = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x010F] = "HOTWATCH"
    exif[0x0110] = "SIM-J1"
    exif[0x0112] = orientation
    exif[0x0132] = taken
    img.save(path, quality=100, subsampling=0, exif=exif.tobytes())
    return arr


@dataclass(frozen=True)
class DngLayout:
    raw_width: int
    raw_height: int
    left: int  # ActiveArea margins = rawpy left_margin / top_margin
    top: int
    width: int  # visible (active) size
    height: int


def write_dng(
    path: Path,
    defects: list[tuple[int, int, str]],
    seed: int = 2,
    *,
    layout: DngLayout | None = None,
    orientation: int = 1,
) -> DngLayout:
    """A 12-bit RGGB DNG whose ActiveArea leaves sensor margins (masked border photosites).

    Defects are (x, y, kind) in visible (``raw_image_visible``) coordinates:
    hot = white level, dead = black level.
    """
    lay = layout or DngLayout(W + 16, H + 10, 12, 6, W, H)
    black, white = 256, 4095
    scene = smooth_scene(lay.height, lay.width, seed, noise=0.003)
    gains = np.array([[0.55, 1.0], [1.0, 0.7]])  # R G / G B: a plausible daylight raw
    mosaic = scene * np.tile(gains, (lay.height // 2, lay.width // 2))
    vis = black + mosaic * (white - black) * 0.5
    for x, y, kind in defects:
        vis[y, x] = white if kind != "dead" else black
    full = np.full((lay.raw_height, lay.raw_width), black + 3.0)  # masked margins
    full[lay.top : lay.top + lay.height, lay.left : lay.left + lay.width] = vis
    data = np.clip(full.round(), 0, white).astype(np.uint16)

    def srat(vals):
        return [v for a in vals for v in (round(a * 10000), 10000)]

    tags = [
        (254, "I", 1, 0, True),
        (271, "s", 0, "HOTWATCH", True),
        (272, "s", 0, "SIM-R1", True),
        (274, "H", 1, orientation, True),
        (306, "s", 0, "2024:05:01 12:00:00", True),
        (33421, "H", 2, (2, 2), True),
        (33422, "B", 4, (0, 1, 1, 2), True),
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50707, "B", 4, (1, 1, 0, 0), True),
        (50708, "s", 0, "HOTWATCH SIM-R1", True),
        (50710, "B", 3, (0, 1, 2), True),
        (50711, "H", 1, 1, True),
        (50714, "I", 1, black, True),
        (50717, "I", 1, white, True),
        (
            50721,
            "q",
            9,
            tuple(
                srat([0.6722, -0.0635, -0.0963, -0.4287, 1.2460, 0.2028, -0.0908, 0.2162, 0.5668])
            ),
            True,
        ),
        (50728, "Q", 3, (5500, 10000, 10000, 10000, 7800, 10000), True),
        (50778, "H", 1, 21, True),
        (50829, "I", 4, (lay.top, lay.left, lay.top + lay.height, lay.left + lay.width), True),
        (50719, "I", 2, (0, 0), True),
        (50720, "I", 2, (lay.width, lay.height), True),
    ]
    tags = [(c, t, n, v, w) for c, t, n, v, w in tags]
    # tifffile has no signed-rational code letter: 'q' is int64, so write SRATIONAL (10)
    # through its numeric type code instead.
    fixed = []
    for code, dtype, count, value, wr in tags:
        if dtype == "q":
            fixed.append((code, 10, count, value, wr))
        elif dtype == "Q":
            fixed.append((code, 5, count, value, wr))
        else:
            fixed.append((code, dtype, count, value, wr))
    tifffile.imwrite(path, data, photometric=32803, extratags=fixed, metadata=None)
    return lay


def render(
    src: Path,
    xmp: Path | None,
    out: Path,
    configdir: Path,
    *,
    cli: str = "darktable-cli",
    runner: Callable[[list[str]], subprocess.CompletedProcess] | None = None,
) -> tuple[np.ndarray, float, str]:
    """Render with darktable-cli to a float TIFF; returns (array HxWx3, seconds, log).

    By default the host's darktable-cli (4.2 on Debian 12); ``runner`` runs the command
    elsewhere (``tests.support.chroot`` for darktable 5.x), ``cli`` names the program there.
    """
    if out.exists():
        out.unlink()  # darktable-cli would otherwise write out_01.tif
    cmd = [cli, str(src)]
    if xmp is not None:
        cmd.append(str(xmp))
    cmd += [
        str(out),
        "--core",
        "--library",
        ":memory:",
        "--configdir",
        str(configdir),
        "--conf",
        "plugins/imageio/format/tiff/bpp=32",
        "--conf",
        "plugins/imageio/format/tiff/compress=0",
        "--conf",
        "write_sidecar_files=never",
    ]
    t0 = time.monotonic()
    if runner is None:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C"}
        )
    else:
        proc = runner(cmd)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert out.exists(), log
    arr = tifffile.imread(out)
    return arr[..., :3].astype(np.float64), seconds, log


def dng_target(dng: Path) -> SidecarTarget:
    """Where darktable's raw buffer puts a DNG's photosites: its sensor and margins, read
    as LibRaw reads them."""
    import rawpy

    with rawpy.imread(str(dng)) as raw:
        s = raw.sizes
    return SidecarTarget.raw(
        s.raw_width, s.raw_height, s.width, s.height, s.left_margin, s.top_margin
    )


def write_sidecar(path: Path, text: str | None) -> Path:
    assert text is not None
    path.write_text(text, encoding="utf-8")
    return path


def healed_and_base(
    folder: Path, src: Path, kind: str, target: SidecarTarget, defects
) -> tuple[Path, Path]:
    """Two sidecars for ``src``: hotwatch's heal of ``defects``, and the same history with
    no shape (what the healed render is compared with)."""
    shapes = heal_shapes(points(defects), target)
    healed = write_sidecar(folder / f"{src.name}.xmp", patch_sidecar(None, shapes, kind, src.name))
    base = write_sidecar(
        folder / "base.xmp", patch_sidecar(None, [], kind, src.name, keep_empty=True)
    )
    return healed, base


def residual(img: np.ndarray, x: int, y: int) -> float:
    """Channel-mean value at (x, y) minus the median of its 11x11 ring (centre 5x5 excluded)."""
    y0, y1 = max(0, y - 5), min(img.shape[0], y + 6)
    x0, x1 = max(0, x - 5), min(img.shape[1], x + 6)
    win = img[y0:y1, x0:x1].mean(axis=-1)
    mask = np.ones_like(win, dtype=bool)
    mask[max(0, y - 2 - y0) : y + 3 - y0, max(0, x - 2 - x0) : x + 3 - x0] = False
    return float(win[y - y0, x - x0] - np.median(win[mask]))


def changed_far(
    a: np.ndarray, b: np.ndarray, points: list[tuple[int, int]], reach: int = 6, tol: float = 1e-4
) -> list[tuple[int, int]]:
    """Pixels that differ between two renders farther than ``reach`` from every point."""
    diff = np.abs(a - b).max(axis=-1) > tol
    near = np.zeros_like(diff)
    for x, y in points:
        near[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1] = True
    ys, xs = np.nonzero(diff & ~near)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def oriented(x: int, y: int, w: int, h: int, orientation: int) -> tuple[int, int]:
    """Where stored pixel (x, y) of a w x h frame appears after EXIF orientation."""
    return {
        1: (x, y),
        2: (w - 1 - x, y),
        3: (w - 1 - x, h - 1 - y),
        4: (x, h - 1 - y),
        5: (y, x),
        6: (h - 1 - y, x),
        7: (h - 1 - y, w - 1 - x),
        8: (y, w - 1 - x),
    }[orientation]


# ------------------------------------------------------- is a defect healed?

HEALED = 0.02  #: a healed defect stands at most this far off its surroundings (0..1)...
BEFORE = 0.2  #: ...where it stood at least this far off before
# green photosites (x + y odd on RGGB), so a single defect shows strongly after demosaic
DEFECTS = [(40, 51, "hot"), (121, 100, "hot"), (200, 31, "dead"), (60, 151, "dead"), (9, 10, "hot")]


def points(defects) -> list[tuple[int, int]]:
    return [(x, y) for x, y, *_ in defects]


def assert_healed(healed: np.ndarray, base: np.ndarray, defects, orientation: int = 1) -> None:
    """Every defect shows in ``base`` and is healed in ``healed`` (renders of one photo)."""
    h, w = base.shape[:2]
    if orientation in (5, 6, 7, 8):
        w, h = h, w  # stored size
    for x, y in points(defects):
        ox, oy = locate(base, *oriented(x, y, w, h, orientation))
        before, after = residual(base, ox, oy), residual(healed, ox, oy)
        assert abs(before) >= BEFORE, f"defect {(x, y)} did not show before: {before:.3f}"
        assert abs(after) <= HEALED, f"defect {(x, y)} not healed: {before:.3f} -> {after:.3f}"


def locate(img: np.ndarray, x: int, y: int) -> tuple[int, int]:
    """Where the defect shows in a render: the strongest pixel within 1 px of (x, y).

    darktable's flip lands a rotated frame up to 1 px off on a mirrored axis
    (x' = W - x), so the exact output pixel is found, not assumed.
    """
    h, w = img.shape[:2]
    near = [
        (abs(residual(img, i, j)), i, j)
        for j in range(max(0, y - 1), min(h, y + 2))
        for i in range(max(0, x - 1), min(w, x + 2))
    ]
    _, i, j = max(near)
    return i, j


# ------------------------------------------------- a user's own darktable edit

USER_CIRCLE_ID = 1_714_000_001  # darktable numbers forms from time(NULL)
USER_GROUP_ID = 1_714_000_002


def user_edit_xmp(
    filename: str,
    w: int,
    h: int,
    blemish: tuple[int, int],
    exposure_ev: float = 0.5,
    order_version: int = 2,
) -> str:
    """A sidecar as darktable 4.2 writes it after a user's edit.

    Two history entries: an exposure change, then the user's own retouch
    instance (multi_priority 0) healing ``blemish`` with one circle.
    ``order_version`` is the built-in pipe order it names: 2 (v3.0 RAW) as darktable 4.2
    writes it; darktable 5.x writes 4 (v5.0 RAW) or 5 (v5.0 JPEG).
    """
    exposure = struct.pack("<iffffi", 0, 0.0, exposure_ev, 50.0, -4.0, 0)
    forms = bytearray()
    for i in range(300):
        fid, alg = (USER_CIRCLE_ID, 2) if i == 0 else (0, 0)
        forms += struct.pack("<iiiifi3ffi", fid, 0, alg, 0, 10.0, 0, 0, 0, 0, 0.0, 2)
    forms += struct.pack(
        "<iiii3fifi3ffi", 2, 0, 0, 0, -3.0, 0.0, 3.0, 0, 10.0, 0, 0, 0, 0, 0.0, 1000
    )
    default_blend = bytes.fromhex(
        "000000000000000018000000000000000000c842000000000000000000000000"
    )
    blend = bytearray(default_blend + bytes(420 - len(default_blend)))
    blend[36:40] = struct.pack("<i", 5)  # feathering_guide, as darktable's default
    for k in range(16):
        struct.pack_into("<4f", blend, 68 + 16 * k, 0.0, 0.0, 1.0, 1.0)
    blend_user = bytearray(blend)
    struct.pack_into("<i", blend_user, 24, USER_GROUP_ID)
    bx, by = blemish
    s = float(min(w, h))
    circle = struct.pack("<4f", bx / w, by / h, 4.0 / s, 1.0 / s)
    src = struct.pack("<2f", (bx - 12) / w, by / h)
    group = struct.pack("<iiif", USER_CIRCLE_ID, USER_GROUP_ID, 3, 1.0)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmp:Rating="3"
   xmpMM:DerivedFrom="{filename}"
   darktable:xmp_version="5"
   darktable:raw_params="0"
   darktable:auto_presets_applied="1"
   darktable:history_end="2"
   darktable:iop_order_version="{order_version}">
   <darktable:masks_history>
    <rdf:Seq>
     <rdf:li darktable:mask_num="1" darktable:mask_id="{USER_CIRCLE_ID}" darktable:mask_type="9"
      darktable:mask_name="circle #1" darktable:mask_version="6"
      darktable:mask_points="{circle.hex()}" darktable:mask_nb="1"
      darktable:mask_src="{src.hex()}"/>
     <rdf:li darktable:mask_num="1" darktable:mask_id="{USER_GROUP_ID}" darktable:mask_type="12"
      darktable:mask_name="grp retouch" darktable:mask_version="6"
      darktable:mask_points="{group.hex()}" darktable:mask_nb="1"
      darktable:mask_src="0000000000000000"/>
    </rdf:Seq>
   </darktable:masks_history>
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"
      darktable:modversion="6" darktable:params="{exposure.hex()}" darktable:multi_name=""
      darktable:multi_priority="0" darktable:blendop_version="11"
      darktable:blendop_params="{bytes(blend).hex()}"/>
     <rdf:li darktable:num="1" darktable:operation="retouch" darktable:enabled="1"
      darktable:modversion="3" darktable:params="{bytes(forms).hex()}" darktable:multi_name=""
      darktable:multi_priority="0" darktable:blendop_version="11"
      darktable:blendop_params="{bytes(blend_user).hex()}"/>
    </rdf:Seq>
   </darktable:history>
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


# ------------------------------------------- a simulated body that hotwatch knows

SIM_MAKE, SIM_MODEL, SIM_SERIAL = "Simulated", "HW-1", "1001"
SIM_MARGINS = (8, 4, 8, 4)  # left, top, right, bottom: darktable's buffer is 336x248
#: strong defects (x, y, camsim kind, strength, onset index): detection confirms them
#: within a 40-frame roll; the last one appears only from shot 30 on.
SIM_DEFECTS = [
    (41, 50, "stuck", 1.0, 0),
    (121, 101, "stuck", 0.6, 0),
    (200, 150, "dead", 0.0, 0),
    (260, 60, "stuck", 1.0, 30),
]
SIM_SHOTS = 40


def sim_camera(margins: tuple[int, int, int, int] = SIM_MARGINS):
    """The simulated body (camsim) whose roll ``train_home`` scans: 320x240 RGGB."""
    from hotwatch.sim import camsim

    sensor = camsim.SensorSpec(width=320, height=240, cfa="RGGB", margins=margins)
    planted = [camsim.PlantedDefect(x, y, k, s, onset) for x, y, k, s, onset in SIM_DEFECTS]
    return camsim.Camera(sensor, planted, SIM_MAKE, SIM_MODEL, SIM_SERIAL, seed=1)


def sim_shots(n: int = SIM_SHOTS + 2):
    """Simple daylight shots in capture order; shots past SIM_SHOTS are never scanned."""
    from hotwatch.sim import camsim

    return camsim.plan_roll(
        n, seed=3, bursts=False, timelapses=False, night=False, specials=False, portrait=False
    )


def train_home(home: Path, roll: Path, formats: tuple[str, ...] = ("jpeg", "dng")) -> dict:
    """Write the simulated roll, scan it into HOME; returns ``defects --json`` as a dict."""
    import json

    from hotwatch.sim import camsim

    home, roll = home.absolute(), roll.absolute()
    camsim.write_roll(sim_camera(), sim_shots()[:SIM_SHOTS], roll, formats)
    proc = hotwatch("scan", str(roll), home=home, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = hotwatch("defects", "--json", home=home, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ------------------------------------------ the Lua script end to end in darktable

#: a RAW+JPEG pair imported together; quotes, $(...), ; and non-ASCII in the name
PAIR_NAMES = ("it's $(touch pwned); über.jpg", "it's $(touch pwned); über.dng")
BODY_TAG = f"hotwatch|body|{SIM_MAKE.upper()} {SIM_MODEL} {SIM_SERIAL}"


@dataclass(frozen=True)
class PluginSetup:
    """Photos to import and a darktable config with the script installed (``--luarc``)."""

    home: Path
    conf: Path
    folder: Path
    photos: list[Path]
    tags: dict[str, list[str]]  #: photo name -> the tags the script must attach


def plugin_setup(
    work: Path, home: Path, cams: list[dict], names: Sequence[str] = PAIR_NAMES
) -> PluginSetup:
    """Later photos of the trained body (``train_home``) under WORK/import, and WORK/dtconf.

    ``cams`` is ``defects --json``'s cameras: the tags each photo must get come from it.
    """
    folder, conf = work / "import", work / "dtconf"
    folder.mkdir(parents=True)
    shot = sim_shots()[SIM_SHOTS + 1]  # taken after every onset: all defects apply
    by_frame = {c["frame"]: [d["kind"] for d in c["defects"]] for c in cams}
    photos, tags = [], {}
    for name in names:
        raw = name.lower().endswith(".dng")
        path = folder / name
        (sim_camera().write_dng if raw else sim_camera().write_jpeg)(shot, path)
        kinds = by_frame["raw" if raw else "jpeg"]
        counts = [f"hotwatch|{k} pixels|{kinds.count(k)}" for k in sorted(set(kinds))]
        photos.append(path)
        tags[name] = [BODY_TAG, *counts, "hotwatch|healed"]
    proc = hotwatch(
        "darktable", "install", "--luarc", "--darktable-config", str(conf), home=home, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return PluginSetup(home, conf, folder, photos, tags)


def plugin_luacmd(
    folder: Path, photos: int, limit_ms: int = 90_000, startup_ms: int = 2_000
) -> str:
    """darktable's ``--luacmd``: after ``startup_ms``, import FOLDER, wait until the script
    has checked PHOTOS photos (its ``stats``), print each image's sizes, quit with status 0."""
    import json

    return f"""
local dt = require "darktable"
local ok, err = pcall(function()
  print("PROBE api " .. dt.configuration.api_version_string .. " darktable "
    .. dt.configuration.version)
  -- a script that calls into GTK before darktable's main loop runs can deadlock it (seen
  -- with darktable 4.2 on a loaded machine; darktable-org/darktable#22357 is the race):
  -- let the window come up before importing
  dt.control.sleep({startup_ms})
  dt.database.import({json.dumps(str(folder))})
  local hw, waited = package.loaded["hotwatch/hotwatch"], 0
  local function done()
    local s = hw and hw.helpers and hw.helpers.stats
    return s and s.photos >= {photos} and not s.busy
  end
  while not done() and waited < {limit_ms} do
    dt.control.sleep(100)
    waited = waited + 100
  end
  print("PROBE waited " .. waited .. " ms")
  for _, i in ipairs(dt.database) do
    local extra = ""
    if hw.helpers.features(dt.configuration.api_version_string).processed_size then
      extra = string.format(" p %dx%d final %dx%d", i.p_width, i.p_height,
        i.final_width, i.final_height)
    end
    print(string.format("PROBE size %s %dx%d%s", i.filename, i.width, i.height, extra))
  end
end)
if not ok then print("PROBE error " .. tostring(err)) end
dt.gui.action("global/quit", 0, "", "", 1.0) -- whatever happened: never hang the test
"""


def check_plugin_run(setup: PluginSetup, log: str, how: str) -> None:
    """What every end-to-end run must show: each photo tagged and healed by HOW
    ("sidecar applied" or "re-imported"), nothing run from a name, and a second heal
    changing nothing."""
    import json

    from hotwatch.darktable.xmp import sidecar_paths, sidecar_state

    tail = log[-4000:]
    assert "hotwatch failed" not in log and "re-import failed" not in log, tail
    # image.width/height, which the script compares with hotwatch's size, is the sensor
    # buffer with its margins for a raw, the pixel grid for a JPEG
    left, top, right, bottom = SIM_MARGINS
    buffer, grid = f"{320 + left + right}x{240 + top + bottom}", "320x240"
    for photo in setup.photos:
        size = buffer if photo.suffix.lower() == ".dng" else grid
        assert f"PROBE size {photo.name} {size}" in log, tail
    work = setup.folder.parent
    assert not list(work.rglob("pwned")), "a file name ran a command"
    for photo in setup.photos:
        tags = setup.tags[photo.name]
        shapes = sum(int(t.rsplit("|", 1)[1]) for t in tags if " pixels|" in t)
        assert f"{photo.name}: healed {shapes} defects ({how})" in log, tail
        text = sidecar_paths(photo)[0].read_text(encoding="utf-8")
        missing = [t for t in tags if f">{_xml_text(t)}<" not in text]
        assert not missing, f"{photo.name}: tags missing from the sidecar: {missing}"
        # the sidecar darktable wrote from its library holds the heal...
        assert sidecar_state(text).hotwatch_shapes == shapes, photo.name
        # ...in a form hotwatch recognises as its own: a second heal changes nothing
        again = hotwatch("darktable", "heal", str(photo), "--json", home=setup.home, check=False)
        result = json.loads(again.stdout)["results"][0]
        assert result["status"] == "unchanged", (photo.name, result)


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
