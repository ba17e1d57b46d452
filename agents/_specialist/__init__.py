"""The jobs of :class:`synthswarm.agents.specialist.Specialist`, one private module each.

Imports point one way: ``specialist`` over these modules; each over ``core`` (and ``settings``, below
it); ``queries`` over ``relays``; ``answering`` over ``generation``, ``follow_ups`` and ``evidence``;
and the jobs over the public agent modules (``asking``, ``sources``, ``memory``, ``retrieval``,
``synthesis``), which import none of them. The map of the jobs is in the ``specialist`` module's
docstring.
"""
