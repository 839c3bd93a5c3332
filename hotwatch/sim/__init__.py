"""The simulated camera and what is measured with it: camsim (planner, sensor, scenes,
writers), scoring against its ground truth, and ``hotwatch demo``. Only the demo command
imports it (tests and benchmarks may); nothing else in hotwatch does."""
