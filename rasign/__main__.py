"""``python -m rasign``: the same CLI as the ``rasign`` command."""

from rasign.cli.main import run

run()
