"""``hotwatch darktable info|heal|install`` on real files and a real catalogue.

A simulated body (camsim, 320x240 RGGB with an 8/4 px sensor margin) is
scanned once per module; each test copies the photos it touches, so sidecars
never leak between tests. What is checked is what darktable will read: the
circle centres decoded from the written sidecar, mapped back to photosites.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import hotwatch.darktable as darktable_package
from hotwatch.cli import main
from hotwatch.darktable.heal import SidecarTarget, heal_shapes, patch_mismatch
from hotwatch.darktable.install import darktable_script
from hotwatch.darktable.params import xmp_decode
from hotwatch.darktable.xmp import patch_sidecar, sidecar_paths, sidecar_state
from hotwatch.sim import camsim
from tests.support.cli import hotwatch
from tests.support.darktable import (
    SIM_DEFECTS,
    SIM_MARGINS,
    SIM_SHOTS,
    sim_camera,
    sim_shots,
    train_home,
    user_edit_xmp,
)

ROOT = Path(__file__).resolve().parents[1]
EARLY, LATE = 5, SIM_SHOTS + 1  # shot indices: before / after the late defect's onset
ALL = {(x, y) for x, y, *_ in SIM_DEFECTS}
BEFORE_ONSET = {(x, y) for x, y, _k, _s, onset in SIM_DEFECTS if onset <= EARLY}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(home, roll folder, defects --json) for the simulated body, JPEG + DNG."""
    base = tmp_path_factory.mktemp("trained")
    cams = train_home(base / "home", base / "roll")["cameras"]
    assert {(c["frame"], len(c["defects"])) for c in cams} == {("jpeg", 4), ("raw", 4)}
    extra = base / "extra"  # photos hotwatch never scanned: a before and an after
    extra.mkdir()
    cam, shots = sim_camera(), sim_shots()
    for i in (EARLY, LATE):
        cam.write_jpeg(shots[i], extra / f"shot{i}.jpg")
        cam.write_dng(shots[i], extra / f"shot{i}.dng")
    return base / "home", extra, cams


def photo(trained, tmp_path, index: int, ext: str, name: str | None = None) -> Path:
    """A fresh copy of a shot's file, so its sidecars belong to this test only."""
    src = trained[1] / f"shot{index}.{ext}"
    dst = tmp_path / (name or src.name)
    shutil.copy2(src, dst)
    return dst


def run(capsys, home: Path, *args: str) -> tuple[int, dict | str]:
    """The CLI in-process; JSON answers are decoded."""
    capsys.readouterr()
    code = main(["--home", str(home), "darktable", *args])
    out = capsys.readouterr()
    text = out.out
    if "--json" in args:
        assert out.err == "", out.err  # the Lua script reads stderr too
        return code, json.loads(text)
    return code, text


def circles(xmp: str, target: SidecarTarget) -> set[tuple[int, int]]:
    """The photosites the sidecar's hotwatch heal circles sit on (margins taken off)."""
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    dtns = "{http://darktable.sf.net/}"
    out = set()
    for li in ET.fromstring(xmp).iter(f"{rdf}li"):
        if li.get(f"{dtns}mask_type") != "9" or not li.get(f"{dtns}mask_name", "").startswith(
            "hotwatch"
        ):
            continue
        cx, cy, _r, _b = struct.unpack("<4f", xmp_decode(li.get(f"{dtns}mask_points")))
        out.add(
            (
                round(cx * target.width) - target.left_margin,
                round(cy * target.height) - target.top_margin,
            )
        )
    return out


RAW_TARGET = SidecarTarget.raw(336, 248, 320, 240, SIM_MARGINS[0], SIM_MARGINS[1])
JPEG_TARGET = SidecarTarget.jpeg(320, 240)


