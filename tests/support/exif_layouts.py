"""Write real image files whose EXIF uses each camera maker's tag layout.

A small TIFF/IFD writer of our own, because maker notes carry offsets that
depend on where the note lands in the file: relative to the TIFF header (Canon,
Pentax "AOC\\0", Panasonic, Sony, old Olympus), to the note's own TIFF header
(Nikon type 3), or to the note's start (Fujifilm, new Olympus). The EXIF block
built here is handed to Pillow, which writes it verbatim as the JPEG's APP1
segment; exiftool (the reference reader) is used in the tests to check that
every layout is what a real camera writes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ASCII, SHORT, LONG, RATIONAL, UNDEFINED, IFD = 2, 3, 4, 5, 7, 13
_SIZES = {1: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, IFD: 4}


@dataclass(frozen=True)
class Entry:
    """One IFD entry. ``value`` may be a callable(position) -> bytes for blobs
    whose content depends on where they land (maker notes, sub-IFDs)."""

    tag: int
    type: int
    value: object


def ascii_(tag: int, text: str | bytes) -> Entry:
    raw = text.encode("latin-1") if isinstance(text, str) else text
    return Entry(tag, ASCII, raw if raw.endswith(b"\0") else raw + b"\0")


def short(tag: int, *values: int) -> Entry:
    return Entry(tag, SHORT, values)


def long_(tag: int, *values: int) -> Entry:
    return Entry(tag, LONG, values)


def rational(tag: int, *pairs: tuple[int, int]) -> Entry:
    return Entry(tag, RATIONAL, pairs)


def undefined(tag: int, data: bytes | Callable[[int], bytes]) -> Entry:
    return Entry(tag, UNDEFINED, data)


def _encode(entry: Entry, pos: int, e: str) -> bytes:
    """Value bytes of an entry; ``pos`` is where the value will sit (for blobs)."""
    v = entry.value
    if callable(v):
        return v(pos)
    if entry.type in (ASCII, UNDEFINED, 1):
        return bytes(v)  # type: ignore[arg-type]
    if entry.type == SHORT:
        return struct.pack(f"{e}{len(v)}H", *v)  # type: ignore[arg-type]
    if entry.type in (LONG, IFD):
        return struct.pack(f"{e}{len(v)}I", *v)  # type: ignore[arg-type]
    if entry.type == RATIONAL:
        return b"".join(struct.pack(f"{e}II", n, d) for n, d in v)  # type: ignore[union-attr]
    raise ValueError(entry.type)


def ifd(entries: Sequence[Entry], pos: int, e: str = "<", next_ifd: int = 0) -> bytes:
    """An IFD written at offset ``pos`` (relative to whatever base the reader uses),
    followed by its out-of-line values. Offsets inside are ``pos``-based."""
    entries = sorted(entries, key=lambda x: x.tag)
    head = 2 + 12 * len(entries) + 4
    table = struct.pack(f"{e}H", len(entries))
    data = b""
    for entry in entries:
        here = pos + head + len(data)
        raw = _encode(entry, here, e)
        if callable(entry.value):  # size must not depend on the position
            assert len(_encode(entry, 0, e)) == len(raw)
        count = len(raw) // _SIZES[entry.type]
        if len(raw) <= 4:
            field = raw.ljust(4, b"\0")
        else:
            field = struct.pack(f"{e}I", here)
            data += raw + (b"\0" if len(raw) % 2 else b"")
        table += struct.pack(f"{e}HHI", entry.tag, entry.type, count) + field
    return table + struct.pack(f"{e}I", next_ifd) + data


def tiff(ifd0: Sequence[Entry], exif: Sequence[Entry] = (), e: str = "<") -> bytes:
    """A TIFF stream: header, IFD0 (+ ExifOffset) and the EXIF IFD after it."""
    header = (b"II*\0" if e == "<" else b"MM\0*") + struct.pack(f"{e}I", 8)
    if not exif:
        return header + ifd(ifd0, 8, e)
    probe = ifd([*ifd0, long_(0x8769, 0)], 8, e)
    exif_pos = 8 + len(probe)
    first = ifd([*ifd0, long_(0x8769, exif_pos)], 8, e)
    return header + first + ifd(exif, exif_pos, e)


def write_jpeg(
    path: Path,
    tiff_bytes: bytes,
    size: tuple[int, int] = (16, 12),
    xmp: bytes = b"",
    jfif: bool = False,
) -> Path:
    """A real JPEG (Pillow) carrying this EXIF block verbatim, and an XMP packet if given.

    Like a camera's, the EXIF segment comes first; ``jfif=True`` keeps Pillow's
    JFIF segment in front of it, as an editor's re-save does."""
    im = Image.new("RGB", size, (40, 80, 120))
    im.save(path, "JPEG", exif=b"Exif\0\0" + tiff_bytes, quality=90)
    data = path.read_bytes()
    if not jfif and data[2:4] == b"\xff\xe0":  # cameras write EXIF first, no JFIF
        seg_len = struct.unpack(">H", data[4:6])[0]
        data = data[:2] + data[4 + seg_len :]
    path.write_bytes(data)
    if xmp:
        payload = b"http://ns.adobe.com/xap/1.0/\0" + xmp
        seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
        path.write_bytes(data[:2] + seg + data[2:])
    return path


