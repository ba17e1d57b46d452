"""``python -m synthswarm`` is the ``synthswarm`` command."""

from synthswarm.swarm.app.cli import main

main()
