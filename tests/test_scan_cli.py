"""``hotwatch scan`` and the listing commands, run as a user would run them."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
from PIL import Image

from hotwatch.core.model import FileStatus
from hotwatch.pipeline.ingest import Ingestor
from hotwatch.pipeline.scan import scan
from hotwatch.state.catalogue import Catalogue
from hotwatch.state.config import resolve_paths
from tests.support.cli import defects_json, hotwatch
from tests.support.rolls import make_roll


@pytest.fixture(scope="module")
def small_roll(tmp_path_factory):
    return make_roll(
        tmp_path_factory.mktemp("small") / "roll",
        n=60,
        seed=9,
        counts={"stuck": 2, "dead": 1, "partial": 1},
    )


def test_defects_json_has_the_documented_shape(small_roll, home):
    hotwatch("scan", str(small_roll.folder), home=home)
    doc = defects_json(home)
    assert list(doc) == ["cameras", "bodies"]
    for cam in doc["cameras"]:
        assert list(cam) == [
            "make",
            "model",
            "serial",
            "serial_key",
            "frame",
            "width",
            "height",
            "frames",
            "defects",
        ]
        assert (cam["make"], cam["model"], cam["serial"]) == ("CANON", "EOS 5D", "012345678")
        assert cam["serial_key"] == "12345678"  # what groups it: leading zeros dropped
        assert cam["frame"] in ("raw", "jpeg") and (cam["width"], cam["height"]) == (320, 240)
        for d in cam["defects"]:
            assert list(d) == ["x", "y", "kind", "score", "onset", "confirmed"]
            assert d["kind"] in ("hot", "stuck", "dead")


def test_scan_twice_and_copies_count_once(small_roll, home, tmp_path):
    hotwatch("scan", str(small_roll.folder), home=home)
    first = defects_json(home)
    copy = tmp_path / "copy"
    shutil.copytree(small_roll.folder, copy)
    out = hotwatch("scan", str(small_roll.folder), str(copy), home=home).stdout
    assert "0 ingested" in out and "unchanged" in out
    assert defects_json(home) == first
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        ingested = cat.files(status="ingested")
        skipped = cat.files(status="skipped")
        assert sum("same content as" in f.reason for f in skipped) == len(ingested)
        assert all(str(copy) not in f.path for f in ingested)
        assert sum(a.frames for a in cat.accumulators()) == len(ingested)


def test_workers_give_the_same_result(small_roll, tmp_path):
    """One core's worth, the read-ahead threads, and a pool of processes (two decode, this
    one absorbs) give the same defects. The command never asks for more cores than the
    machine has (it would only be slower), so the pool is driven through the pipeline."""
    homes = {n: tmp_path / f"w{n}" for n in (1, 64)}
    for n, home in homes.items():
        out = hotwatch("scan", "--workers", str(n), str(small_roll.folder), home=home)
        assert out.returncode == 0
    pool = tmp_path / "pool"
    paths = resolve_paths(pool).ensure()
    with Catalogue(paths.catalogue) as cat:
        ingestor = Ingestor(paths, cat)
        summary = scan(ingestor, [small_roll.folder], workers=3)
        ingestor.close()
    assert summary.statuses[FileStatus.INGESTED] > 0
    assert defects_json(homes[1]) == defects_json(homes[64]) == defects_json(pool)


def test_bad_inputs_are_reported_and_skipped(small_roll, tmp_path, home):
    bad = tmp_path / "bad"
    bad.mkdir()
    src = sorted(small_roll.folder.glob("*.JPG"))[3]
    data = src.read_bytes()
    (bad / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (bad / "notes.jpg").write_text("not an image at all")
    (bad / "empty.nef").write_bytes(b"")
    (bad / "movie.xyz").write_bytes(b"\0" * 100)
    (bad / "photo.jpg.xmp").write_text("<x:xmpmeta/>")
    Image.new("RGB", (160, 120)).save(bad / "thumb.jpg")
    locked = bad / "locked"
    locked.mkdir()
    shutil.copy(src, locked / "hidden.jpg")
    os.chmod(locked, 0)
    try:
        proc = hotwatch("scan", str(small_roll.folder), str(bad), home=home, check=False)
    finally:
        os.chmod(locked, stat.S_IRWXU)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    for name in ("truncated.jpg", "notes.jpg", "empty.nef", "movie.xyz", "thumb.jpg"):
        assert sum(name in line for line in err.splitlines()) == 1, (name, err)
    assert "photo.jpg.xmp" not in err
    if os.geteuid() != 0:  # root reads any folder
        assert "locked" in err
    with Catalogue(home / "catalogue.sqlite", readonly=True) as cat:
        rows = {os.path.basename(f.path): f for f in cat.files()}
        assert rows["truncated.jpg"].status.value == "failed"
        assert rows["empty.nef"].reason == "empty file"
        assert rows["thumb.jpg"].status.value == "skipped" and rows["thumb.jpg"].reason
        assert rows["notes.jpg"].status.value in ("skipped", "failed")
    # nothing accumulated is lost; a scan of only bad files exits non-zero
    assert defects_json(home)["cameras"]
    only_bad = hotwatch("scan", str(bad / "notes.jpg"), home=tmp_path / "h2", check=False)
    assert only_bad.returncode == 1


def test_cameras_defects_and_export(small_roll, home, tmp_path):
    hotwatch("scan", str(small_roll.folder), home=home)
    cams = json.loads(hotwatch("cameras", "--json", home=home).stdout)["cameras"]
    assert [c["label"] for c in cams] == ["CANON EOS 5D #012345678"]
    text = hotwatch("defects", "canon eos", home=home).stdout
    assert "CANON EOS 5D #012345678" in text
    raw = next(c for c in defects_json(home)["cameras"] if c["frame"] == "raw")
    dcraw = hotwatch("export", "12345678", "--format", "dcraw", home=home).stdout
    lines = [ln.split() for ln in dcraw.splitlines()]
    assert sorted((int(c), int(r)) for c, r, _ in lines) == sorted(
        (d["x"], d["y"]) for d in raw["defects"]
    )
    assert all(0 < int(t) < 2**31 for _, _, t in lines)
    hotwatch("export", "CANON", "--format", "rawtherapee", "-o", str(tmp_path), home=home)
    rt = tmp_path / "Canon EOS 5D 012345678.badpixels"
    assert len(rt.read_text().splitlines()) == len(raw["defects"])
    missing = hotwatch("export", "nikon", "--format", "dcraw", home=home, check=False)
    assert missing.returncode == 1 and "no camera body matches" in missing.stderr
    (tmp_path / "a-file").write_text("")  # not a folder: nothing can be written under it
    nowhere = tmp_path / "a-file" / "map.txt"
    bad_out = hotwatch(
        "export", "CANON", "--format", "dcraw", "-o", str(nowhere), home=home, check=False
    )
    assert bad_out.returncode == 1 and "Traceback" not in bad_out.stderr
    # one line naming what stood in the way (mkdir says "File exists" for its parent)
    line = bad_out.stderr.strip()
    assert line.startswith("hotwatch export: ") and "a-file" in line and "\n" not in line


def test_home_env_and_usage_errors(tmp_path, small_roll):
    env_home = tmp_path / "envhome"
    proc = hotwatch("cameras", check=False, home=None)
    assert proc.returncode in (0, 1)
    hotwatch("scan", str(small_roll.folder), env={"HOTWATCH_HOME": str(env_home)})
    assert (env_home / "catalogue.sqlite").exists()
    assert hotwatch("scan", home=env_home, check=False).returncode == 2


def test_result_does_not_depend_on_how_the_roll_arrived(small_roll, tmp_path):
    """One scan, or a scan of a few files followed by the rest: the same defects,
    confirmed on the same frames (the state lives in the accumulator, not in
    when checkpoints happened to fall)."""
    once, parts = tmp_path / "once", tmp_path / "parts"
    hotwatch("scan", str(small_roll.folder), home=once)
    files = sorted(small_roll.folder.glob("IMG_00[0-2]*"))
    hotwatch("scan", *map(str, files), home=parts)
    hotwatch("scan", str(small_roll.folder), home=parts)
    assert defects_json(once) == defects_json(parts)


def test_two_bodies_of_one_model_are_kept_apart(tmp_path, home):
    """Same make and model, different serials: two bodies, each with its own defects."""
    a = make_roll(
        tmp_path / "a",
        n=40,
        seed=31,
        counts={"stuck": 2},
        serial="1111",
        formats=("dng",),
        make="NIKON CORPORATION",
        model="NIKON D80",
    )
    b = make_roll(
        tmp_path / "b",
        n=40,
        seed=32,
        counts={"dead": 2},
        serial="2222",
        formats=("dng",),
        make="Nikon",
        model="D80",
    )
    hotwatch("scan", str(a.folder), str(b.folder), home=home)
    cams = {c["serial"]: c for c in defects_json(home)["cameras"]}
    assert set(cams) == {"1111", "2222"}
    assert {(c["make"], c["model"]) for c in cams.values()} == {("NIKON", "D80")}
    for serial, roll, other in (("1111", a, b), ("2222", b, a)):
        found = {(d["x"], d["y"]) for d in cams[serial]["defects"]}
        mine = {(t["x"], t["y"]) for t in roll.truth}
        theirs = {(t["x"], t["y"]) for t in other.truth}
        assert found and found <= mine and not found & theirs, (serial, found)
