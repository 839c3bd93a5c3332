"""The darktable sidecar writer without darktable: encodings, ids, snapshot rule, files."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from hotwatch.darktable.heal import SidecarTarget, defects_applicable, heal_shapes, patch_mismatch
from hotwatch.darktable.install import install_lua, read_darktablerc_write_sidecar
from hotwatch.darktable.iop_order import ORDER_LISTS
from hotwatch.darktable.params import (
    SidecarError,
    blendop_mask_id,
    blendop_params,
    retouch_params,
    xmp_decode,
    xmp_encode,
)
from hotwatch.darktable.xmp import (
    NS_DT,
    NS_RDF,
    SidecarState,
    patch_sidecar,
    sidecar_paths,
    sidecar_state,
    write_sidecar_atomically,
)
from tests.support.darktable import USER_CIRCLE_ID, USER_GROUP_ID, user_edit_xmp

NS = {"darktable": NS_DT, "rdf": NS_RDF}
JPEG = SidecarTarget.jpeg(256, 192)


def history(text):
    root = ET.fromstring(text)
    return [
        {k.split("}")[1]: v for k, v in li.attrib.items()}
        for li in root.iterfind(".//darktable:history/rdf:Seq/rdf:li", NS)
    ]


def masks(text):
    root = ET.fromstring(text)
    return [
        {k.split("}")[1]: v for k, v in li.attrib.items()}
        for li in root.iterfind(".//darktable:masks_history/rdf:Seq/rdf:li", NS)
    ]


def desc_attr(text, name):
    m = re.search(rf'darktable:{name}="([^"]*)"', text)
    return m.group(1) if m else None


def test_params_have_darktable_42_sizes_and_layout():
    shapes = heal_shapes([(10, 20), (100, 50)], JPEG)
    p = retouch_params(shapes)
    assert len(p) == 13260 == 300 * 44 + 60
    formid, scale, algorithm = struct.unpack_from("<iii", p, 0)
    assert (formid, scale, algorithm) == (shapes[0].formid, 0, 2)
    assert struct.unpack_from("<i", p, 40)[0] == 2  # distort_mode of slot 0
    assert struct.unpack_from("<i", p, 88)[0] == 0  # slot 2 empty
    b = blendop_params(12345)
    assert len(b) == 420 and blendop_mask_id(b) == 12345
    assert xmp_decode(xmp_encode(p)) == p
    # darktable's own compressed form decodes too
    assert len(xmp_decode("gz14eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfNoAAE8gGQg=")) == 420


def test_circle_geometry_raw_margins_and_mirrored_orientations():
    raw = SidecarTarget.raw(272, 202, 256, 192, 12, 6)
    (c,) = heal_shapes([(40, 51)], raw)
    assert c.center == pytest.approx(((40 + 12) / 272, (51 + 6) / 202))
    assert c.radius == pytest.approx(3 / 202) and c.border == pytest.approx(1 / 202)
    for orientation, (dx, dy) in {1: (0, 0), 3: (1, 1), 6: (0, 1), 8: (1, 0), 2: (1, 0)}.items():
        g = SidecarTarget.jpeg(256, 192, orientation)
        (c,) = heal_shapes([(40, 51)], g)
        assert c.center == pytest.approx(((40 + dx) / 256, (51 + dy) / 192)), orientation


def test_form_ids_are_deterministic_distinct_and_outside_darktables_range():
    pts = [(x, y) for x in range(8, 250, 15) for y in range(8, 186, 15)]
    a = heal_shapes(pts, JPEG)
    b = heal_shapes(list(reversed(pts)), JPEG)
    assert [c.formid for c in a] == [c.formid for c in b]
    ids = [c.formid for c in a]
    assert len(set(ids)) == len(ids)
    assert all(100_000_000 <= i < 900_000_000 for i in ids)  # time(NULL) ids are ~1.7e9


def test_heal_sources_avoid_defects_and_edges():
    pts = [(3, 3), (13, 3), (3, 13), (252, 188), (128, 96), (138, 96), (118, 96), (128, 106)]
    for c in heal_shapes(pts, JPEG):
        sx, sy = c.source[0] * 256, c.source[1] * 192
        assert 5 <= sx < 251 and 5 <= sy < 187, (c.x, c.y, sx, sy)
        for px, py in pts:
            assert max(abs(px - sx), abs(py - sy)) > 6, (c.x, c.y, sx, sy)
        assert 8 <= abs(sx - c.x) + abs(sy - c.y) <= 60


def test_defects_outside_the_frame_are_refused():
    with pytest.raises(ValueError, match="outside"):
        heal_shapes([(256, 10)], JPEG)


def test_new_sidecar_is_complete_and_minimal():
    shapes = heal_shapes([(40, 51), (121, 100)], JPEG)
    text = patch_sidecar(None, shapes, "jpeg", "a & b.jpg")
    h = history(text)
    assert len(h) == 1 and h[0]["operation"] == "retouch" and h[0]["multi_name"] == "hotwatch"
    assert h[0]["modversion"] == "3" and h[0]["blendop_version"] == "11"
    assert desc_attr(text, "history_end") == "1"
    assert 'xmpMM:DerivedFrom="a &amp; b.jpg"' in text
    m = masks(text)
    assert [x["mask_type"] for x in m] == ["9", "9", "12"]
    assert {x["mask_num"] for x in m} == {"0"}
    group = bytes.fromhex(m[2]["mask_points"])
    assert (
        struct.unpack("<iiif", group[:16])[2] == 3 and struct.unpack("<iiif", group[16:])[2] == 11
    )
    assert blendop_mask_id(bytes.fromhex(h[0]["blendop_params"])) == int(m[2]["mask_id"])
    assert "iop_order_list" not in text  # one instance: the built-in order suffices


def test_nothing_to_write_when_no_defects_and_no_instance():
    assert patch_sidecar(None, [], "jpeg", "a.jpg") is None


def test_snapshot_keeps_the_users_shape_and_history():
    user = user_edit_xmp("a.jpg", 256, 192, (180, 140))
    shapes = heal_shapes([(40, 51), (121, 100)], JPEG)
    text = patch_sidecar(user, shapes, "jpeg", "a.jpg")
    h = history(text)
    assert [e["operation"] for e in h] == ["exposure", "retouch", "retouch"]
    assert h[:2] == history(user)  # the user's entries untouched
    assert h[2]["multi_priority"] == "1" and h[2]["num"] == "2"
    assert desc_attr(text, "history_end") == "3"
    snap = [m for m in masks(text) if m["mask_num"] == "2"]
    ids = {int(m["mask_id"]) for m in snap}
    assert {USER_CIRCLE_ID, USER_GROUP_ID} <= ids  # user's forms repeated
    assert {c.formid for c in shapes} <= ids
    order = desc_attr(text, "iop_order_list").split(",")
    pairs = list(zip(order[::2], order[1::2], strict=True))
    i = pairs.index(("retouch", "0"))
    assert pairs[i + 1] == ("retouch", "1")
    assert desc_attr(text, "iop_order_version") == "0"
    assert "holiday" in text  # other metadata kept
    assert sidecar_state(text) == SidecarState(hotwatch_shapes=2, has_user_history=True)


def test_idempotent_and_a_changed_list_replaces_not_stacks():
    user = user_edit_xmp("a.jpg", 256, 192, (180, 140))
    s1 = heal_shapes([(40, 51), (121, 100)], JPEG)
    once = patch_sidecar(user, s1, "jpeg", "a.jpg")
    assert patch_sidecar(once, s1, "jpeg", "a.jpg") is None
    assert patch_sidecar(once, list(reversed(s1)), "jpeg", "a.jpg") is None
    s2 = heal_shapes([(121, 100), (60, 151), (9, 10)], JPEG)
    twice = patch_sidecar(once, s2, "jpeg", "a.jpg")
    h = history(twice)
    assert len(h) == 4 and h[3]["multi_priority"] == h[2]["multi_priority"] == "1"
    snap = [m for m in masks(twice) if m["mask_num"] == "3"]
    ids = {int(m["mask_id"]) for m in snap}
    assert s1[0].formid not in ids  # old shape gone
    assert {c.formid for c in s2} | {USER_CIRCLE_ID, USER_GROUP_ID} <= ids
    assert sidecar_state(twice).hotwatch_shapes == 3
    assert patch_sidecar(twice, s2, "jpeg", "a.jpg") is None
    # no defects any more: our instance is emptied, the user's shape stays in force
    empty = patch_sidecar(twice, [], "jpeg", "a.jpg")
    assert sidecar_state(empty).hotwatch_shapes == 0
    last = max(int(m["mask_num"]) for m in masks(empty))
    assert {int(m["mask_id"]) for m in masks(empty) if int(m["mask_num"]) == last} == {
        USER_CIRCLE_ID,
        USER_GROUP_ID,
    }


def test_redo_entries_above_history_end_are_kept_and_shifted():
    user = user_edit_xmp("a.jpg", 256, 192, (180, 140)).replace(
        'darktable:history_end="2"', 'darktable:history_end="1"'
    )
    text = patch_sidecar(user, heal_shapes([(40, 51)], JPEG), "jpeg", "a.jpg")
    h = history(text)
    assert [(e["num"], e["operation"], e["multi_name"]) for e in h] == [
        ("0", "exposure", ""),
        ("1", "retouch", "hotwatch"),
        ("2", "retouch", ""),
    ]
    assert desc_attr(text, "history_end") == "2"
    assert {m["mask_num"] for m in masks(text)} == {"1", "2"}  # the user's redo snapshot moved


def test_more_than_300_spill_into_a_second_instance_with_an_order_list():
    big = SidecarTarget.jpeg(320, 256)
    pts = [(x, y) for y in range(10, 250, 14) for x in range(10, 310, 14)][:310]
    text = patch_sidecar(None, heal_shapes(pts, big), "jpeg", "a.jpg")
    h = history(text)
    assert [(e["multi_name"], e["multi_priority"]) for e in h] == [
        ("hotwatch", "0"),
        ("hotwatch 2", "1"),
    ]
    order = desc_attr(text, "iop_order_list").split(",")
    pairs = list(zip(order[::2], order[1::2], strict=True))
    assert pairs.index(("retouch", "1")) == pairs.index(("retouch", "0")) + 1
    assert [p for p, _ in pairs if p != "retouch"] == [p for p in ORDER_LISTS[2] if p != "retouch"]
    assert sidecar_state(text).hotwatch_shapes == 310
    # fewer defects later: the spill instance is switched off, not left stale
    fewer = patch_sidecar(text, heal_shapes(pts[:5], big), "jpeg", "a.jpg")
    tail = history(fewer)[2:]
    assert {(e["multi_name"], e["enabled"]) for e in tail} == {
        ("hotwatch", "1"),
        ("hotwatch 2", "0"),
    }
    assert sidecar_state(fewer).hotwatch_shapes == 5
    assert patch_sidecar(fewer, heal_shapes(pts[:5], big), "jpeg", "a.jpg") is None


@pytest.mark.parametrize(
    "garbage",
    [
        "not xml at all",
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed></x:xmpmeta>",
        "<?xml version='1.0'?><root/>",
        user_edit_xmp("a.jpg", 256, 192, (1, 1)).replace('darktable:num="1"', 'darktable:num="7"'),
        user_edit_xmp("a.jpg", 256, 192, (1, 1)).replace(
            'darktable:history_end="2"', 'darktable:history_end="two"'
        ),
    ],
)
def test_unparseable_sidecars_are_refused(garbage):
    with pytest.raises(SidecarError):
        patch_sidecar(garbage, heal_shapes([(40, 51)], JPEG), "jpeg", "a.jpg")


def test_defects_applicable_filters_by_onset():
    t = datetime(2024, 5, 1, 12, tzinfo=UTC)
    ds = [
        {"x": 1, "y": 1, "onset": (t - timedelta(days=1)).isoformat()},
        {"x": 2, "y": 2, "onset": t + timedelta(seconds=1)},
        {"x": 3, "y": 3, "onset": None},
        {"x": 4, "y": 4, "onset": t},
    ]
    assert [d["x"] for d in defects_applicable(ds, t)] == [1, 3, 4]
    assert [d["x"] for d in defects_applicable(ds, None)] == [d["x"] for d in ds]  # all


def test_atomic_write_keeps_a_backup(tmp_path):
    p = tmp_path / "a.jpg.xmp"
    assert write_sidecar_atomically(p, "first") is None
    backup = write_sidecar_atomically(p, "second")
    assert p.read_text() == "second" and backup.read_text() == "first"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.jpg.xmp", "a.jpg.xmp.hotwatch-bak"]


def test_sidecar_paths_include_duplicates(tmp_path):
    img = tmp_path / "DSC_0001.NEF"
    img.write_bytes(b"")
    for name in [
        "DSC_0001_02.NEF.xmp",
        "DSC_0001_01.NEF.xmp",
        "DSC_0001_1.NEF.xmp",
        "DSC_0002_01.NEF.xmp",
    ]:
        (tmp_path / name).write_text("x")
    assert [p.name for p in sidecar_paths(img)] == [
        "DSC_0001.NEF.xmp",
        "DSC_0001_01.NEF.xmp",
        "DSC_0001_02.NEF.xmp",
    ]


def test_darktablerc_write_sidecar(tmp_path):
    assert read_darktablerc_write_sidecar(tmp_path) == "on import"
    (tmp_path / "darktablerc").write_text("a=b\nwrite_sidecar_files=never\n")
    assert read_darktablerc_write_sidecar(tmp_path) == "never"
    (tmp_path / "darktablerc").write_text("write_sidecar_files=after edit\n")
    assert read_darktablerc_write_sidecar(tmp_path) == "after edit"


def test_install_lua_is_idempotent_and_uninstalls(tmp_path):
    src = tmp_path / "src.lua"
    src.write_text("return {}\n")
    conf = tmp_path / "conf"
    (conf).mkdir()
    (conf / "luarc").write_text('require "other"')  # no trailing newline
    acts = install_lua(conf, src, add_luarc=True)
    assert len(acts) == 2
    target = conf / "lua" / "hotwatch" / "hotwatch.lua"
    assert target.read_text() == "return {}\n"
    assert "plugins" not in str(target.relative_to(conf)) and "lib/" not in str(target)
    assert (conf / "luarc").read_text() == 'require "other"\nrequire "hotwatch/hotwatch"\n'
    assert install_lua(conf, src, add_luarc=True) == []
    assert len(install_lua(conf, src, uninstall=True)) == 2
    assert not target.exists() and (conf / "luarc").read_text() == 'require "other"\n'
    assert install_lua(conf, src, uninstall=True) == []


def test_heal_source_avoids_an_edge_when_pixels_are_known():
    """Left of the defect is dark, right is bright: the source must stay on the dark side."""
    import numpy as np

    img = np.full((120, 160), 0.2, dtype=np.float32)
    img[:, 83:] = 0.9  # an edge 3 px right of the defect at x=80
    g = SidecarTarget.jpeg(160, 120)
    (blind,) = heal_shapes([(80, 60)], g)
    (seeing,) = heal_shapes([(80, 60)], g, patch_mismatch(img))
    sx = round(seeing.source[0] * 160)
    assert round(blind.source[0] * 160) > 83, "without pixels the nearest source crosses the edge"
    assert sx <= 80, "with pixels the source stays on the defect's side of the edge"


# ------------------------------------- sidecars darktable 5.x wrote back

_DT5_BLEND_TAIL = b"\xff\xff\xff\xff"  # v14 blend params: bytes 412..415 set (5.4.1)


def _dt5_blob(blob: bytes) -> str:
    """darktable 5's encoding of a blob: ``gz`` + level + base64 of zlib."""
    import base64
    import zlib

    return "gz11" + base64.b64encode(zlib.compress(blob, 9)).decode()


