"""The jobs of :class:`synthswarm.agents.specialist.Specialist`, one private module each (the map is in
that module's docstring).

Imports point one way, down this list: ``specialist``; ``answering`` (over ``generation``,
``follow_ups``, ``evidence``); ``queries`` (over ``relays``); ``linking`` (over ``sharing``);
``knowledge``, ``interests``; ``core``; ``settings``. Below them all are the public agent modules they
use (``sources``, ``asking``, ``memory``, ``retrieval``, ``synthesis``), which import none of them:
:mod:`synthswarm.agents.sources` reaches the agent through its
:class:`~synthswarm.agents.sources.Asker` protocol, which the core satisfies.
"""