def at(got: set[tuple[int, int]], want: set[tuple[int, int]], frame: str) -> bool:
    """Each position found where it is wanted, one for one: exactly on a raw; within a
    pixel on a JPEG, whose two pixels of a chroma sample share their colour (a blue or red
    photosite may show at either: hotwatch reports the one that showed it more often)."""
    tol = 0 if frame == "raw" else 1
    left = set(got)
    for x, y in sorted(want):
        near = sorted(left, key=lambda p: (abs(p[0] - x) + abs(p[1] - y), p))
        if not near or max(abs(near[0][0] - x), abs(near[0][1] - y)) > tol:
            return False
        left.remove(near[0])
    return not left


def test_forms_are_named_hotwatch(trained, tmp_path, capsys):
    """``circles`` relies on hotwatch naming its forms: make sure it does."""
    p = photo(trained, tmp_path, LATE, "jpg")
    run(capsys, trained[0], "heal", str(p), "--json")
    text = sidecar_paths(p)[0].read_text()
    assert at(circles(text, JPEG_TARGET), ALL, "jpeg")


@pytest.mark.parametrize(
    ("ext", "frame", "target"), [("jpg", "jpeg", JPEG_TARGET), ("dng", "raw", RAW_TARGET)]
)
def test_info_then_heal_then_heal_again(trained, tmp_path, capsys, ext, frame, target):
    home = trained[0]
    p = photo(trained, tmp_path, LATE, ext)
    code, info = run(capsys, home, "info", str(p), "--json")
    assert code == 0 and info["status"] == "ok"
    assert info["body"] == {
        "make": "SIMULATED",
        "model": "HW-1",
        "serial": "1001",
        "serial_key": "1001",
        "label": "SIMULATED HW-1 #1001",
    }
    assert info["frame"] == frame
    assert (info["width"], info["height"]) == (320, 240)
    assert (info["pipe_width"], info["pipe_height"]) == (target.width, target.height)
    assert (info["left_margin"], info["top_margin"]) == (target.left_margin, target.top_margin)
    assert at({(d["x"], d["y"]) for d in info["defects"]}, ALL, frame)
    assert info["later_defects"] == []
    assert info["sidecars"] == [{"path": f"{p}.xmp", "exists": False, "hotwatch_shapes": 0,
                                 "user_history": False}]  # fmt: skip

    code, ans = run(capsys, home, "heal", str(p), "--json")
    (res,) = ans["results"]
    assert code == 0 and res["status"] == "healed" and res["defects"] == 4
    assert res["sidecars"] == [{"path": f"{p}.xmp", "status": "created", "backup": None}]
    xmp = Path(f"{p}.xmp")
    text = xmp.read_text(encoding="utf-8")
    assert at(circles(text, target), ALL, frame)  # the margins apply for RAW, not for JPEG
    assert sidecar_state(text).hotwatch_shapes == 4
    # exactly what the library writes for this geometry, sources chosen on this photo's pixels
    from hotwatch.io.frames import read_frame

    scorer = patch_mismatch(read_frame(p).data)
    shapes = heal_shapes(sorted((d["x"], d["y"]) for d in info["defects"]), target, scorer)
    assert text == patch_sidecar(None, shapes, frame, p.name)

    before = (xmp.read_bytes(), xmp.stat().st_mtime_ns)
    code, ans = run(capsys, home, "heal", str(p), "--json")
    assert ans["results"][0]["status"] == "unchanged"
    assert (xmp.read_bytes(), xmp.stat().st_mtime_ns) == before
    assert not Path(f"{xmp}.hotwatch-bak").exists()
    code, info = run(capsys, home, "info", str(p), "--json")
    assert info["sidecars"][0]["hotwatch_shapes"] == 4


