"""Defect maps in the formats other raw tools read, as plain text.

* dcraw / LibRaw ``-P``: ``col row unix_time`` per line, in ``raw_image_visible``
  coordinates (the visible area after LibRaw's margins, which dcraw 9.28 shares); dcraw only
  fixes a pixel in photos taken after its time, so the onset goes there (clamped to a
  signed 32-bit integer, as dcraw reads it).
* RawTherapee: ``<Make> <Model> <serial>.badpixels`` in its dark-frame folder, ``x y`` per
  line in RawTherapee's own raw grid: ``raw_image_visible`` moved by the camera's
  camconst.json ``raw_crop`` origin when it has one (:mod:`.rawtherapee`).
* JSON: the same structure as ``hotwatch defects --json``: one entry per accumulator
  (``cameras``) and one list per body, one entry per physical defect with its photosite
  and its position in each JPEG geometry (``bodies``).

The dcraw and RawTherapee maps hold the body's defects that a raw showed (their photosite is
exact): one line per physical defect, dated by the earliest onset any of its sightings
supports (a JPEG may have shown it first).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from hotwatch.core.frame_map import FrameMap
from hotwatch.core.model import BodyId, Defect, DefectKind
from hotwatch.core.sensor import Geometry, SensorDefect, SensorView
from hotwatch.core.serial_display import INT32_LIMIT, canon_integer

INT32_MAX = 2**31 - 1


def dcraw_lines(defects: Sequence[Defect]) -> str:
    """dcraw ``-P`` file text; unknown onsets get time 0 (always applied)."""
    rows = []
    for d in sorted(defects, key=lambda d: (d.y, d.x)):
        t = int(d.onset.timestamp()) if d.onset else 0
        rows.append(f"{d.x:5d} {d.y:5d} {max(0, min(t, INT32_MAX))}")
    return "".join(r + "\n" for r in rows)


def photosite_defects(view: SensorView) -> list[Defect]:
    """The body's defects a raw showed, at their photosites, one per physical defect, with
    the earliest onset and confirmation any of its sightings supports."""
    out = []
    for d in view.defects:
        if d.photosite is None or not d.exact:
            continue
        x, y = d.photosite
        out.append(Defect(x, y, d.kind, d.score, d.onset, d.confirmed))
    return sorted(out, key=lambda d: (d.y, d.x))


#: RawTherapee matches the file name exactly, with dcraw's spelling of the maker.
DCRAW_MAKERS = (
    "AgfaPhoto",
    "Canon",
    "Casio",
    "Epson",
    "Fujifilm",
    "Mamiya",
    "Minolta",
    "Motorola",
    "Kodak",
    "Konica",
    "Leica",
    "Nikon",
    "Nokia",
    "Olympus",
    "Pentax",
    "Phase One",
    "Ricoh",
    "Samsung",
    "Sigma",
    "Sinar",
    "Sony",
)


def dcraw_maker(make: str, model: str = "") -> str:
    """The maker as dcraw/LibRaw (and so RawTherapee) spells it."""
    if model.upper().startswith("PENTAX"):
        return "Pentax"
    upper = make.upper()
    for name in DCRAW_MAKERS:
        if name.upper() in upper:
            return name
    return make.strip()


def rawtherapee_camera(body: BodyId, exif_make: str | None = None) -> str:
    """``<Make> <Model>`` as RawTherapee names the camera (dcraw's spelling): its
    ``.badpixels`` file names and its camconst.json entries use it."""
    model = body.model
    maker = dcraw_maker(exif_make or body.make, model)
    if model.upper().startswith(maker.upper() + " "):
        model = model[len(maker) + 1 :]
    return f"{maker} {model}"


def rawtherapee_serial(body: BodyId) -> str | None:
    """The serial as RawTherapee spells it in file names.

    It reads the EXIF SerialNumber tag first, then the maker note's (rtengine/imagedata.cc):
    a text serial as written (an EOS R6's ``093022004357``), a maker-note integer without
    leading zeros (a Canon EOS 40D's ``830512345``, where the camera shows ``0830512345``).
    A shown spelling that is exactly exiftool's rule for a Canon integer is taken for one.
    """
    if body.serial is None:
        return None
    shown = body.serial_shown or body.serial
    integer = (
        body.make.upper() == "CANON"
        and body.serial.isdigit()
        and int(body.serial) < INT32_LIMIT
        and shown == canon_integer(body.model, int(body.serial))
    )
    return body.serial if integer else shown


def rawtherapee_name(body: BodyId, exif_make: str | None = None) -> str:
    """RawTherapee looks for ``<Make> <Model>[ <serial>].badpixels`` (rtengine/dfmanager.cc).

    For makers dcraw does not know, it uses the file's own EXIF make as written,
    so pass ``exif_make`` (read from one of the body's raws) when you have it.
    """
    serial = rawtherapee_serial(body)
    return rawtherapee_camera(body, exif_make) + (f" {serial}" if serial else "") + ".badpixels"


def rawtherapee_lines(
    defects: Sequence[Defect],
    offset: tuple[int, int] = (0, 0),
    size: tuple[int, int] | None = None,
) -> str:
    """``x y`` per line in RawTherapee's raw grid: ``raw_image_visible`` minus ``offset``
    (:func:`hotwatch.outputs.rawtherapee.grid`); points outside its ``size`` are left out."""
    dx, dy = offset
    rows = []
    for d in sorted(defects, key=lambda d: (d.y, d.x)):
        x, y = d.x - dx, d.y - dy
        if x < 0 or y < 0 or (size is not None and (x >= size[0] or y >= size[1])):
            continue
        rows.append(f"{x} {y}\n")
    return "".join(rows)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def camera_dict(
    body: BodyId, frame: str, width: int, height: int, frames: int, defects: Sequence[Defect]
) -> dict:
    """One accumulator's entry: its body (the serial as the camera shows it, and its key's
    spelling), frame geometry, photos and defects."""
    return {
        "make": body.make,
        "model": body.model,
        "serial": body.serial_shown,
        "serial_key": body.serial,
        "frame": frame,
        "width": width,
        "height": height,
        "frames": frames,
        "defects": [d.to_dict() for d in defects],
    }


def _map_dict(fmap: FrameMap | None, status: str) -> dict:
    if fmap is None:
        return {"status": status}
    ox, oy = fmap.crop_origin()
    return {
        "status": status,
        "sx": fmap.sx,
        "tx": fmap.tx,
        "sy": fmap.sy,
        "ty": fmap.ty,
        "crop_origin": [round(ox, 3), round(oy, 3)],
    }


def sensor_defect_dict(d: SensorDefect) -> dict:
    """One physical defect: its photosite (and whether a raw showed it there), its position
    in each geometry (and whether that geometry showed it), one kind, the earliest dates."""
    shown = set(d.shown_in)
    return {
        "photosite": None if d.photosite is None else {"x": d.photosite[0], "y": d.photosite[1]},
        "photosite_exact": d.exact,
        "kind": DefectKind(d.kind).value,
        "score": d.score,
        "onset": iso(d.onset),
        "confirmed": iso(d.confirmed),
        "kinds": [k.value for k in d.kinds],
        "shown_in": [g.label for g in d.shown_in],
        "positions": [
            {
                "frame": g.kind.value,
                "width": g.width,
                "height": g.height,
                "x": x,
                "y": y,
                "shown": g in shown,
            }
            for g, (x, y) in sorted(d.positions.items(), key=lambda item: item[0].rank)
        ],
    }


def body_dict(
    body: BodyId,
    view: SensorView,
    frames: Mapping[Geometry, int],
    statuses: Mapping[Geometry, str],
) -> dict:
    """A body's one defect list: its sensor geometry, how each JPEG geometry is placed on it
    (``statuses``: map status per geometry, "known", "learning", "failed" or "none"), which
    are listed apart, and one entry per physical defect."""
    geometries = []
    for g in view.geometries:
        status = "sensor" if g == view.sensor else statuses.get(g, "none")
        entry = {"frame": g.kind.value, "width": g.width, "height": g.height}
        entry |= {"frames": frames.get(g, 0), "apart": g in view.apart}
        if g != view.sensor:
            entry["map"] = _map_dict(view.maps.get(g), status)
        geometries.append(entry)
    return {
        **body.fields(),
        "sensor": None if view.sensor is None else view.sensor.label,
        "unified": view.unified,
        "note": apart_note(view),
        "geometries": geometries,
        "defects": [sensor_defect_dict(d) for d in sorted(view.defects, key=_place)],
    }


def _place(d: SensorDefect) -> tuple:
    """Where a defect is listed: by photosite (row, column), then by its first position; the
    same whatever order its sightings were found in."""
    g, (x, y) = min(d.positions.items(), key=lambda item: item[0].rank)
    site = (d.photosite[1], d.photosite[0]) if d.photosite else (-1, -1)
    return site, g.rank, y, x


def apart_note(view: SensorView) -> str:
    """Why some geometries' defects are listed apart (empty when none are)."""
    if not view.apart or (view.sensor is None and len(view.apart) < 2):
        return ""  # nothing apart, or a body with one JPEG size and no raws: nothing to place
    names = ", ".join(g.label for g in view.apart)
    if view.sensor is None:
        return f"no raw photos: the defects of {names} are listed apart"
    return (
        f"not yet placed on the {view.sensor.label} sensor (no known map): the defects of "
        f"{names} are listed apart, never matched by equal coordinates"
    )


def to_json(cameras: Sequence[dict], bodies: Sequence[dict] | None = None) -> str:
    out: dict = {"cameras": list(cameras)}
    if bodies is not None:
        out["bodies"] = list(bodies)
    return json.dumps(out, indent=2) + "\n"
