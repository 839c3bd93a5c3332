"""darktable sidecars: heal a known list of defects with the retouch module.

darktable 4.2 can only heal an exact list of pixels through *retouch* heal
circles stored in the image's XMP sidecar (styles carry no masks, the hot
pixels module is threshold-driven). This module builds and patches those
sidecars as pure text; it never touches the catalogue or runs darktable. The circles come
from :mod:`hotwatch.darktable.heal`, their binary parameters from
:mod:`hotwatch.darktable.params`, the pipe orders from :mod:`hotwatch.darktable.iop_order`.

Layout facts (darktable 4.2, ``src/iop/retouch.c``, ``src/develop/blend.h``,
``src/develop/masks/*.c``, ``src/common/exif.cc``, ``src/common/iop_order.c``)
are in ``../shared/notes/darktable.md``. darktable 5.x renders these sidecars as 4.2 does;
when it writes one back, hotwatch's entries come out in 5.x's own form (renumbered, blend
params of version 14, v5.0 pipe orders), which the patcher still recognises as its own.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hotwatch.io.fileio import write_atomically

from .iop_order import ORDER_LISTS, V30, V30_JPG
from .params import (
    BLENDOP_VERSION,
    CIRCLE_CLONE,
    GROUP_CLONE,
    MASK_VERSION,
    MAX_FORMS,
    RETOUCH_MODVERSION,
    HealCircle,
    SidecarError,
    blendop_mask_id,
    blendop_params,
    group_id,
    retouch_params,
    xmp_decode,
    xmp_encode,
)

# ----------------------------------------------------------------- constants

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DT = "http://darktable.sf.net/"
NS_XMPMM = "http://ns.adobe.com/xap/1.0/mm/"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
_BASE_NAMESPACES = {
    "x": NS_X,
    "rdf": NS_RDF,
    "exif": "http://ns.adobe.com/exif/1.0/",
    "xmp": NS_XMP,
    "xmpMM": NS_XMPMM,
    "darktable": NS_DT,
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
}

MULTI_NAME = "hotwatch"


# ------------------------------------------------------------------- geometry


# ------------------------------------------------------------- binary params


# ----------------------------------------------------------------- XML model


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


_MASK_FIELDS = [
    "mask_num",
    "mask_id",
    "mask_type",
    "mask_name",
    "mask_version",
    "mask_points",
    "mask_nb",
    "mask_src",
]


def _get(li: ET.Element, name: str) -> str | None:
    """A darktable field of an rdf:li, as attribute or as child element."""
    v = li.get(_q(NS_DT, name))
    if v is not None:
        return v
    child = li.find(_q(NS_DT, name))
    return None if child is None else (child.text or "")


def _set(li: ET.Element, name: str, value: str) -> None:
    child = li.find(_q(NS_DT, name))
    if child is not None:
        child.text = value
    else:
        li.set(_q(NS_DT, name), value)


@dataclass
class _Doc:
    root: ET.Element
    desc: ET.Element
    history: list[ET.Element]  # rdf:li of darktable:history, in document order
    masks: list[ET.Element]  # rdf:li of darktable:masks_history
    history_seq: ET.Element
    masks_seq: ET.Element

    @property
    def history_end(self) -> int:
        v = self.desc.get(_q(NS_DT, "history_end"))
        if v is None:
            return len(self.history)
        try:
            return max(0, min(int(v), len(self.history)))
        except ValueError as e:
            raise SidecarError(f"history_end is not a number: {v!r}") from e


def _parse(xmp_text: str) -> _Doc:
    """Parse a sidecar, refusing anything we could not write back faithfully."""
    try:
        for _event, (prefix, uri) in ET.iterparse(_as_bytes_io(xmp_text), events=("start-ns",)):
            if prefix and not re.fullmatch(r"ns\d+", prefix):
                ET.register_namespace(prefix, uri)
        root = ET.fromstring(xmp_text)
    except ET.ParseError as e:
        raise SidecarError(f"sidecar is not valid XML: {e}") from e
    rdf = root if root.tag == _q(NS_RDF, "RDF") else root.find(_q(NS_RDF, "RDF"))
    if rdf is None:
        raise SidecarError("sidecar has no rdf:RDF element: not an XMP file")
    descs = rdf.findall(_q(NS_RDF, "Description"))
    if not descs:
        raise SidecarError("sidecar has no rdf:Description")
    desc = next(
        (
            d
            for d in descs
            if d.find(_q(NS_DT, "history")) is not None
            or any(k.startswith(f"{{{NS_DT}}}") for k in d.attrib)
        ),
        descs[0],
    )
    history_seq = _seq(desc, "history")
    masks_seq = _seq(desc, "masks_history")
    history = history_seq.findall(_q(NS_RDF, "li"))
    masks = masks_seq.findall(_q(NS_RDF, "li"))
    for i, li in enumerate(history):
        num = _get(li, "num")
        if _get(li, "operation") is None or (num is not None and num != str(i)):
            raise SidecarError(f"history entry {i} is malformed (num={num!r})")
    doc = _Doc(root, desc, history, masks, history_seq, masks_seq)
    _ = doc.history_end  # validates
    return doc


def _as_bytes_io(text: str):
    import io

    return io.BytesIO(text.encode("utf-8"))


def _seq(desc: ET.Element, name: str) -> ET.Element:
    """The rdf:Seq under darktable:<name>, created when missing."""
    holder = desc.find(_q(NS_DT, name))
    if holder is None:
        holder = ET.SubElement(desc, _q(NS_DT, name))
    seq = holder.find(_q(NS_RDF, "Seq"))
    if seq is None:
        if len(holder):
            raise SidecarError(f"darktable:{name} does not hold an rdf:Seq")
        seq = ET.SubElement(holder, _q(NS_RDF, "Seq"))
    return seq


def _minimal_xmp(kind: str, image_filename: str) -> str:
    """A sidecar with no history, in the form darktable 4.2 writes after import."""
    order = 2  # darktable 4.2 gives a freshly imported JPEG and RAW v3.0 (measured)
    ns = " ".join(f'xmlns:{p}="{u}"' for p, u in _BASE_NAMESPACES.items() if p not in ("x", "rdf"))
    name = _xml_attr(image_filename)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<x:xmpmeta xmlns:x="{NS_X}" x:xmptk="XMP Core 4.4.0-Exiv2">\n'
        f' <rdf:RDF xmlns:rdf="{NS_RDF}">\n'
        f'  <rdf:Description rdf:about="" {ns}\n'
        f'   xmpMM:DerivedFrom="{name}" darktable:xmp_version="5" darktable:raw_params="0"\n'
        f'   darktable:auto_presets_applied="0" darktable:history_end="0"\n'
        f'   darktable:iop_order_version="{order}">\n'
        "   <darktable:masks_history><rdf:Seq/></darktable:masks_history>\n"
        "   <darktable:history><rdf:Seq/></darktable:history>\n"
        "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
    )


def _xml_attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _serialise(doc: _Doc) -> str:
    for p, u in _BASE_NAMESPACES.items():
        ET.register_namespace(p, u)
    ET.indent(doc.root, space=" ")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ET.tostring(doc.root, encoding="unicode")
        + "\n"
    )


# ------------------------------------------------------------ patch semantics


@dataclass(frozen=True)
class _Form:
    id: int
    type: int
    name: str
    version: str
    points: bytes
    nb: int
    src: bytes

    @classmethod
    def from_li(cls, li: ET.Element) -> _Form:
        try:
            return cls(
                id=int(_get(li, "mask_id") or "0"),
                type=int(_get(li, "mask_type") or "0"),
                name=_get(li, "mask_name") or "",
                version=_get(li, "mask_version") or str(MASK_VERSION),
                points=xmp_decode(_get(li, "mask_points") or ""),
                nb=int(_get(li, "mask_nb") or "0"),
                src=xmp_decode(_get(li, "mask_src") or ""),
            )
        except ValueError as e:
            raise SidecarError(f"malformed mask entry: {e}") from e

    def same(self, other: _Form) -> bool:
        return (self.type, self.points, self.nb, self.src) == (
            other.type,
            other.points,
            other.nb,
            other.src,
        )


def _circle_form(c: HealCircle, index: int) -> _Form:
    return _Form(
        id=c.formid,
        type=CIRCLE_CLONE,
        name=f"hotwatch heal #{index}",
        version=str(MASK_VERSION),
        points=struct.pack("<4f", c.center[0], c.center[1], c.radius, c.border),
        nb=1,
        src=struct.pack("<2f", *c.source),
    )


def _group_form(group_id: int, members: Sequence[HealCircle], index: int) -> _Form:
    pts = b"".join(
        struct.pack("<iiif", c.formid, group_id, 3 if i == 0 else 11, 1.0)
        for i, c in enumerate(members)
    )
    name = MULTI_NAME if index == 0 else f"{MULTI_NAME} {index + 1}"
    return _Form(group_id, GROUP_CLONE, name, str(MASK_VERSION), pts, len(members), b"\0" * 8)


def _group_members(form: _Form) -> list[int]:
    return [struct.unpack_from("<i", form.points, 16 * i)[0] for i in range(len(form.points) // 16)]


def _forms_in_force(doc: _Doc) -> tuple[int | None, list[ET.Element]]:
    """The masks snapshot the pipe uses: that of the last entry below history_end with masks."""
    end = doc.history_end
    best: int | None = None
    for li in doc.masks:
        try:
            num = int(_get(li, "mask_num") or "-1")
        except ValueError as e:
            raise SidecarError("mask_num is not a number") from e
        if num < end and (best is None or num > best):
            best = num
    if best is None:
        return None, []
    return best, [li for li in doc.masks if _get(li, "mask_num") == str(best)]


def _instance_name(index: int) -> str:
    return MULTI_NAME if index == 0 else f"{MULTI_NAME} {index + 1}"


def _effective_entries(doc: _Doc) -> dict[tuple[str, int], ET.Element]:
    """Last history entry per (operation, multi_priority) below history_end."""
    out: dict[tuple[str, int], ET.Element] = {}
    for li in doc.history[: doc.history_end]:
        try:
            prio = int(_get(li, "multi_priority") or "0")
        except ValueError as e:
            raise SidecarError("multi_priority is not a number") from e
        out[(_get(li, "operation") or "", prio)] = li
    return out


def patch_sidecar(
    xmp_text: str | None,
    shapes: Sequence[HealCircle],
    kind: str,
    image_filename: str,
    *,
    keep_empty: bool = False,
) -> str | None:
    """The sidecar with hotwatch's retouch instance(s) set to ``shapes``, or None if unchanged.

    The user's history and forms are kept: our new entry (appended at
    ``history_end``) carries a masks snapshot that repeats every form in force
    and replaces only hotwatch's own group and circles. A changed list adds one
    entry for the same instance; more than 300 shapes use a second instance,
    placed after the others in an explicit ``iop_order_list``. ``keep_empty``
    writes an instance even with no shapes (a baseline for comparisons).
    """
    if kind not in ("raw", "jpeg"):
        raise ValueError(f"kind must be 'raw' or 'jpeg', not {kind!r}")
    shapes = sorted(shapes, key=lambda c: (c.x, c.y))  # the caller's order must not matter
    ids = [s.formid for s in shapes]
    if len(set(ids)) != len(ids):
        raise ValueError("shapes have duplicate form ids")
    doc = _parse(xmp_text if xmp_text is not None else _minimal_xmp(kind, image_filename))
    effective = _effective_entries(doc)
    ours = {
        prio: li
        for (op, prio), li in effective.items()
        if op == "retouch" and (_get(li, "multi_name") or "").startswith(MULTI_NAME)
    }
    # hotwatch instance k is recognised by its multi_name ("hotwatch", "hotwatch 2", ...)
    ours_by_index: dict[int, int] = {}
    for prio, li in ours.items():
        name = _get(li, "multi_name") or ""
        idx = 0 if name == MULTI_NAME else _name_index(name)
        if idx is not None:
            ours_by_index[idx] = prio
    if not shapes and not ours and not keep_empty:
        return None

    chunks = [list(shapes[i : i + MAX_FORMS]) for i in range(0, len(shapes), MAX_FORMS)] or [[]]
    snap_num, snap = _forms_in_force(doc)
    current = {f.id: f for f in (_Form.from_li(li) for li in snap)}
    # forms owned by our existing instances: their groups and the groups' members
    old_ids: set[int] = set()
    for li in ours.values():
        gid = blendop_mask_id(xmp_decode(_get(li, "blendop_params") or ""))
        if gid and gid in current:
            old_ids.add(gid)
            old_ids.update(_group_members(current[gid]))

    all_prios = {prio for (op, prio) in _all_entries(doc) if op == "retouch"}
    next_prio = max(all_prios, default=-1) + 1
    wanted: list[tuple[int, int, bytes, bytes, bool, list[_Form]]] = []
    new_forms: list[_Form] = []
    n = 0
    for k in range(max(len(chunks), max(ours_by_index, default=-1) + 1)):
        if k in ours_by_index:
            prio = ours_by_index[k]
        else:
            prio, next_prio = next_prio, next_prio + 1
        members = chunks[k] if k < len(chunks) else None
        if members is None:  # a spill instance no longer needed: disable it
            wanted.append((k, prio, retouch_params([]), blendop_params(0), False, []))
            continue
        gid = group_id(k)
        forms = [_circle_form(c, n + i + 1) for i, c in enumerate(members)]
        n += len(members)
        if members:
            forms.append(_group_form(gid, members, k))
        wanted.append(
            (k, prio, retouch_params(members), blendop_params(gid if members else 0), True, forms)
        )
        new_forms.extend(forms)

    new_ids = {f.id for f in new_forms}
    clash = new_ids & (set(current) - old_ids)
    if clash:
        raise SidecarError(f"form ids {sorted(clash)} already belong to the user's shapes")

    if _unchanged(doc, ours, wanted, current, old_ids, new_forms):
        return None

    _insert_entries(doc, wanted, snap, old_ids, new_forms, snap_num)
    _ensure_order_list(doc, kind)
    return _serialise(doc)


def _name_index(name: str) -> int | None:
    m = re.fullmatch(rf"{MULTI_NAME} (\d+)", name)
    return int(m.group(1)) - 1 if m and int(m.group(1)) >= 2 else None


def _all_entries(doc: _Doc) -> set[tuple[str, int]]:
    out = set()
    for li in doc.history:
        try:
            out.add((_get(li, "operation") or "", int(_get(li, "multi_priority") or "0")))
        except ValueError as e:
            raise SidecarError("multi_priority is not a number") from e
    return out


def _unchanged(doc, ours, wanted, current, old_ids, new_forms) -> bool:
    for _k, prio, params, blend, enabled, _forms in wanted:
        li = ours.get(prio)
        if li is None:
            return False
        if (_get(li, "enabled") == "1") != enabled:
            return False
        if not enabled:
            continue
        if xmp_decode(_get(li, "params") or "") != params:
            return False
        if not _same_blend(li, blend):
            return False
    if {f.id for f in new_forms} != old_ids:
        return False
    return all(f.id in current and current[f.id].same(f) for f in new_forms)


def _same_blend(li: ET.Element, blend: bytes) -> bool:
    """Whether an entry's blend params are ``blend``, as written or as darktable rewrote them.

    darktable 5.x writes back the blend params of every entry in its own version (14, where
    4.2 wrote 11), with fields 4.2 does not have: there, what makes the entry ours is the
    group of shapes it points to (``mask_id``, at the same offset in both versions).
    """
    have = xmp_decode(_get(li, "blendop_params") or "")
    if (_get(li, "blendop_version") or str(BLENDOP_VERSION)) == str(BLENDOP_VERSION):
        return have == blend
    return blendop_mask_id(have) == blendop_mask_id(blend)


def _insert_entries(doc, wanted, snap, old_ids, new_forms, snap_num) -> None:
    """Insert our entries at history_end (later redo entries shift up) with a full snapshot."""
    end = doc.history_end
    count = len(wanted)
    # shift redo entries (and their masks) above history_end
    for li in doc.history[end:]:
        _set(li, "num", str(int(_get(li, "num") or "0") + count))
    for li in doc.masks:
        num = int(_get(li, "mask_num") or "-1")
        if num >= end:
            _set(li, "mask_num", str(num + count))
    kept = [li for li in snap if int(_get(li, "mask_id") or "0") not in old_ids]
    for j, (k, prio, params, blend, enabled, _forms) in enumerate(wanted):
        num = end + j
        li = ET.Element(_q(NS_RDF, "li"))
        for name, value in (
            ("num", str(num)),
            ("operation", "retouch"),
            ("enabled", "1" if enabled else "0"),
            ("modversion", str(RETOUCH_MODVERSION)),
            ("params", xmp_encode(params)),
            ("multi_name", _instance_name(k)),
            ("multi_priority", str(prio)),
            ("blendop_version", str(BLENDOP_VERSION)),
            ("blendop_params", xmp_encode(blend)),
        ):
            li.set(_q(NS_DT, name), value)
        doc.history_seq.insert(num, li)
        doc.history.insert(num, li)
    # the last of our entries carries the complete snapshot (user's forms + ours)
    last = end + count - 1
    snapshot = [_clone_mask(li, last) for li in kept] + [_mask_li(f, last) for f in new_forms]
    pos = _mask_insert_pos(doc, last)
    for i, li in enumerate(snapshot):
        doc.masks_seq.insert(pos + i, li)
    doc.masks[pos:pos] = snapshot
    doc.desc.set(_q(NS_DT, "history_end"), str(end + count))


def _mask_insert_pos(doc: _Doc, num: int) -> int:
    for i, li in enumerate(doc.masks):
        if int(_get(li, "mask_num") or "-1") > num:
            return i
    return len(doc.masks)


def _clone_mask(li: ET.Element, num: int) -> ET.Element:
    out = ET.Element(_q(NS_RDF, "li"))
    for name in _MASK_FIELDS:
        v = _get(li, name)
        if v is not None:
            out.set(_q(NS_DT, name), v)
    out.set(_q(NS_DT, "mask_num"), str(num))
    return out


def _mask_li(f: _Form, num: int) -> ET.Element:
    li = ET.Element(_q(NS_RDF, "li"))
    for name, value in (
        ("mask_num", str(num)),
        ("mask_id", str(f.id)),
        ("mask_type", str(f.type)),
        ("mask_name", f.name),
        ("mask_version", f.version),
        ("mask_points", xmp_encode(f.points)),
        ("mask_nb", str(f.nb)),
        ("mask_src", xmp_encode(f.src)),
    ):
        li.set(_q(NS_DT, name), value)
    return li


def _ensure_order_list(doc: _Doc, kind: str) -> None:
    """Give every (operation, instance) in the history a place in the pipe order.

    Extra instances go right after the last listed instance of their operation.
    Only needed (and only written) when some instance is not in the built-in list.
    """
    entries = sorted(_all_entries(doc), key=lambda e: (e[0], e[1]))
    text = doc.desc.get(_q(NS_DT, "iop_order_list"))
    if text:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) % 2:
            raise SidecarError("iop_order_list has an odd number of items")
        try:
            order = [(parts[i], int(parts[i + 1])) for i in range(0, len(parts), 2)]
        except ValueError as e:
            raise SidecarError("iop_order_list has a non-numeric instance") from e
    else:
        if all(prio == 0 for _op, prio in entries):
            return
        try:
            version = int(doc.desc.get(_q(NS_DT, "iop_order_version")) or "0")
        except ValueError as e:
            raise SidecarError("iop_order_version is not a number") from e
        base = ORDER_LISTS.get(version) or (V30 if kind == "raw" else V30_JPG)
        order = [(op, 0) for op in base]
    present = set(order)
    for op, prio in entries:
        if (op, prio) in present:
            continue
        last = max((i for i, (o, _p) in enumerate(order) if o == op), default=None)
        if last is None:
            raise SidecarError(f"cannot place module {op!r} in the pipe order")
        order.insert(last + 1, (op, prio))
        present.add((op, prio))
    doc.desc.set(_q(NS_DT, "iop_order_version"), "0")
    doc.desc.set(_q(NS_DT, "iop_order_list"), ",".join(f"{op},{p}" for op, p in order))


# ------------------------------------------------------------- reading state


@dataclass(frozen=True)
class SidecarState:
    """What a sidecar holds now, for ``hotwatch darktable info``."""

    hotwatch_shapes: int
    has_user_history: bool


def sidecar_state(xmp_text: str | None) -> SidecarState:
    """Count hotwatch's circles in force and tell whether the user has edited the photo."""
    if xmp_text is None:
        return SidecarState(0, False)
    doc = _parse(xmp_text)
    effective = _effective_entries(doc)
    _num, snap = _forms_in_force(doc)
    current = {f.id: f for f in (_Form.from_li(li) for li in snap)}
    shapes = 0
    user = False
    for (op, _prio), li in effective.items():
        if op == "retouch" and (_get(li, "multi_name") or "").startswith(MULTI_NAME):
            if _get(li, "enabled") == "1":
                gid = blendop_mask_id(xmp_decode(_get(li, "blendop_params") or ""))
                if gid in current:
                    shapes += len(_group_members(current[gid]))
        else:
            user = True
    return SidecarState(shapes, user)