def test_staged_heal_leaves_the_sidecar_alone(trained, tmp_path, capsys):
    """``--staged`` (for darktable's apply_sidecar): the patched sidecar is written beside
    the real one, which stays as it was, and is what an in-place heal would write."""
    home = trained[0]
    p = photo(trained, tmp_path, LATE, "jpg")
    xmp = Path(f"{p}.xmp")
    user = user_edit_xmp(p.name, 320, 240, (300, 200))
    xmp.write_text(user, encoding="utf-8")
    code, ans = run(capsys, home, "heal", str(p), "--json", "--staged")
    (res,) = ans["results"]
    staged = Path(f"{xmp}.hotwatch-staged")
    assert code == 0 and res["status"] == "healed"
    assert res["sidecars"] == [{"path": str(xmp), "status": "healed", "staged": str(staged)}]
    assert xmp.read_text(encoding="utf-8") == user  # untouched, no backup needed
    assert not Path(f"{xmp}.hotwatch-bak").exists()
    assert sidecar_state(staged.read_text(encoding="utf-8")).hotwatch_shapes == 4
    run(capsys, home, "heal", str(p), "--json")
    assert xmp.read_text(encoding="utf-8") == staged.read_text(encoding="utf-8")
    # once the sidecar holds the heal there is nothing to stage
    staged.unlink()
    code, ans = run(capsys, home, "heal", str(p), "--json", "--staged")
    assert ans["results"][0]["status"] == "unchanged" and not staged.exists()


def test_photo_taken_before_an_onset_gets_no_shape_for_it(trained, tmp_path, capsys):
    p = photo(trained, tmp_path, EARLY, "dng")
    _, info = run(capsys, trained[0], "info", str(p), "--json")
    assert {(d["x"], d["y"]) for d in info["defects"]} == BEFORE_ONSET
    assert {(d["x"], d["y"]) for d in info["later_defects"]} == ALL - BEFORE_ONSET
    _, ans = run(capsys, trained[0], "heal", str(p), "--json")
    assert ans["results"][0]["defects"] == len(BEFORE_ONSET) == 3
    assert circles(Path(f"{p}.xmp").read_text(), RAW_TARGET) == BEFORE_ONSET


def undated_copy(src: Path, dst: Path) -> Path:
    """``src`` without any capture date (the EXIF ones removed; body and exposure kept),
    its file time set long before any defect appeared."""
    with Image.open(src) as im:
        exif = im.getexif()
        exif.pop(0x0132, None)  # IFD0 DateTime
        sub = exif.get_ifd(0x8769)
        for tag in (0x9003, 0x9004, 0x9010, 0x9011, 0x9290, 0x9291):  # dates, offsets, subsec
            sub.pop(tag, None)
        im.save(dst, quality=95, exif=exif)
    os.utime(dst, (946684800, 946684800))  # 2000-01-01
    return dst


def test_a_photo_without_a_capture_date_gets_every_defect(trained, tmp_path, capsys):
    """What dates a photo is its capture date, never its file's time (the rule of
    hotwatch.core.dating): a photo that keeps none cannot be said to predate any defect,
    so every known one applies, whatever its file time says."""
    p = undated_copy(photo(trained, tmp_path, EARLY, "jpg", name="src.jpg"), tmp_path / "u.jpg")
    code, info = run(capsys, trained[0], "info", str(p), "--json")
    assert code == 0 and info["status"] == "ok"
    assert (info["taken_at"], info["taken_at_source"]) == (None, "none")
    assert at({(d["x"], d["y"]) for d in info["defects"]}, ALL, "jpeg")
    assert info["later_defects"] == []
    code, text = run(capsys, trained[0], "info", str(p))
    assert "  taken: unknown (the photo keeps no capture date: every defect applies)" in text


