from hotwatch.cli import run

run()
