"""What tests and benchmarks share: simulated rolls, the real ``hotwatch`` command line,
real files in each camera's layout, a desktop for the tray, darktable runs, and the real
camera files kept beside the repository (``../shared/data``).

Fixtures stay in ``tests/conftest.py``; everything a test or a benchmark calls lives here,
once, and is imported (``from tests.support.rolls import make_roll``).
"""
