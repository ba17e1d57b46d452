"""The dispatcher's parts, behind :mod:`synthswarm.agents.dispatcher` (which wires them into the graph).

- :mod:`.events`: the custom events the graph streams, and :class:`~.events.AnswerStream`, which reads
  the answer's text back from them.
- :mod:`.state`: what flows through the graph: its state, a fan-out branch's task, node names, and the
  plain-data record of each specialist's answer.
- :mod:`.turns`: a conversation's finished turns, from messages and back.
- :mod:`.step`: running one node: what it takes of LangGraph's context, its span, and sync/async.
- :mod:`.team`: the specialists there now, by name, and the names provenance gives agents.
- :mod:`.route`: the ``route`` node, which chooses the specialists, and the fan-out to them.
- :mod:`.retry`: the default retry policy of a branch, and whether a failure will be retried.
- :mod:`.consult`: the ``consult`` node: one specialist asked, after approval, its failure reported.
- :mod:`.answer`: the ``synthesize`` and ``respond`` nodes: one answer, then the reply with provenance.
"""
