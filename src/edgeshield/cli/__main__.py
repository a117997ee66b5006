"""``python -m edgeshield.cli``: the same command as the ``edgeshield`` script."""

from edgeshield.cli._app import main

main()