def darktable5_rewrite(text: str) -> str:
    """The sidecar as darktable 5.4.1 wrote it back after ``apply_sidecar`` (seen in the
    trixie chroot; ``test_darktable5_lua_e2e.py`` checks the real thing): its mandatory
    modules are inserted before our entry, which is renumbered, while the masks keep
    ``mask_num="0"``; blend params are upgraded to version 14 (same size, bytes 412-415
    set), blobs are gz-encoded, the pipe order is v5.0 JPEG."""
    root = ET.fromstring(text)
    desc = root.find(".//rdf:Description", NS)
    seq = desc.find("darktable:history/rdf:Seq", NS)
    ours = list(seq)
    blend14 = _dt5_blob(blendop_params(0)[:412] + _DT5_BLEND_TAIL)
    for i, op in enumerate(["colorin", "colorout", "gamma", "flip"]):
        li = ET.Element(f"{{{NS_RDF}}}li")
        fields = {
            "num": str(i),
            "operation": op,
            "enabled": "1",
            "modversion": "1",
            "params": "00000000",
            "multi_name": "",
            "multi_name_hand_edited": "0",
            "multi_priority": "0",
            "blendop_version": "14",
            "blendop_params": blend14,
        }
        for k, v in fields.items():
            li.set(f"{{{NS_DT}}}{k}", v)
        seq.insert(i, li)
    for j, li in enumerate(ours):
        li.set(f"{{{NS_DT}}}num", str(4 + j))
        li.set(f"{{{NS_DT}}}multi_name_hand_edited", "0")
        params = xmp_decode(li.get(f"{{{NS_DT}}}params"))
        li.set(f"{{{NS_DT}}}params", _dt5_blob(params))
        blend = xmp_decode(li.get(f"{{{NS_DT}}}blendop_params"))
        li.set(f"{{{NS_DT}}}blendop_version", "14")
        li.set(f"{{{NS_DT}}}blendop_params", _dt5_blob(blend[:412] + _DT5_BLEND_TAIL))
    for li in desc.iterfind("darktable:masks_history/rdf:Seq/rdf:li", NS):
        li.set(f"{{{NS_DT}}}mask_num", "0")
    desc.set(f"{{{NS_DT}}}history_end", str(4 + len(ours)))
    desc.set(f"{{{NS_DT}}}iop_order_version", "5")
    desc.set(f"{{{NS_DT}}}auto_presets_applied", "1")
    return ET.tostring(root, encoding="unicode")