# ------------------------------------------------------------------ file side


def sidecar_paths(image_path: str | os.PathLike[str]) -> list[Path]:
    """``FILE.ext.xmp`` and the duplicates' ``FILE_NN.ext.xmp`` that exist.

    The first entry is always ``FILE.ext.xmp`` (existing or not); duplicates
    follow in version order.
    """
    p = Path(image_path)
    out = [p.with_name(p.name + ".xmp")]
    stem, suffix = p.stem, p.suffix
    pattern = re.compile(rf"{re.escape(stem)}_(\d\d+){re.escape(suffix)}\.xmp", re.IGNORECASE)
    dups = []
    if p.parent.is_dir():
        for q in p.parent.iterdir():
            m = pattern.fullmatch(q.name)
            if m and q.is_file():
                dups.append((int(m.group(1)), q))
    out.extend(q for _n, q in sorted(dups))
    return out


def write_sidecar_atomically(path: str | os.PathLike[str], text: str) -> Path | None:
    """Replace ``path`` with ``text`` atomically; keep what it replaced as ``.hotwatch-bak``.

    Returns the backup's path (None when there was nothing to back up). The
    temporary file is fsynced and renamed over the target, so a crash leaves
    either the old or the new sidecar, never half of one.
    """
    path = Path(path)
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".hotwatch-bak")
        shutil.copy2(path, backup)
    write_atomically(path, text)
    return backup
