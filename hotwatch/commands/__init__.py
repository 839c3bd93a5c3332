"""One module per group of ``hotwatch`` subcommands; each has ``register(subparsers)``."""
