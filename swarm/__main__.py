"""``python -m swarm`` is the ``synthswarm`` command."""

from swarm.cli import main

main()
