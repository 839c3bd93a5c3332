"""``hotwatch watch``: the inbox the observers fill, the settler that says when a file is
complete, the daemon that ingests it, and systemd's notify protocol. Imports the pipeline,
state, io and the core."""