def test_duplicates_are_healed_and_user_edits_kept(trained, tmp_path, capsys):
    p = photo(trained, tmp_path, LATE, "jpg")
    main_xmp = tmp_path / "shot41.jpg.xmp"
    dup = tmp_path / "shot41_01.jpg.xmp"
    user = user_edit_xmp(p.name, 320, 240, (300, 200))
    main_xmp.write_text(user, encoding="utf-8")
    dup.write_text(user, encoding="utf-8")
    unrelated = tmp_path / "shot4_01.jpg.xmp"  # another photo's duplicate: not ours
    unrelated.write_text("not xml", encoding="utf-8")
    _, ans = run(capsys, trained[0], "heal", str(p), "--json")
    res = ans["results"][0]
    assert res["status"] == "healed"
    assert [Path(s["path"]).name for s in res["sidecars"]] == [main_xmp.name, dup.name]
    assert all(s["status"] == "healed" for s in res["sidecars"])
    for x in (main_xmp, dup):
        text = x.read_text()
        state = sidecar_state(text)
        assert state.hotwatch_shapes == 4 and state.has_user_history
        assert str(1_714_000_001) in text  # the user's own retouch circle survives
        assert Path(f"{x}.hotwatch-bak").read_text() == user  # backup of what it replaced
    assert unrelated.read_text() == "not xml"


def test_refusals_change_nothing(trained, tmp_path, capsys):
    home = trained[0]
    shot = sim_shots()[LATE]
    # a body hotwatch never saw: same model, other serial
    stranger = camsim.Camera(sim_camera().sensor, [], "Simulated", "HW-1", "999", seed=2)
    other = stranger.write_jpeg(shot, tmp_path / "stranger.jpg")
    # the known body at a size it was never seen at
    big = camsim.Camera(camsim.SensorSpec(width=384, height=288), [], "Simulated", "HW-1", "1001")
    resized = big.write_dng(shot, tmp_path / "resized.dng")
    # a sidecar that is not XML, next to a photo that would otherwise heal
    broken = photo(trained, tmp_path, LATE, "jpg")
    junk = b"<x:xmpmeta><rdf:RDF>\xc3\x28 half a file"
    Path(f"{broken}.xmp").write_bytes(junk)
    before = sorted(q.name for q in tmp_path.iterdir())

    code, ans = run(capsys, home, "heal", str(other), str(resized), str(broken), "--json")
    assert code == 0
    got = {Path(r["file"]).name: (r["status"], r["error"]) for r in ans["results"]}
    assert got == {
        "stranger.jpg": ("refused", "unknown body"),
        "resized.dng": ("refused", "size mismatch"),
        "shot41.jpg": ("refused", "unparsable sidecar"),
    }
    assert all(r["reason"] for r in ans["results"])
    assert "raw 384x288" in ans["results"][1]["reason"]
    assert sorted(q.name for q in tmp_path.iterdir()) == before  # nothing created
    assert Path(f"{broken}.xmp").read_bytes() == junk
    _, info = run(capsys, home, "info", str(other), "--json")
    assert (info["status"], info["error"]) == ("refused", "unknown body")
    _, info = run(capsys, home, "info", str(broken), "--json")
    assert info["status"] == "ok" and "error" in info["sidecars"][0]


def test_nothing_scanned_yet_is_an_answer(trained, tmp_path, capsys):
    p = photo(trained, tmp_path, LATE, "jpg")
    code, ans = run(capsys, tmp_path / "empty-home", "heal", str(p), "--json")
    assert code == 0
    assert ans["results"][0]["error"] == "no catalogue"
    assert not (tmp_path / "empty-home").exists()  # a read never creates state


def test_hostile_file_name(trained, tmp_path):
    name = 'it\'s "$(touch pwned)"; `id` über 東京.jpg'
    p = photo(trained, tmp_path, LATE, "jpg", name=name)
    proc = hotwatch("darktable", "heal", str(p), "--json", home=trained[0], check=False)
    assert proc.returncode == 0 and proc.stderr == ""
    res = json.loads(proc.stdout)["results"][0]
    assert res["file"] == str(p) and res["status"] == "healed"
    text = (tmp_path / f"{name}.xmp").read_text(encoding="utf-8")
    assert sidecar_state(text).hotwatch_shapes == 4
    assert ET.fromstring(text) is not None  # the name is escaped in DerivedFrom
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()
    proc = hotwatch("darktable", "info", str(p), home=trained[0], check=False)  # text output too
    assert proc.returncode == 0 and name in proc.stdout


