"""Decoding photos into frames, in stored pixel order.

Camera JPEGs (and TIFF/PNG) go through Pillow and are never rotated by their
EXIF Orientation: portrait and landscape shots of one body must line up pixel
for pixel. RAW files go through rawpy (LibRaw) and give the undemosaiced
``raw_image_visible`` photosites with their CFA pattern and black/white
levels, so a defect is one exact photosite.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import UnreadableFile, UnsupportedFile
from .model import Frame, FrameKind

log = logging.getLogger(__name__)

RAW_SUFFIXES = frozenset(
    [
        ".nef",
        ".nrw",
        ".cr2",
        ".cr3",
        ".crw",
        ".arw",
        ".srf",
        ".sr2",
        ".raf",
        ".orf",
        ".rw2",
        ".pef",
        ".dng",
        ".srw",
        ".erf",
        ".kdc",
        ".dcr",
        ".mrw",
        ".3fr",
        ".iiq",
        ".rwl",
        ".x3f",
    ]
)
RGB_SUFFIXES = frozenset([".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".png"])
PHOTO_SUFFIXES = RAW_SUFFIXES | RGB_SUFFIXES
MIN_PIXELS = 320 * 240  #: smaller images are thumbnails or previews, not camera frames
MIN_SIDE = 240


def frame_kind_for(path: Path) -> FrameKind | None:
    """RAW or JPEG by file name suffix; None for anything that is not a photo."""
    suffix = path.suffix.lower()
    if suffix in RAW_SUFFIXES:
        return FrameKind.RAW
    if suffix in RGB_SUFFIXES:
        return FrameKind.JPEG
    return None


def read_frame(path: Path, kind: FrameKind | None = None, *, min_pixels: int = MIN_PIXELS) -> Frame:
    """Decode ``path``; raise UnsupportedFile / UnreadableFile with a reason."""
    kind = kind or frame_kind_for(path)
    if kind is None:
        raise UnsupportedFile(f"not a photo file type ({path.suffix or 'no suffix'})")
    frame = _read_raw(path) if kind is FrameKind.RAW else _read_rgb(path)
    _check_plausible(frame, min_pixels)
    return frame


def _read_rgb(path: Path) -> Frame:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                raise UnsupportedFile(f"single-channel {im.mode} image, not a camera photo")
            if im.mode not in ("RGB", "RGBA", "RGBX", "L", "P", "CMYK", "YCbCr"):
                raise UnsupportedFile(f"unsupported image mode {im.mode}")
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            data = np.asarray(rgb)
    except UnidentifiedImageError as exc:
        raise UnsupportedFile("not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableFile(f"damaged image: {exc}") from exc
    return Frame(kind=FrameKind.JPEG, data=data, black=0.0, white=255.0)


def _read_raw(path: Path) -> Frame:
    import rawpy

    try:
        with rawpy.imread(str(path)) as raw:
            if raw.raw_type != rawpy.RawType.Flat:
                raise UnsupportedFile("linear (already demosaiced) raw: no photosites to watch")
            data = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
            pattern = np.array(raw.raw_pattern, dtype=np.uint8, copy=True)
            colours = raw.color_desc.decode("ascii", "replace")
            black_levels = tuple(float(b) for b in raw.black_level_per_channel)
            white = float(raw.white_level)
            sizes = raw.sizes
    except rawpy.LibRawFileUnsupportedError as exc:
        raise UnsupportedFile(f"raw format not supported by LibRaw: {exc}") from exc
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise UnreadableFile(f"damaged or truncated raw: {exc}") from exc
    cfa = _colour_pattern(pattern, colours)
    black_map = np.array([[black_levels[int(c)] for c in row] for row in pattern], dtype=np.float32)
    black: float | np.ndarray = (
        float(black_map.flat[0]) if np.all(black_map == black_map.flat[0]) else black_map
    )
    return Frame(
        kind=FrameKind.RAW,
        data=data,
        black=black,  # type: ignore[arg-type]
        white=white,
        cfa=cfa,
        black_per_channel=black_levels,
        left_margin=int(sizes.left_margin),
        top_margin=int(sizes.top_margin),
        raw_width=int(sizes.raw_width),
        raw_height=int(sizes.raw_height),
    )


def _colour_pattern(pattern: np.ndarray, colours: str) -> np.ndarray:
    """LibRaw's pattern of colour indices mapped to 0=R, 1=G, 2=B."""
    mapping = {"R": 0, "G": 1, "B": 2}
    out = np.zeros_like(pattern)
    for idx in np.unique(pattern):
        letter = colours[int(idx)] if int(idx) < len(colours) else "G"
        if letter not in mapping:
            raise UnsupportedFile(f"colour filter {colours!r} is not RGB")
        out[pattern == idx] = mapping[letter]
    if out.shape not in ((2, 2), (6, 6)):
        raise UnsupportedFile(f"CFA pattern of shape {out.shape} is not Bayer or X-Trans")
    return out


def _check_plausible(frame: Frame, min_pixels: int) -> None:
    """Reject thumbnails, previews and raws whose pixels are junk."""
    h, w = frame.data.shape[:2]
    if h * w < min_pixels or min(h, w) < min(MIN_SIDE, int(min_pixels**0.5)):
        raise UnsupportedFile(f"{w}x{h} is too small to be a camera frame (thumbnail?)")
    if frame.kind is FrameKind.RAW:
        sample = frame.data[:: max(1, h // 64), :: max(1, w // 64)]
        if int(sample.max()) == int(sample.min()):
            raise UnsupportedFile("raw pixels are all one value (metadata-only or empty raw)")
        black = float(np.min(frame.black))
        if frame.white <= black:
            raise UnsupportedFile("raw white level is not above its black level")
