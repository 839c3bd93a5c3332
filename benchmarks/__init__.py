"""hotwatch's benchmarks: scripts that print numbers, run as modules from the repository
root (``python -m benchmarks.bench_core``) so that they import ``hotwatch`` and
``tests.support`` from the checkout."""
