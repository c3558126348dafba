"""``python -m rasign``: the same CLI as the ``rasign`` command."""

from rasign.entry import run

run()
