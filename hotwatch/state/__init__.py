"""What hotwatch keeps between runs: paths and settings, the watched folders, the SQLite
catalogue, the accumulator files, and the run files the daemon and the tray share.
Imports the core and io."""
