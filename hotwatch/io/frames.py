"""Decoding photos into frames, in stored pixel order.

Camera JPEGs go through libjpeg-turbo (simplejpeg; Pillow for what it
refuses), TIFF/PNG through Pillow, and none is ever rotated by its EXIF
Orientation: portrait and landscape shots of one body must line up pixel
for pixel. RAW files go through rawpy (LibRaw) and give the undemosaiced
``raw_image_visible`` photosites with their CFA pattern and black/white
levels, so a defect is one exact photosite.

Nothing is accumulated that is not a camera frame; each refusal says why:

* thumbnails and previews (below ``MIN_PIXELS``), linear (demosaiced) DNGs
  and Foveon raws (no photosites to compare);
* metadata-only raws (sample files stripped of their pixels: the file holds
  fewer than ``MIN_RAW_BITS`` bits per photosite it claims), truncated raws
  (LibRaw's I/O error, or bottom rows that hold no data), raws whose pixels
  are all one value;
* a colour pattern LibRaw got wrong: values that are not colour indices, or
  not the colour make-up of Bayer (1 R, 2 G, 1 B) or X-Trans (8 R, 20 G, 8 B)
  — LibRaw 0.22 returns such junk for X-Trans DNGs with margins over 6 px
  (see hotwatch.sim.camsim), and trusting it would compare photosites with
  neighbours of another colour.

HEIC/HEIF (phones; Canon, Sony, Fujifilm and Nikon HIF) is decoded like a JPEG
through the pillow-heif plugin for Pillow; without it those files are skipped
with a reason saying what to install.

A photo's bytes are read once, through :mod:`hotwatch.io.guarded` (only regular files, and
never a hang on a stalled share), and decoded from memory: the ingest hands over the
bytes it already hashed and read the EXIF of, so no photo is read from disk twice.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import numpy as np

from hotwatch.core.errors import UnreadableFile, UnsupportedFile
from hotwatch.core.model import Frame, FrameKind
from hotwatch.io import guarded

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
HEIF_SUFFIXES = frozenset([".heic", ".heif", ".hif"])
JPEG_SUFFIXES = frozenset([".jpg", ".jpeg", ".jpe"])
RGB_SUFFIXES = JPEG_SUFFIXES | frozenset([".tif", ".tiff", ".png"]) | HEIF_SUFFIXES
PHOTO_SUFFIXES = RAW_SUFFIXES | RGB_SUFFIXES
MIN_PIXELS = 320 * 240  #: smaller images are thumbnails or previews, not camera frames
MIN_SIDE = 240
#: A raw file holding fewer bits than this per photosite it claims has no pixels behind its
#: size (metadata-only sample); lossy raws (Sony, Nikon, Canon C-RAW) keep 4 or more.
MIN_RAW_BITS = 1.0
#: Colour make-up (R, G, B counts) of a valid pattern of each size.
_PATTERN_COUNTS = {2: (1, 2, 1), 6: (8, 20, 8)}


def frame_kind_for(path: Path) -> FrameKind | None:
    """RAW or JPEG by file name suffix; None for anything that is not a photo."""
    suffix = path.suffix.lower()
    if suffix in RAW_SUFFIXES:
        return FrameKind.RAW
    if suffix in RGB_SUFFIXES:
        return FrameKind.JPEG
    return None


def read_frame(
    path: Path,
    kind: FrameKind | None = None,
    *,
    min_pixels: int = MIN_PIXELS,
    data: bytes | bytearray | None = None,
) -> Frame:
    """Decode ``path`` (from ``data``, its content, when already read); raise
    UnsupportedFile / UnreadableFile with a reason."""
    path = Path(path)
    kind = kind or frame_kind_for(path)
    if kind is None:
        raise UnsupportedFile(f"not a photo file type ({path.suffix or 'no suffix'})")
    if data is None:
        data = read_photo(path)
    frame = _read_raw(data) if kind is FrameKind.RAW else _read_rgb(path, data)
    _check_plausible(frame, min_pixels)
    return frame


def read_photo(path: Path) -> bytearray:
    """A photo file's bytes, read under guard: UnsupportedFile for what is no regular file,
    UnreadableFile when it cannot be read or stalls (see :mod:`hotwatch.io.guarded`)."""
    try:
        return guarded.read_bytes(path)
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path.name}: {exc.strerror or exc}") from exc


#: JPEG chroma subsampling as libjpeg-turbo names it -> pixels per chroma sample (across, down)
_CHROMA = {"444": (1, 1), "422": (2, 1), "420": (2, 2), "440": (1, 2), "411": (4, 1)}
#: the same from Pillow's JpegImagePlugin.get_sampling
_PIL_CHROMA = {0: (1, 1), 1: (2, 1), 2: (2, 2)}


def _read_rgb(path: Path, data: bytes | bytearray) -> Frame:
    if path.suffix.lower() in JPEG_SUFFIXES:
        decoded = _decode_jpeg(data)
        if decoded is not None:
            pixels, chroma = decoded
            return Frame(kind=FrameKind.JPEG, data=pixels, black=0.0, white=255.0, chroma=chroma)
    return _read_pillow(path, data)


def _decode_jpeg(data: bytes | bytearray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """A JPEG's RGB pixels through libjpeg-turbo (simplejpeg) and its chroma subsampling
    (pixels per colour sample: the pixels of one share their colour, so a defect's colour
    may show at any of them), or None to let Pillow try.

    Why not Pillow for camera JPEGs: Pillow feeds the decoder 64 KB at a time,
    taking the GIL back after each piece (a thread decoding beside another that
    runs Python waits for it every time), and copies the decoded image once more
    into the array. simplejpeg decodes in one call, without the GIL, straight
    into the array: the same pixels (same libjpeg-turbo, same DCT and
    upsampling), in 37 ms instead of 52 for a 10 MP JPEG. Anything it refuses
    (truncated, not really a JPEG) goes to Pillow, whose reasons are the ones
    reported.
    """
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False)
        sampling = simplejpeg.decode_jpeg_header(data)[3]
    except ValueError:
        return None
    return pixels, _CHROMA.get(sampling, (1, 1))


def _read_pillow(path: Path, data: bytes | bytearray) -> Frame:
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() in HEIF_SUFFIXES:
        _register_heif()
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                raise UnsupportedFile(f"single-channel {im.mode} image, not a camera photo")
            if im.mode not in ("RGB", "RGBA", "RGBX", "L", "P", "CMYK", "YCbCr"):
                raise UnsupportedFile(f"unsupported image mode {im.mode}")
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            chroma = _pillow_chroma(im)
            data = np.asarray(rgb)
    except UnidentifiedImageError as exc:
        raise UnsupportedFile("not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableFile(f"damaged image: {exc}") from exc
    return Frame(kind=FrameKind.JPEG, data=data, black=0.0, white=255.0, chroma=chroma)


def _pillow_chroma(im: object) -> tuple[int, int]:
    """A JPEG's chroma subsampling as Pillow read it; (1, 1) for what keeps every colour
    (or does not say)."""
    if getattr(im, "format", None) != "JPEG":
        return (1, 1)
    from PIL import JpegImagePlugin

    return _PIL_CHROMA.get(JpegImagePlugin.get_sampling(im), (1, 1))


@functools.cache
def _register_heif() -> None:
    """Teach Pillow HEIF (once); UnsupportedFile saying what to install if it cannot."""
    try:
        import pillow_heif
    except ImportError as exc:
        raise UnsupportedFile(
            "HEIC/HEIF needs the pillow-heif package (pip install pillow-heif)"
        ) from exc
    pillow_heif.register_heif_opener()


class _Whole:
    """What rawpy's ``open_buffer`` reads a raw from: all of it at once, uncopied."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data

    def read(self) -> bytes | bytearray:
        return self.data


