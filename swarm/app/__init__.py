"""The applications: everything composed on the agents and the network floors.

- :mod:`~synthswarm.swarm.app.runtime`: :class:`~synthswarm.swarm.app.runtime.Swarm`, a whole swarm in one
  object
- :mod:`~synthswarm.swarm.app.cli`: the ``synthswarm`` command, with one module per command group
  (``chat_cli``, ``demo_cli``, ``node_cli``, ``serve_cli``, ``mcp_cli``)
- :mod:`~synthswarm.swarm.app.server`: the OpenAI-compatible HTTP API and the web page, with A2A
  (:mod:`~synthswarm.swarm.app.a2a_server`); :mod:`~synthswarm.swarm.app.mcp_server` is
  ``synthswarm mcp``
- :mod:`~synthswarm.swarm.app.demo`, :mod:`~synthswarm.swarm.app.diagnostics`
- :mod:`~synthswarm.swarm.app.bench`: ``synthswarm bench ...``, with the fuzzer
  (:mod:`~synthswarm.swarm.app.fuzz`)

The layering test (``tests/unit/test_layers.py``) reads each module's floor from its folder: this one may
import both floors below it; nothing below imports it.
"""
