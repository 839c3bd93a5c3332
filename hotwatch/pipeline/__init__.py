"""Taking photos in: ingest one file, scan folders, rebuild outdated accumulators,
re-identify bodies. Imports the core, io and state."""
