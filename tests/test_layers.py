"""The import rules of hotwatch's layers, in one place, checked on every module's source.

Each folder of ``hotwatch/`` is a layer (see docs/architecture.md). A layer may import the
layers listed for it below and nothing else of hotwatch, and of the libraries outside the
standard library only those listed for it. The core is held to more: no standard module
that touches files, processes, threads, sockets or logging either, so that it can be
tested and reused without any of them. Every ``import`` counts, at the top of a module or
inside a function (a lazy import is still a dependency).

The check reads the source (an AST walk over ``hotwatch/**``), so it sees imports that a
test run would never execute, and it says which module broke which rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import hotwatch

PACKAGE = Path(hotwatch.__file__).parent

#: layer -> the layers (or single modules, "darktable.heal") it may import
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "io": {"core", "io"},
    "state": {"core", "io", "state"},
    "pipeline": {"core", "io", "state", "pipeline"},
    "daemon": {"core", "io", "state", "pipeline", "daemon"},
    "darktable": {"core", "io", "state", "darktable"},
    "outputs": {"core", "io", "state", "outputs", "darktable.heal"},
    "desktop": {"core", "io", "state", "outputs", "desktop"},
    "sim": {"core", "state", "sim"},
}
#: the modules outside ``sim`` that may import it: the demo command (tests and benchmarks
#: may too; they are not part of the package)
SIM_IMPORTERS = {"hotwatch.commands.demo"}
#: layer -> the libraries outside the standard library it may import
LIBRARIES: dict[str, set[str]] = {
    "core": {"numpy", "numba", "zstandard"},  # zstandard: the accumulator's bytes, in memory
    "io": {"numpy", "exifread", "rawpy", "PIL", "simplejpeg", "pillow_heif"},
    "state": {"platformdirs"},
    "pipeline": {"numpy", "xxhash"},
    "daemon": {"watchdog"},
    "darktable": {"numpy"},
    "outputs": {"numpy", "PIL", "jeepney"},
    # jeepney: is a StatusNotifier host on the session bus (desktop.hosts); gi: can this
    # Python reach it (PyGObject is tried, never required: pystray's appindicator uses it)
    "desktop": {"PIL", "pystray", "Xlib", "jeepney", "gi"},
    "sim": {"numpy", "PIL", "tifffile"},
}
#: standard modules the core may not use: it touches no file, process, thread or socket
#: and logs nothing (its callers do)
CORE_FORBIDS = {
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "sqlite3",
    "subprocess",
    "multiprocessing",
    "concurrent",
    "threading",
    "socket",
    "signal",
    "fcntl",
    "logging",
}
#: the top of the package: anything may be imported there
FREE = {"cli", "commands", "__main__", "__init__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(node.lineno, _submodule(module, alias.name)) for alias in node.names]
    return found


def _submodule(module: str, name: str) -> str:
    """``from hotwatch.darktable import heal``: the module ``hotwatch.darktable.heal``;
    ``from hotwatch.core.model import Defect``: the module ``hotwatch.core.model``."""
    if module.split(".")[0] != "hotwatch":
        return module
    inner = PACKAGE.parent.joinpath(*module.split("."), name)
    is_module = inner.with_suffix(".py").is_file() or (inner / "__init__.py").is_file()
    return f"{module}.{name}" if is_module else module


def _layer(module: str) -> str:
    """``hotwatch.io.exif.names`` -> ``io``; ``hotwatch.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _allowed(importer: str, imported: str) -> bool:
    layer = _layer(importer)
    target = imported.split(".")[1:]
    if target[:1] == ["sim"] and layer != "sim":
        return importer in SIM_IMPORTERS
    if layer in FREE or not target:  # the package itself holds nothing but a docstring
        return True
    rules = MAY_IMPORT[layer]
    return target[0] in rules or ".".join(target[:2]) in rules


def _breaches(path: Path) -> list[str]:
    importer = _module_name(path)
    layer = _layer(importer)
    out = []
    for line, imported in _imports(path):
        top = imported.split(".")[0]
        where = f"{path.relative_to(PACKAGE.parent)}:{line}: {importer} imports {imported}"
        if top == "hotwatch":
            if not _allowed(importer, imported):
                out.append(where)
        elif top == "__future__" or layer in FREE:
            continue
        elif top in sys.stdlib_module_names:
            if layer == "core" and top in CORE_FORBIDS:
                out.append(where + " (the core touches no files, threads or logs)")
        elif top not in LIBRARIES[layer]:
            out.append(where + f" (not a library of the {layer} layer)")
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_belongs_to_a_layer_with_rules():
    layers = {_layer(_module_name(p)) for p in MODULES}
    assert layers - FREE == set(MAY_IMPORT), "a folder without rules, or rules without a folder"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layer_rules(path: Path):
    assert _breaches(path) == []


def test_the_rules_catch_a_breach(tmp_path):
    """The check itself: a core module importing sqlite3 and the catalogue, an io module
    importing the pipeline, a desktop module importing the simulator, all refused."""
    core = PACKAGE / "core" / "probe_breach.py"
    try:
        core.write_text(
            "import sqlite3\nfrom hotwatch.state import catalogue\nimport numpy\n",
            encoding="utf-8",
        )
        found = _breaches(core)
    finally:
        core.unlink()
    assert [b.split(": ", 1)[1].split(" (")[0] for b in found] == [
        "hotwatch.core.probe_breach imports sqlite3",
        "hotwatch.core.probe_breach imports hotwatch.state.catalogue",
    ]
    assert not _allowed("hotwatch.io.frames", "hotwatch.pipeline.ingest")
    assert not _allowed("hotwatch.desktop.tray", "hotwatch.sim.camsim")
    assert _allowed("hotwatch.commands.demo", "hotwatch.sim.demo")
    assert _allowed("hotwatch.outputs.report.healing", "hotwatch.darktable.heal")
    assert not _allowed("hotwatch.outputs.report.healing", "hotwatch.darktable.xmp")
