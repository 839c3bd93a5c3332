"""Regenerate docs/report.png, the README's picture of the sensor report.

Runs ``hotwatch demo`` into a temporary folder, hides the defect tables (the map, the timeline
and the close-ups say the same, and fit one picture), and has headless Chromium take the
screenshot. Usage: ``python docs/make_screenshot.py`` from the repository root, with hotwatch
installed (``pip install -e .``).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from hotwatch.cli import main

ROOT = Path(__file__).resolve().parent.parent

HIDE = "<style>.defects-title, .defect-list { display: none; }</style>"
SIZE = (1150, 2100)


def run() -> Path:
    with tempfile.TemporaryDirectory(prefix="hotwatch-shot-") as tmp:
        folder = Path(tmp) / "demo"
        if main(["-q", "demo", str(folder), "--no-open"]) != 0:
            raise SystemExit("hotwatch demo failed")
        page = folder / "home" / "reports" / "simulated-hw-1-demo0001.html"
        shot_page = page.with_name("shot.html")
        shot_page.write_text(
            page.read_text(encoding="utf-8").replace("</head>", HIDE + "</head>", 1),
            encoding="utf-8",
        )
        raw = Path(tmp) / "shot.png"
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--window-size={SIZE[0]},{SIZE[1]}",
                f"--screenshot={raw}",
                shot_page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        out = ROOT / "docs" / "report.png"
        Image.open(raw).convert("RGB").save(out, "PNG", optimize=True)
    return out


if __name__ == "__main__":
    print(run())