def test_darktable_5s_rewrite_of_our_heal_is_recognised_as_ours():
    shapes = heal_shapes([(40, 51), (121, 100), (200, 31)], JPEG)
    theirs = darktable5_rewrite(patch_sidecar(None, shapes, "jpeg", "a.jpg"))
    assert sidecar_state(theirs).hotwatch_shapes == 3
    assert patch_sidecar(theirs, shapes, "jpeg", "a.jpg") is None  # heal again: unchanged
    # a changed list still replaces our shapes (one entry more for the same instance)
    fewer = patch_sidecar(theirs, shapes[:2], "jpeg", "a.jpg")
    assert fewer is not None and sidecar_state(fewer).hotwatch_shapes == 2
    h = history(fewer)
    assert [(e["operation"], e["multi_priority"]) for e in h[4:]] == [("retouch", "0")] * 2
    assert patch_sidecar(fewer, shapes[:2], "jpeg", "a.jpg") is None


@pytest.mark.parametrize("version", [4, 5])
def test_a_second_instance_keeps_darktable_5s_pipe_order(version):
    """darktable 5 names the v5.0 orders (4 RAW, 5 JPEG): the explicit list that places
    our instance after the user's retouch must be that order, not v3.0's."""
    user = user_edit_xmp("a.jpg", 256, 192, (180, 140), order_version=version)
    text = patch_sidecar(user, heal_shapes([(40, 51)], JPEG), "jpeg", "a.jpg")
    order = desc_attr(text, "iop_order_list").split(",")
    pairs = list(zip(order[::2], order[1::2], strict=True))
    assert pairs.index(("retouch", "1")) == pairs.index(("retouch", "0")) + 1
    base = [p for p in ORDER_LISTS[version] if p != "retouch"]
    assert [p for p, _ in pairs if p != "retouch"] == base
    assert ORDER_LISTS[version] != ORDER_LISTS[version - 2]  # v5.0 differs from v3.0