def _read_raw(data: bytes | bytearray) -> Frame:
    import rawpy

    # Not ``with``: the photosites are LibRaw's own buffer, uncopied (a 10 MP copy cost 3-4
    # ms a photo); the array keeps the RawPy object alive, which frees the buffer when
    # the frame goes. A view with margins is copied to be contiguous, as the kernels read.
    raw = rawpy.RawPy()
    try:
        raw.open_buffer(_Whole(data))
        sizes = raw.sizes  # known before unpacking: refuse pixel-less samples first
        _check_has_pixels(len(data), int(sizes.raw_width), int(sizes.raw_height))
        raw.unpack()
        if raw.raw_type != rawpy.RawType.Flat:
            raise UnsupportedFile("linear (already demosaiced) raw: no photosites to watch")
        if raw.raw_pattern is None:
            raise UnsupportedFile("raw has no colour filter pattern (not a mosaic sensor)")
        pattern = np.array(raw.raw_pattern, dtype=np.uint8, copy=True)
        colours = raw.color_desc.decode("ascii", "replace")
        cfa = _colour_pattern(pattern, colours)
        data = np.ascontiguousarray(raw.raw_image_visible, dtype=np.uint16)
        black_levels = tuple(float(b) for b in raw.black_level_per_channel)
        white = float(raw.white_level)
    except rawpy.LibRawFileUnsupportedError as exc:
        raw.close()
        raise UnsupportedFile(f"raw format not supported by LibRaw: {exc}") from exc
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raw.close()
        raise UnreadableFile(f"damaged or truncated raw: {exc}") from exc
    except BaseException:
        raw.close()
        raise
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


