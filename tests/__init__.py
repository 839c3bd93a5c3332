"""hotwatch's tests. A package, so that tests and benchmarks import their shared support
as ``tests.support`` (run from the repository root)."""
