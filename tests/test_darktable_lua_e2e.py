"""The Lua script end to end in real darktable 4.2 under Xvfb, with the real hotwatch CLI.

``hotwatch scan`` learns a simulated body's defects from a 40-photo roll (JPEG and DNG);
then ``hotwatch darktable install --luarc`` puts the script into a fresh darktable
config, and darktable (``--library :memory:``) imports a RAW+JPEG pair of that body, taken
later, whose names have quotes, ``$(...)``, ``;`` and non-ASCII in them. The script must
tag both, heal both through ``hotwatch darktable heal`` and the re-import (darktable 4.2
has no ``apply_sidecar``), and darktable must quit with status 0 without running anything
from the names. Two photos in one import is the case where darktable's own sidecar writes
once undid a heal. The same run on darktable 5.x: ``test_darktable5_lua_e2e.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.support.cli import REPO
from tests.support.darktable import check_plugin_run, plugin_luacmd, plugin_setup, train_home


def test_import_of_a_pair_tags_and_heals_both(tmp_path):
    home = tmp_path / "home"
    cams = train_home(home, tmp_path / "roll")["cameras"]
    assert {(c["frame"], len(c["defects"])) for c in cams} == {("jpeg", 4), ("raw", 4)}
    setup = plugin_setup(tmp_path, home, cams)
    assert (setup.conf / "lua" / "hotwatch" / "hotwatch.lua").exists()
    assert 'require "hotwatch/hotwatch"' in (setup.conf / "luarc").read_text()
    # the script runs `hotwatch` from PATH: a wrapper that points it at this home
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "hotwatch"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m hotwatch --home "{home}" "$@"\n'
    )
    wrapper.chmod(0o755)
    darktable = ["xvfb-run", "-a", "darktable", "--library", ":memory:", "--configdir"]
    lua = plugin_luacmd(setup.folder, len(setup.photos))
    t0 = time.monotonic()
    run = subprocess.run(
        [*darktable, str(setup.conf), "-d", "lua", "--luacmd", lua],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "LANG": "C"},
    )
    log = run.stdout + run.stderr
    print(f"darktable import + heal + quit: {time.monotonic() - t0:.1f} s")
    print("\n".join(line for line in log.splitlines() if "PROBE" in line or "hotwatch:" in line))
    assert run.returncode == 0, log[-3000:]
    assert "PROBE api 9.0.0" in log  # darktable 4.2: no apply_sidecar, the re-import route
    check_plugin_run(setup, log, "re-imported")