def xmp_packet(elements: dict[str, str] | None = None, **props: str) -> bytes:
    """An XMP packet like Lightroom's, e.g. ``xmp_packet(**{"aux:SerialNumber": "123"})``.

    ``props`` are written as attributes; ``elements`` as child elements, an ``rdf:Seq``
    when the value holds several words (``{"exif:ISOSpeedRatings": "400"}`` is written
    the way editors write that property: a one-item sequence)."""
    attrs = " ".join(f'{k}="{v}"' for k, v in props.items())
    children = ""
    for name, value in (elements or {}).items():
        items = "".join(f"<rdf:li>{v}</rdf:li>" for v in value.split())
        seq = name.endswith(("ISOSpeedRatings", "PhotographicSensitivity"))
        inner = f"<rdf:Seq>{items}</rdf:Seq>" if seq else value
        children += f"<{name}>{inner}</{name}>"
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
        'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        'xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        'xmlns:exifEX="http://cipa.jp/exif/1.0/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        f"{attrs}>{children}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def camera_jpeg(
    path: Path,
    make: str,
    model: str,
    exif: Sequence[Entry] = (),
    ifd0: Sequence[Entry] = (),
    maker_note: Callable[[int], bytes] | bytes | None = None,
    xmp: bytes = b"",
    jfif: bool = False,
) -> Path:
    """A JPEG from ``make``/``model`` with extra EXIF entries and a maker note."""
    zero = [ascii_(0x010F, make), ascii_(0x0110, model), *ifd0]
    sub = list(exif) or [ascii_(0x9003, "2024:05:06 07:08:09")]
    if maker_note is not None:
        sub.append(undefined(0x927C, maker_note))
    return write_jpeg(path, tiff(zero, sub), xmp=xmp, jfif=jfif)


# -- maker notes, each as its maker writes it ---------------------------------


def nikon_type3(entries: Sequence[Entry]) -> bytes:
    """ "Nikon\\0\\x02\\x10\\0\\0" + its own TIFF header; offsets from that header."""
    return b"Nikon\0\x02\x10\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd(entries, 8, "<")


def canon(entries: Sequence[Entry]) -> Callable[[int], bytes]:
    """A plain IFD; offsets from the file's TIFF header (so it depends on position)."""
    return lambda pos: ifd(entries, pos, "<")


def fujifilm(entries: Sequence[Entry]) -> bytes:
    """ "FUJIFILM" + offset 12 (little-endian always); offsets from the note's start."""
    return b"FUJIFILM" + struct.pack("<I", 12) + ifd(entries, 12, "<")


def olympus_old(entries: Sequence[Entry]) -> Callable[[int], bytes]:
    """ "OLYMP\\0\\x01\\0" + IFD, offsets from the TIFF header (E-1 era and older)."""
    return lambda pos: b"OLYMP\0\x01\0" + ifd(entries, pos + 8, "<")


def olympus_new(entries: Sequence[Entry], equipment: Sequence[Entry]) -> bytes:
    """ "OLYMPUS\\0II\\x03\\0" + IFD at 12, offsets from the note's start; the body
    serial sits in the Equipment sub-IFD (0x2010, tag 0x0101), as in E-M and OM bodies."""
    probe = ifd([*entries, Entry(0x2010, IFD, (0,))], 12, "<")
    eq_pos = 12 + len(probe)
    main = ifd([*entries, Entry(0x2010, IFD, (eq_pos,))], 12, "<")
    return b"OLYMPUS\0II\x03\0" + main + ifd(equipment, eq_pos, "<")


def pentax(entries: Sequence[Entry]) -> Callable[[int], bytes]:
    """ "AOC\\0" + byte order "MM" + IFD (big-endian), offsets from the TIFF header."""
    return lambda pos: b"AOC\0MM" + ifd(entries, pos + 6, ">")


