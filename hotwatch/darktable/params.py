"""The binary parameters darktable 4.2 keeps in a sidecar, for hotwatch's retouch instance.

Layouts from darktable 4.2's ``src/iop/retouch.c``, ``src/develop/blend.h`` and
``src/develop/masks/*.c`` (notes in ``../shared/notes/darktable.md``): the retouch module's
params (v3: 300 form slots, then the module's globals), the blend params (v11) whose
``mask_id`` names the group of our circles, the form ids hotwatch gives its shapes, and
darktable's encoding of a blob in XMP text (hex, or ``gz`` + base64 of zlib).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from hotwatch.core.errors import HotwatchError

MAX_FORMS = 300  # RETOUCH_NO_FORMS
RETOUCH_MODVERSION = 3
RETOUCH_PARAMS_SIZE = 13260
BLENDOP_VERSION = 11
BLENDOP_SIZE = 420
MASK_VERSION = 6
CIRCLE_CLONE = 1 | 8  # DT_MASKS_CIRCLE | DT_MASKS_CLONE
GROUP_CLONE = 4 | 8  # DT_MASKS_GROUP | DT_MASKS_CLONE
HEAL = 2  # DT_IOP_RETOUCH_HEAL
# Our form ids live in [1e8, 9e8): darktable numbers the user's forms from
# time(NULL) (about 1.7e9), so the ranges never meet.
_FORMID_BASE = 100_000_000
_FORMID_SPAN = 800_000_000

# darktable 4.2's default blend parameters (v11), as darktable itself writes
# them for every module: mask_id (int at byte 24) is the only field we set.
_DEFAULT_BLENDOP = zlib.decompress(base64.b64decode("eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfNoAAE8gGQg="))
assert len(_DEFAULT_BLENDOP) == BLENDOP_SIZE


class SidecarError(HotwatchError):
    """A sidecar cannot be patched safely (unparseable, foreign layout): nothing is written."""


@dataclass(frozen=True)
class HealCircle:
    """One retouch heal circle, in darktable's normalised pipe-input coordinates."""

    x: int  # the defect, in stored/visible coordinates
    y: int
    formid: int
    center: tuple[float, float]
    radius: float
    border: float
    source: tuple[float, float]  # absolute normalised centre of the heal source


def form_ids(kind: str, points: list[tuple[int, int]]) -> list[int]:
    """Deterministic, distinct form ids derived from the frame kind and the positions."""
    used: set[int] = set()
    ids = []
    for x, y in points:
        h = hashlib.sha1(f"hotwatch:{kind}:{x},{y}".encode()).digest()
        fid = _FORMID_BASE + int.from_bytes(h[:8], "little") % _FORMID_SPAN
        while fid in used:
            fid = _FORMID_BASE + (fid - _FORMID_BASE + 1) % _FORMID_SPAN
        used.add(fid)
        ids.append(fid)
    return ids


def group_id(index: int) -> int:
    """The form id of hotwatch's group of circles in its ``index``-th retouch instance."""
    h = hashlib.sha1(f"hotwatch:group:{index}".encode()).digest()
    return _FORMID_BASE + int.from_bytes(h[:8], "little") % _FORMID_SPAN


def retouch_params(shapes: Sequence[HealCircle]) -> bytes:
    """dt_iop_retouch_params_t v3: 300 form slots, then the module's globals."""
    if len(shapes) > MAX_FORMS:
        raise ValueError(f"at most {MAX_FORMS} shapes per retouch instance")
    out = bytearray()
    for i in range(MAX_FORMS):
        formid = shapes[i].formid if i < len(shapes) else 0
        algorithm = HEAL if i < len(shapes) else 0
        # formid, scale, algorithm, blur_type, blur_radius, fill_mode,
        # fill_color[3], fill_brightness, distort_mode
        out += struct.pack("<iiiifi3ffi", formid, 0, algorithm, 0, 10.0, 0, 0, 0, 0, 0.0, 2)
    # algorithm, num_scales, curr_scale, merge_from_scale, preview_levels[3],
    # blur_type, blur_radius, fill_mode, fill_color[3], fill_brightness, max_heal_iter
    out += struct.pack(
        "<iiii3fifi3ffi", HEAL, 0, 0, 0, -3.0, 0.0, 3.0, 0, 10.0, 0, 0, 0, 0, 0.0, 1000
    )
    assert len(out) == RETOUCH_PARAMS_SIZE
    return bytes(out)


def blendop_params(mask_id: int) -> bytes:
    """Default blend params v11 with ``mask_id`` = the group of our circles."""
    b = bytearray(_DEFAULT_BLENDOP)
    struct.pack_into("<i", b, 24, mask_id)
    return bytes(b)


def blendop_mask_id(blob: bytes) -> int:
    return struct.unpack_from("<i", blob, 24)[0] if len(blob) >= 28 else 0


def xmp_decode(text: str) -> bytes:
    """darktable's encoding: hex, or ``gz`` + 2 digits + base64(zlib) (exif.cc)."""
    text = text.strip()
    try:
        if text.startswith("gz"):
            return zlib.decompress(base64.b64decode(text[4:]))
        return bytes.fromhex(text)
    except (ValueError, zlib.error) as e:
        raise SidecarError(f"cannot decode darktable blob {text[:24]!r}: {e}") from e


def xmp_encode(blob: bytes) -> str:
    """Plain lowercase hex: always decodable by darktable, whatever the compression ratio."""
    return blob.hex()
