"""How findings move through a synthesis swarm.

Map of the package (GUIDE section 2):

- :mod:`synthswarm.swarm.packet`: :class:`~synthswarm.swarm.packet.OutcomePacket`, its canonical signed
  encoding and size cap
- :mod:`synthswarm.swarm.identity`: Ed25519 identities; an id is SHA-256 of a public key
- :mod:`synthswarm.swarm.config`: the typed :class:`~synthswarm.swarm.config.Config` and how it is loaded
- :mod:`synthswarm.swarm.errors`: the exception tree rooted in
  :class:`~synthswarm.swarm.errors.SynthswarmError`
- :mod:`synthswarm.swarm.app.diagnostics`: ``synthswarm models check``
- :mod:`synthswarm.swarm.app.bench`: ``synthswarm bench ...``
- :mod:`synthswarm.swarm.app.cli`: the ``synthswarm`` command

Nothing in ``synthswarm.swarm.packet``, ``synthswarm.swarm.identity`` or ``synthswarm.swarm.errors`` knows
about agents or LLMs.
"""
