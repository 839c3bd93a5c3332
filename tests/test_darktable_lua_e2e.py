"""The Lua script end to end in real darktable 4.2 under Xvfb, with the real hotwatch CLI.

``hotwatch scan`` learns a simulated body's defects from a 40-photo roll; then
``hotwatch darktable install --luarc`` puts the script into a fresh darktable
config, and darktable (``--library :memory:``) imports a later photo of that
body whose name has quotes, ``$(...)``, ``;`` and non-ASCII in it. The script
must tag it, heal it through ``hotwatch darktable heal`` and the re-import, and
darktable must quit with status 0 without running anything from the name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hotwatch.darktable.xmp import sidecar_paths, sidecar_state
from tests.support.cli import hotwatch
from tests.support.darktable import SIM_SHOTS, sim_camera, sim_shots, train_home

ROOT = Path(__file__).resolve().parents[1]


def test_import_tags_and_heals_a_file_with_a_hostile_name(tmp_path):
    home, conf = tmp_path / "home", tmp_path / "dtconf"
    cams = train_home(home, tmp_path / "roll", formats=("jpeg",))["cameras"]
    assert [(c["frame"], len(c["defects"])) for c in cams] == [("jpeg", 4)]
    kinds = sorted(d["kind"] for d in cams[0]["defects"])
    target_dir = tmp_path / "import"
    target_dir.mkdir()
    name = "it's $(touch pwned); über.jpg"
    sim_camera().write_jpeg(sim_shots()[SIM_SHOTS + 1], target_dir / name)  # a later photo

    proc = hotwatch(
        "darktable", "install", "--luarc", "--darktable-config", str(conf), home=home, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert (conf / "lua" / "hotwatch" / "hotwatch.lua").exists()
    assert 'require "hotwatch/hotwatch"' in (conf / "luarc").read_text()
    # the script runs `hotwatch` from PATH: a wrapper that points it at this home
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "hotwatch"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m hotwatch --home "{home}" "$@"\n'
    )
    wrapper.chmod(0o755)
    lua = (
        'local dt = require "darktable"; '
        f"dt.database.import({json.dumps(str(target_dir))}); "
        "dt.control.sleep(6000); "
        'dt.gui.action("global/quit", 0, "", "", 1.0)'
    )
    t0 = time.monotonic()
    darktable = ["xvfb-run", "-a", "darktable", "--library", ":memory:", "--configdir"]
    run = subprocess.run(
        [*darktable, str(conf), "-d", "lua", "--luacmd", lua],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "LANG": "C"},
    )
    seconds = time.monotonic() - t0
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    print(f"darktable import + heal + quit: {seconds:.1f} s")
    assert not (tmp_path / "pwned").exists() and not (target_dir / "pwned").exists()
    assert "hotwatch failed" not in log and "re-import failed" not in log, log[-3000:]
    assert "healed 4 defects" in log, log[-3000:]

    sidecar = sidecar_paths(target_dir / name)[0]
    text = sidecar.read_text(encoding="utf-8")
    assert "hotwatch|healed" in text
    assert "hotwatch|body|SIMULATED HW-1 1001" in text
    for kind in set(kinds):
        assert f"hotwatch|{kind} pixels|{kinds.count(kind)}" in text
    # the library's sidecar (written by darktable after the re-import) holds the heal
    assert sidecar_state(text).hotwatch_shapes == len(kinds)
    # and hotwatch agrees that nothing is left to do
    again = hotwatch("darktable", "heal", str(target_dir / name), "--json", home=home, check=False)
    assert json.loads(again.stdout)["results"][0]["status"] == "unchanged"
