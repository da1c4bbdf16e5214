from stridesense.cli import run

run()
