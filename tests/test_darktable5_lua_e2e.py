"""The Lua script end to end in darktable 5.x under Xvfb, in the trixie chroot.

As ``test_darktable_lua_e2e.py`` does on darktable 4.2: ``hotwatch scan`` learns a
simulated body's defects, ``hotwatch darktable install --luarc`` puts the script into a
fresh darktable config, and darktable imports a RAW+JPEG pair of that body, taken later,
whose names hold quotes, ``$(...)``, ``;`` and non-ASCII. The script must tag and heal
both photos, and the sidecars darktable writes afterwards must hold the tags and the heal in
a form hotwatch recognises (a second ``heal`` changes nothing). darktable 5.4.1
(trixie-backports, Lua API 9.6.0) reloads the healed sidecar with ``image:apply_sidecar``;
5.0.1 (trixie, 9.4.0) has no such call and the script re-imports the photo.

darktable runs in the chroot; the ``hotwatch`` it finds is this checkout, run on the host
(``tests.support.chroot.hotwatch_wrapper``).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.chroot import DARKTABLES, chroot_dir, hotwatch_wrapper, run_in_chroot
from tests.support.darktable import check_plugin_run, plugin_luacmd, plugin_setup, train_home


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(home, cameras of ``defects --json``): the simulated body, JPEG and DNG."""
    chroot_dir()  # fails with the way to build it when it is missing
    base = tmp_path_factory.mktemp("dt5-trained")
    cams = train_home(base / "home", base / "roll")["cameras"]
    assert {(c["frame"], len(c["defects"])) for c in cams} == {("jpeg", 4), ("raw", 4)}
    return base / "home", cams


@pytest.mark.parametrize("darktable", DARKTABLES, ids=lambda d: d.name)
def test_import_of_a_pair_tags_and_heals_both(tmp_path, trained, darktable):
    home, cams = trained
    setup = plugin_setup(tmp_path, home, cams)
    bindir = tmp_path / "bin"
    hotwatch_wrapper(bindir, home)
    cmd = [
        "env",
        f"PATH={bindir}:/usr/bin:/bin",
        "LANG=C",
        "xvfb-run",
        "-a",
        darktable.gui,
        "--library",
        ":memory:",
        "--configdir",
        str(setup.conf),
        "-d",
        "lua",
        "--luacmd",
        plugin_luacmd(setup.folder, len(setup.photos)),
    ]
    t0 = time.monotonic()
    run = run_in_chroot(cmd, [tmp_path], host=True, timeout=300)
    log = run.stdout + run.stderr
    (tmp_path / "darktable.log").write_text(log, encoding="utf-8")
    print(f"darktable {darktable.name}: import + heal + quit in {time.monotonic() - t0:.1f} s")
    print("\n".join(line for line in log.splitlines() if "PROBE" in line or "hotwatch:" in line))
    assert run.returncode == 0, log[-3000:]
    api = re.search(r"PROBE api (\d+\.\d+\.\d+)", log)
    assert api, log[-3000:]
    # the branch the script takes follows the API: apply_sidecar came with 9.5.0
    assert (tuple(map(int, api.group(1).split("."))) >= (9, 5, 0)) == darktable.apply_sidecar
    check_plugin_run(setup, log, "sidecar applied" if darktable.apply_sidecar else "re-imported")