def _check_has_pixels(size: int, width: int, height: int) -> None:
    """Refuse a raw whose file is far too small for the photosites it claims.

    Sample collections strip the pixels of raws to keep only the metadata; LibRaw
    then fails, or opens them and returns junk (measured: a 12 KB RW2 claiming
    3724x2754 decodes to values 0..3997).
    """
    photosites = width * height
    if photosites and size * 8 < MIN_RAW_BITS * photosites:
        raise UnsupportedFile(
            f"raw without pixel data: {size} bytes cannot hold {width}x{height} photosites"
            " (metadata-only sample or a copy cut short)"
        )


def _colour_pattern(pattern: np.ndarray, colours: str) -> np.ndarray:
    """LibRaw's pattern of colour indices mapped to 0=R, 1=G, 2=B, validated.

    UnsupportedFile (with the reason) unless the pattern is 2x2 or 6x6, every
    value is an index into LibRaw's colour letters, the letters are R, G, B,
    and the make-up is Bayer's or X-Trans'.
    """
    if pattern.ndim != 2 or pattern.shape not in ((2, 2), (6, 6)):
        raise UnsupportedFile(f"CFA pattern of shape {pattern.shape} is not Bayer or X-Trans")
    bad = sorted({int(v) for v in pattern.flat if int(v) >= min(len(colours), 4)})
    if bad:
        raise UnsupportedFile(
            f"corrupt CFA pattern from LibRaw (colour indices {bad} for colours {colours!r})"
        )
    mapping = {"R": 0, "G": 1, "B": 2}
    out = np.zeros_like(pattern)
    for idx in np.unique(pattern):
        letter = colours[int(idx)]
        if letter not in mapping:
            raise UnsupportedFile(f"colour filter {colours!r} is not RGB")
        out[pattern == idx] = mapping[letter]
    n = out.shape[0]
    counts = tuple(int(c) for c in np.bincount(out.ravel(), minlength=3))
    diagonal_greens = out[0, 0] == out[1, 1] == 1 or out[0, 1] == out[1, 0] == 1
    if counts != _PATTERN_COUNTS[n] or (n == 2 and not diagonal_greens):
        raise UnsupportedFile(
            f"corrupt {n}x{n} CFA pattern from LibRaw (R, G, B counts {counts},"
            f" expected {_PATTERN_COUNTS[n]})"
        )
    return out


def _check_plausible(frame: Frame, min_pixels: int) -> None:
    """Reject thumbnails, previews and raws whose pixels are junk or cut short."""
    h, w = frame.data.shape[:2]
    if h * w < min_pixels or min(h, w) < min(MIN_SIDE, int(min_pixels**0.5)):
        raise UnsupportedFile(f"{w}x{h} is too small to be a camera frame (thumbnail?)")
    if frame.kind is FrameKind.RAW:
        # The whole frame, not a sample: a blown-out frame is one value but for
        # its dead photosites, and that makes it the best evidence of them.
        if int(frame.data.max()) == int(frame.data.min()):
            raise UnsupportedFile("raw pixels are all one value (metadata-only or empty raw)")
        black = float(np.min(frame.black))
        if frame.white <= black:
            raise UnsupportedFile("raw white level is not above its black level")
        _check_not_truncated(frame.data)


def _check_not_truncated(data: np.ndarray) -> None:
    """A raw cut short decodes with its last rows left at zero (LibRaw's fill).

    Real rows never read exactly zero throughout: cameras keep a black level
    above zero, and those that subtract it in camera (Nikon) still leave read
    noise above it. Bottom rows all zero while the top is not mean missing
    data: UnreadableFile (the file may still be being copied). A blown-out
    bottom (all at the white level) is real and passes.
    """
    h = data.shape[0]
    tail = data[h - max(2, h // 64) :]
    if int(tail.max()) == 0:
        raise UnreadableFile(
            f"truncated raw: the last {tail.shape[0]} rows hold no data (all zero)"
        )
