"""How findings move through a synthesis swarm.

Map of the package (GUIDE section 2):

- :mod:`swarm.packet`: :class:`~swarm.packet.OutcomePacket`, its canonical signed encoding and size cap
- :mod:`swarm.identity`: Ed25519 identities; an id is SHA-256 of a public key
- :mod:`swarm.config`: the typed :class:`~swarm.config.Config` and how it is loaded
- :mod:`swarm.errors`: the exception tree rooted in :class:`~swarm.errors.SynthswarmError`
- :mod:`swarm.diagnostics`: ``synthswarm models check``
- :mod:`swarm.bench`: ``synthswarm bench ...``
- :mod:`swarm.cli`: the ``synthswarm`` command

Nothing in ``swarm.packet``, ``swarm.identity`` or ``swarm.errors`` knows about agents or LLMs.
"""
