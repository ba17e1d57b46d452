"""The jobs behind :class:`synthswarm.swarm.app.runtime.Swarm`, one module each (the public class and
names live in ``runtime.py``, as openai-agents keeps ``run.py`` over ``run_internal/``):

- ``specs``: the ``[[agents]]`` tables of a config file, read into :class:`AgentSpec`;
- ``making``: a specialist made with the swarm's models, memory and identity;
- ``parts``: the state the jobs share (specialists, nodes, router, dispatcher, tasks);
- ``network``: the transport, one DHT node per specialist, and the router that joins them;
- ``tools``: the MCP servers of the specialists, connected once per swarm;
- ``watching``: listeners of the packets the specialists keep;
- ``lifecycle``: starting and stopping, sharing knowledge, retrying deliveries;
- ``membership``: specialists added to or removed from a running swarm;
- ``asking``: turns on a conversation thread, asking and resuming through the dispatcher;
- ``loop``: a swarm run from synchronous code, on a loop in a background thread.

No module here imports ``runtime``; ``runtime`` imports them.
"""