def sony(entries: Sequence[Entry]) -> Callable[[int], bytes]:
    """ "SONY DSC \\0\\0\\0" + IFD, offsets from the TIFF header."""
    return lambda pos: b"SONY DSC \0\0\0" + ifd(entries, pos + 12, "<")


def panasonic(entries: Sequence[Entry]) -> Callable[[int], bytes]:
    """ "Panasonic\\0\\0\\0" + IFD, offsets from the TIFF header."""
    return lambda pos: b"Panasonic\0\0\0" + ifd(entries, pos + 12, "<")


def write_dng(
    path: Path,
    make: str,
    model: str,
    serial: str,
    size: tuple[int, int] = (8, 6),
    extratags: Sequence[tuple] = (),
) -> Path:
    """A small DNG (numpy + tifffile) with CameraSerialNumber 0xC62F in IFD0, and any
    ``extratags`` (tifffile's form: code, dtype, count, value, writeonce) beside it."""
    import tifffile

    data = np.arange(size[0] * size[1], dtype=np.uint16).reshape(size[1], size[0])
    tifffile.imwrite(
        path,
        data,
        photometric="minisblack",
        extratags=[
            (271, "s", 0, make, True),
            (272, "s", 0, model, True),
            (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
            (50708, "s", 0, f"{make} {model}", True),  # UniqueCameraModel
            (50735, "s", 0, serial, True),  # CameraSerialNumber
            *extratags,
        ],
    )
    return path


# -- DNGs whose shot facts sit elsewhere -----------------------------------------

EXIF_IFD = 0x8769
#: every tag that dates a shot: DateTime, DateTimeOriginal/Digitized, their offsets
#: and subseconds
DATE_TAGS = frozenset({0x0132, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292})


def _read_ifd(data: bytes, pos: int) -> tuple[dict[int, bytes], int]:
    """A little-endian IFD's raw 12-byte entries by tag, and its next-IFD offset."""
    (count,) = struct.unpack_from("<H", data, pos)
    entries = {}
    for i in range(count):
        raw = data[pos + 2 + 12 * i : pos + 14 + 12 * i]
        entries[struct.unpack_from("<H", raw)[0]] = raw
    (next_ifd,) = struct.unpack_from("<I", data, pos + 2 + 12 * count)
    return entries, next_ifd


def _ifd_of(entries: dict[int, bytes], next_ifd: int) -> bytes:
    table = b"".join(entries[tag] for tag in sorted(entries))
    return struct.pack("<H", len(entries)) + table + struct.pack("<I", next_ifd)


def rewrite_dng_tags(path: Path, *, into_ifd0: bool = True, drop: Iterable[int] = ()) -> Path:
    """Move a DNG's EXIF-IFD entries into IFD0, and/or remove tags, in place.

    ``into_ifd0`` writes the file as pidng (the DNG writer of Raspberry Pi camera
    software) and some other DNG writers do: DateTimeOriginal, ExposureTime, ISO... in
    IFD0 beside the image tags, no EXIF IFD. ``drop`` removes tags from both IFDs (e.g.
    ``DATE_TAGS``: a file that keeps no date). The new IFDs are appended and pointed at;
    every value stays where it was, so every offset in the file stays valid and LibRaw
    decodes the same photosites. Little-endian TIFF only (tifffile's and camsim's).
    """
    data = bytearray(path.read_bytes())
    if data[:4] != b"II*\0":
        raise ValueError(f"{path} is not a little-endian TIFF")
    drop = set(drop)
    (ifd0_pos,) = struct.unpack_from("<I", data, 4)
    ifd0, next_ifd = _read_ifd(bytes(data), ifd0_pos)
    exif: dict[int, bytes] = {}
    if EXIF_IFD in ifd0:
        (exif_pos,) = struct.unpack_from("<I", ifd0[EXIF_IFD], 8)
        exif, _ = _read_ifd(bytes(data), exif_pos)
    ifd0 = {t: e for t, e in ifd0.items() if t not in drop and t != EXIF_IFD}
    exif = {t: e for t, e in exif.items() if t not in drop}
    if into_ifd0:
        ifd0 = {**exif, **ifd0}
    elif exif:
        data += b"\0" * (len(data) % 2)
        link = struct.pack("<HHII", EXIF_IFD, 4, 1, len(data))
        data += _ifd_of(exif, 0)
        ifd0[EXIF_IFD] = link
    data += b"\0" * (len(data) % 2)
    struct.pack_into("<I", data, 4, len(data))
    data += _ifd_of(ifd0, next_ifd)
    path.write_bytes(bytes(data))
    return path
