"""Where RawTherapee's raw grid starts: the camconst.json ``raw_crop`` its ``.badpixels``
coordinates are counted from.

Why: hotwatch counts photosites in LibRaw's ``raw_image_visible`` (the full sensor buffer
less LibRaw's left and top margins). RawTherapee 5.9 decodes with its own dcraw, whose
margins agree with LibRaw's for most cameras, but a camera listed in camconst.json with a
``raw_crop [left, top, width, height]`` has its grid start at (left, top) of the full buffer
instead (rtengine/rawimage.cc, RawImage::loadRaw), and a ``.badpixels`` line ``x y`` names a
photosite of that grid (rtengine/dfmanager.cc). 100 of the 274 entries of RawTherapee 5.9's
camconst.json have one (Canon 5DS: 32 photosites right and down of LibRaw's origin; G7 X:
32 and 19). A map written in LibRaw's coordinates would repair the wrong photosites there.

RawTherapee reads its own camconst.json (``/usr/share/rawtherapee``), then the user's
(``camconst.json`` beside the ``options`` file: ``$RT_SETTINGS``, else
``~/.config/RawTherapee``), the user's entries replacing its own. The camera is named as
dcraw names it, ``<Make> <Model>``, matched without regard to case. Comments (``//`` and
``/* */``) are allowed in those files, as RawTherapee allows them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SYSTEM_DIRS = (Path("/usr/share/rawtherapee"), Path("/usr/local/share/rawtherapee"))


def camconst_files() -> list[Path]:
    """The camconst.json files RawTherapee reads, in the order it reads them."""
    user = os.environ.get("RT_SETTINGS") or str(Path.home() / ".config" / "RawTherapee")
    candidates = [d / "camconst.json" for d in SYSTEM_DIRS] + [Path(user) / "camconst.json"]
    return [p for p in candidates if p.is_file()]


def strip_comments(text: str) -> str:
    """JSON text without ``//`` and ``/* */`` comments (those inside strings kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _entries(path: Path) -> list[dict]:
    try:
        data = json.loads(strip_comments(path.read_text(encoding="utf-8", errors="replace")))
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return []
    cameras = data.get("camera_constants", []) if isinstance(data, dict) else []
    return [e for e in cameras if isinstance(e, dict)]


def raw_crop(camera: str, files: Iterable[Path] | None = None) -> tuple[int, ...] | None:
    """The ``raw_crop`` (left, top, width, height) of ``camera`` ("Canon EOS 5DS"), the
    last file that gives one winning, or None."""
    wanted = camera.upper()
    found = None
    for path in camconst_files() if files is None else files:
        for entry in _entries(path):
            names = entry.get("make_model")
            names = [names] if isinstance(names, str) else names or []
            crop = entry.get("raw_crop")
            if wanted in (str(n).upper() for n in names) and _is_crop(crop):
                found = tuple(int(v) for v in crop)
    return found


def _is_crop(value: object) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) for v in value)


@dataclass(frozen=True)
class Grid:
    """RawTherapee's raw grid against ``raw_image_visible``: RT's (x, y) = visible
    (x, y) - ``offset``; ``size`` its width and height."""

    offset: tuple[int, int]
    size: tuple[int, int]
    crop: tuple[int, ...] | None  #: the camconst raw_crop it comes from, if any

    @property
    def note(self) -> str:
        if self.crop is None:
            return "RawTherapee's raw grid is raw_image_visible (no camconst raw_crop)"
        dx, dy = self.offset
        return (
            f"camconst.json raw_crop {list(self.crop)}: RawTherapee's x = visible x - {dx}, "
            f"y = visible y - {dy}"
        )


def grid(
    camera: str,
    left_margin: int,
    top_margin: int,
    visible: tuple[int, int],
    files: Sequence[Path] | None = None,
) -> Grid:
    """RawTherapee 5.9's grid for one camera whose raws LibRaw reads with these margins and
    visible size: its origin is the raw_crop's (left, top) in the full buffer, its width the
    crop's when positive, the visible width less the crop's left and its (negative) right
    otherwise (rawimage.cc); without a raw_crop, LibRaw's visible area."""
    crop = raw_crop(camera, files)
    if crop is None:
        return Grid((0, 0), visible, None)
    left, top, width, height = crop
    w, h = visible
    rt_w = min(w, width) if width > 0 else w + width - left if width < 0 else w
    rt_h = min(h, height) if height > 0 else h + height - top if height < 0 else h
    return Grid((left - left_margin, top - top_margin), (rt_w, rt_h), crop)
