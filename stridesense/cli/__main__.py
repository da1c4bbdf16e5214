"""``python -m stridesense.cli``: the same as the ``stridesense`` command."""

from stridesense.cli import run

run()