def test_install_and_uninstall_are_idempotent(tmp_path, capsys):
    conf = tmp_path / "dt config"
    script = conf / "lua" / "hotwatch" / "hotwatch.lua"
    (conf).mkdir()
    (conf / "luarc").write_text('require "tools/script_manager"')  # no final newline
    code, out = run(capsys, tmp_path, "install", "--luarc", "--darktable-config", str(conf))
    assert code == 0 and "installed" in out
    assert script.read_bytes() == (ROOT / "plugins" / "darktable" / "hotwatch.lua").read_bytes()
    assert "plugins" not in str(script.relative_to(conf)) and "lib/" not in str(script)
    luarc = conf / "luarc"
    assert luarc.read_text() == 'require "tools/script_manager"\nrequire "hotwatch/hotwatch"\n'
    code, out = run(capsys, tmp_path, "install", "--luarc", "--darktable-config", str(conf))
    assert code == 0 and "already installed" in out
    assert luarc.read_text().count("hotwatch/hotwatch") == 1
    code, out = run(capsys, tmp_path, "install", "--uninstall", "--darktable-config", str(conf))
    assert code == 0 and not script.exists() and not script.parent.exists()
    assert luarc.read_text() == 'require "tools/script_manager"\n'
    code, out = run(capsys, tmp_path, "install", "--uninstall", "--darktable-config", str(conf))
    assert code == 0 and "not installed" in out


def test_install_defaults_to_xdg_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "darktable").mkdir(parents=True)
    (tmp_path / "xdg" / "darktable" / "darktablerc").write_text("write_sidecar_files=never\n")
    capsys.readouterr()
    assert main(["--home", str(tmp_path), "darktable", "install"]) == 0
    out = capsys.readouterr()
    assert (tmp_path / "xdg" / "darktable" / "lua" / "hotwatch" / "hotwatch.lua").is_file()
    assert "never write sidecar" in out.err


def test_install_says_which_script_manager_will_list_the_script(tmp_path, monkeypatch, capsys):
    """darktable 5.6 ships the lua-scripts, and a user's own copy in <config>/lua takes
    priority: either lists <config>/lua/hotwatch. With neither, only luarc loads it."""
    conf, share = tmp_path / "dtconf", tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_DIRS", str(share))
    monkeypatch.setenv("PATH", str(tmp_path / "no-darktable-here"))
    code, out = run(capsys, tmp_path, "install", "--darktable-config", str(conf))
    assert code == 0 and "script manager" not in out
    capsys.readouterr()
    assert main(["--home", str(tmp_path), "darktable", "install", "--darktable-config",
                 str(conf)]) == 0  # fmt: skip
    assert "--luarc" in capsys.readouterr().err  # the way that works without one
    bundled = share / "darktable" / "lua-scripts" / "tools" / "script_manager.lua"
    bundled.parent.mkdir(parents=True)
    bundled.write_text("-- darktable 5.6's own copy\n")
    code, out = run(capsys, tmp_path, "install", "--darktable-config", str(conf))
    assert f"script manager ({bundled})" in out
    own = conf / "lua" / "tools" / "script_manager.lua"
    own.parent.mkdir(parents=True)
    own.write_text("-- the user's clone of lua-scripts\n")
    code, out = run(capsys, tmp_path, "install", "--darktable-config", str(conf))
    assert f"script manager ({own})" in out  # the user's copy comes first
    assert (conf / "lua" / "hotwatch" / "hotwatch.lua").is_file()


def test_the_checkout_script_is_the_packaged_one():
    """One script: plugins/darktable/hotwatch.lua (what luacheck and the README name) is
    the package data a wheel carries and ``darktable install`` copies."""
    with darktable_script() as packaged:
        checkout = ROOT / "plugins" / "darktable" / "hotwatch.lua"
        assert checkout.read_bytes() == packaged.read_bytes()
        assert packaged.parent == Path(darktable_package.__file__).parent
