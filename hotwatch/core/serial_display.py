"""A body serial as the camera (and exiftool) shows it, beside the key hotwatch files it under.

Why two spellings: the key must be one string per body whatever the file says (a Canon writes
``012345678`` in a DNG and the integer 12345678 in its maker note; :func:`normalise_serial
<hotwatch.io.exif.names.normalise_serial>` drops the zeros so both give one body). People,
though, compare the serial with the sticker under the camera and with exiftool, and a Canon
EOS 40D's ``0830512345`` printed as ``830512345`` looks like another camera. So each body keeps
its key and is *shown* the way exiftool prints the tag it came from:

* Canon maker-note and CRW serials are 32-bit integers that exiftool prints with a fixed
  width (Canon.pm, tag 0x000C; CanonRaw.pm, tag 0x180B): ``%.10u`` for most models,
  ``%.6u`` for the EOS-1D family, and for the EOS D30 four hex digits then five decimal ones
  (``%.4x%.5d``: "the same format as printed on the camera", exiftool 7.77). A CRW of a D30
  still prints the old hyphenated form (``64-12550``); the camera's own form is shown.
* Other integer serials: Sony 0x2031 ``%.8d`` (Sony.pm), Leica 0x0303 ``%.7d`` (Panasonic.pm).
* Text serials (EXIF BodySerialNumber, DNG CameraSerialNumber, Nikon, Olympus, Sigma...):
  as written, less the padding, NULs, Nikon's ``NO=`` prefix and Panasonic's trailing ``^``
  or ``_``, keeping case and leading zeros (a Sigma SD10's ``02001234``, an EOS R6's
  ``093022004357``).

Pure functions: the reader passes the text it found (``written``), the catalogue stores the
result, and a body read before the spelling was kept is shown by the integer rules alone.
A file that holds the serial twice shows the tag hotwatch ranks first (a Canon DNG: the
converter's CameraSerialNumber ``012345678``, as exiftool prints that tag, where the maker
note's integer prints ``0012345678``).
"""

from __future__ import annotations

import re

INT32_LIMIT = 2**32  #: a Canon maker-note serial is an int32u


def canon_integer(model: str, value: int) -> str:
    """exiftool's spelling of a Canon maker-note (or CRW) integer serial for ``model``."""
    if re.search(r"\bEOS D30\b", model, re.IGNORECASE):
        return f"{value >> 16:04x}{value & 0xFFFF:05d}"
    if "EOS-1D" in model.upper():
        return f"{value:06d}"
    return f"{value:010d}"


def clean_written(text: str) -> str:
    """A text serial as exiftool prints it: padding, NULs, Nikon's ``NO=`` prefix and
    Panasonic's trailing ``^``/``_`` go; case and leading zeros stay."""
    text = text.split("\0", 1)[0].strip()
    text = re.sub(r"^NO\s*=\s*", "", text, flags=re.IGNORECASE)
    return " ".join(text.rstrip(" ^_").split())


def display_serial(
    make: str, model: str, serial: str | None, written: str | None = None
) -> str | None:
    """The serial as the camera and exiftool show it: exiftool's print of the tag it was read
    from.

    ``make`` and ``model`` are hotwatch's normalised names ("CANON", "EOS 40D"), ``serial`` the
    normalised key, ``written`` the text the file holds when the serial came from a text tag
    (None for an integer tag, or when unknown: the integer rules then apply to the key).
    A written spelling that does not name the same serial is ignored.
    """
    if not serial:
        return None
    if written:
        shown = clean_written(written)
        if shown and _spells(shown, serial):
            return shown
    if serial.isdigit():
        value = int(serial)
        if make.upper() == "CANON" and value < INT32_LIMIT:
            return canon_integer(model, value)
        if make.upper() == "SONY" and value < 10**8:
            return f"{value:08d}"
        if make.upper() == "LEICA" and value < 10**7:
            return f"{value:07d}"
    return serial


def _spells(shown: str, serial: str) -> bool:
    """Whether ``shown`` is a spelling of the key ``serial`` (zeros and case aside)."""
    if shown.isdigit() and serial.isdigit():
        return int(shown) == int(serial)
    return shown.upper() == serial.upper()
