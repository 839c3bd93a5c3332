"""Where the files hotwatch installs into other programs live (the darktable Lua script).

One copy of the script exists: ``plugins/darktable/hotwatch.lua`` in a source
checkout. A built package (wheel) carries it as package data at
``hotwatch/darktable/hotwatch.lua``. Both are looked for, checkout first, so an
editable install or a run from the repository always uses the file being edited.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hotwatch.core.errors import UserError

#: The script in a source checkout, relative to the repository root.
CHECKOUT_SCRIPT = Path("plugins") / "darktable" / "hotwatch.lua"
#: The script as package data, relative to the ``hotwatch`` package.
PACKAGED_SCRIPT = ("darktable", "hotwatch.lua")


def _checkout_script() -> Path | None:
    root = Path(__file__).resolve().parents[2]  # hotwatch/darktable/install.py -> the checkout
    path = root / CHECKOUT_SCRIPT
    return path if path.is_file() else None


@contextmanager
def darktable_script() -> Iterator[Path]:
    """A real file path to the darktable Lua script, valid inside the ``with`` block.

    Raises UserError when neither the checkout nor the package has it (a
    package built without its data files).
    """
    checkout = _checkout_script()
    if checkout is not None:
        yield checkout
        return
    packaged = importlib.resources.files("hotwatch").joinpath(*PACKAGED_SCRIPT)
    if not packaged.is_file():
        raise UserError(
            "the darktable script is missing from this hotwatch installation "
            f"(looked for {CHECKOUT_SCRIPT} and hotwatch/{'/'.join(PACKAGED_SCRIPT)})"
        )
    with importlib.resources.as_file(packaged) as path:
        yield Path(path)
