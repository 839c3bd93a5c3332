"""Camera names as users know them: one spelling per make, model and body serial.

Makes are spelled as users know the brand: NIKON, CANON, SONY, FUJIFILM, OLYMPUS, "OM
SYSTEM" (bodies made by OM Digital Solutions: OM-1, OM-5; no body ever carries both makes,
so keys never split), PENTAX (also "RICOH IMAGING COMPANY, LTD." for PENTAX models; its GR
cameras are RICOH), PANASONIC, LEICA, SIGMA, KODAK, APPLE, SAMSUNG, GOOGLE...; unknown makes
are upper-cased with corporate suffixes removed. Re-identification
(:mod:`hotwatch.pipeline.reidentify`) applies these to stored bodies too.
"""

from __future__ import annotations

import math
import re

from .values import clean_text

# (pattern on the upper-cased make, brand). First match wins.
_MAKE_RULES: tuple[tuple[str, str], ...] = (
    (r"^NIKON", "NIKON"),
    (r"^CANON", "CANON"),
    (r"^SONY", "SONY"),
    (r"^FUJI", "FUJIFILM"),
    (r"^OLYMPUS", "OLYMPUS"),
    (r"^OM DIGITAL", "OM SYSTEM"),
    (r"^OM SYSTEM", "OM SYSTEM"),
    (r"^(PENTAX|ASAHI)", "PENTAX"),
    (r"^RICOH IMAGING", "PENTAX"),
    (r"^RICOH", "RICOH"),
    (r"^PANASONIC", "PANASONIC"),
    (r"^LEICA", "LEICA"),
    (r"^SIGMA", "SIGMA"),
    (r"(EASTMAN )?KODAK", "KODAK"),
    (r"^APPLE", "APPLE"),
    (r"^SAMSUNG", "SAMSUNG"),
    (r"^GOOGLE", "GOOGLE"),
    (r"^HASSELBLAD", "HASSELBLAD"),
    (r"^PHASE ONE", "PHASE ONE"),
    (r"^KONICA MINOLTA", "KONICA MINOLTA"),
    (r"^MINOLTA", "MINOLTA"),
    (r"^CASIO", "CASIO"),
    (r"^(SEIKO )?EPSON", "EPSON"),
    (r"^GOPRO", "GOPRO"),
    (r"^DJI", "DJI"),
    (r"^HUAWEI", "HUAWEI"),
    (r"^XIAOMI", "XIAOMI"),
    (r"^MOTOROLA", "MOTOROLA"),
)


_CORPORATE = re.compile(
    r"[\s,.]+(CORPORATION|CORP|CO|LTD|LIMITED|INC|COMPANY|GMBH|AG|S\.?A|IMAGING|CAMERA)\b\.?",
)


# Words a model may repeat from its make ("Canon EOS 5D", "NIKON D80").
_MODEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "KODAK": ("EASTMAN KODAK COMPANY", "KODAK"),
    "FUJIFILM": ("FUJIFILM", "FUJI"),
    "OM SYSTEM": ("OM SYSTEM", "OM DIGITAL SOLUTIONS"),
    "PHASE ONE": ("PHASE ONE",),
    "KONICA MINOLTA": ("KONICA MINOLTA", "MINOLTA"),
}


_PLACEHOLDER_SERIALS = frozenset(
    {"", "NONE", "N/A", "NA", "UNKNOWN", "SERIAL", "SERIALNUMBER", "-", "X", "XXXXXXXX"}
)


def normalise_make(make: str, model: str | None = None) -> str:
    """The brand as users know it: "NIKON CORPORATION" and "Nikon" -> "NIKON".

    ``model`` only settles "RICOH IMAGING COMPANY, LTD.", which made both
    PENTAX bodies (model "PENTAX K-3 Mark III") and RICOH GR cameras.
    """
    text = clean_text(make).upper()
    for pattern, brand in _MAKE_RULES:
        if re.search(pattern, text):
            ricoh_model = model is not None and not clean_text(model).upper().startswith("PENTAX")
            if brand == "PENTAX" and text.startswith("RICOH") and ricoh_model:
                return "RICOH"
            return brand
    stripped = _CORPORATE.sub("", text).strip(" ,.")
    return " ".join(stripped.split()) or text


def normalise_model(make: str, model: str) -> str:
    """Model without the make it repeats ("Canon EOS 5D" -> "EOS 5D"), blanks collapsed."""
    text = clean_text(model)
    brand = normalise_make(make, model) if make else ""
    raw_make = clean_text(make).upper()
    prefixes = {brand, raw_make, raw_make.split(" ")[0] if raw_make else ""}
    prefixes.update(_MODEL_PREFIXES.get(brand, ()))
    upper = text.upper()
    for prefix in sorted((p for p in prefixes if p), key=len, reverse=True):
        if upper.startswith(prefix) and len(text) > len(prefix):
            rest = text[len(prefix) :]
            if rest[0] == " ":  # "OM-1" keeps its "OM"
                rest = rest.lstrip(" ")
                if rest:
                    return rest
    return text


def normalise_serial(raw: object, make: str | None = None) -> str | None:
    """One spelling per body serial, or None for a placeholder.

    ``NO= 20025585`` -> ``20025585``; blanks, NULs and trailing ``^``/``_`` go;
    all-digit serials lose leading zeros (Canon writes ``012345678`` in DNG and
    ``12345678`` in JPEG); ``0``, all zeros, ``KFFFFFFF``, empty or byte junk
    give None. ``make`` is accepted for maker-specific rules (none needed yet:
    the generic ones cover the spellings measured in real files).
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw) or raw != int(raw):
            return None
        raw = int(raw)
    if isinstance(raw, int):
        return str(raw) if raw > 0 else None
    if isinstance(raw, str) and re.fullmatch(r"\d{1,3}(?: \d{1,3})+", raw.strip()):
        # exiftool -n prints an int8u[] tag as its byte values ("0 0 106 13 112 15",
        # Sony ILCE-1 InternalSerialNumber): judge the bytes, as for exifread's lists.
        values = [int(v) for v in raw.split()]
        raw = values if max(values) < 256 else raw
    if isinstance(raw, list | tuple):  # exifread values of a BYTE/UNDEFINED tag
        if not all(isinstance(v, int) and 0 <= v < 256 for v in raw):
            return None
        raw = bytes(raw)
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).split(b"\0", 1)[0]
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    text = str(raw).split("\0", 1)[0].strip()
    if any(not (32 <= ord(c) < 127) for c in text):
        return None  # byte junk (e.g. Sony ILCE-1) or non-ASCII: not a serial
    text = re.sub(r"^NO\s*=\s*", "", text, flags=re.IGNORECASE)
    text = text.rstrip(" ^_")
    text = " ".join(text.split()).upper()
    if text.isdigit():
        text = text.lstrip("0")
    if text in _PLACEHOLDER_SERIALS or re.fullmatch(r"K?F+", text):
        return None
    return text
