"""The parts of :class:`~synthswarm.swarm.dht.node.DHTNode`, one job a module, put together by
:mod:`synthswarm.swarm.dht.node` (import the public names from there):

- :mod:`~synthswarm.swarm.dht._node.settings`: :class:`DHTSettings`, the protocol parameters
- :mod:`~synthswarm.swarm.dht._node.stats`: :class:`NodeStats`, and request and byte sums over nodes
- :mod:`~synthswarm.swarm.dht._node.wire`: what client and server share (identity, address, sockets, frames)
- :mod:`~synthswarm.swarm.dht._node.client`: the RPC client (retries, timeouts, back-off), and the one
  place a node's requests to itself are answered locally
- :mod:`~synthswarm.swarm.dht._node.server`: the RPC server (checks, handlers, application requests)
- :mod:`~synthswarm.swarm.dht._node.storing`: STOREs on a key's closest nodes, and STOREs accepted
- :mod:`~synthswarm.swarm.dht._node.replication`: republish, replicate, welcome, hand-off (section 2.5)
- :mod:`~synthswarm.swarm.dht._node.welcoming`: welcomes given once, and asked for on joining
- :mod:`~synthswarm.swarm.dht._node.joining`: joining, and the bucket refreshes
- :mod:`~synthswarm.swarm.dht._node.persistence`: the key, snapshot and journal in a state directory

Each takes what it needs of the node as a small Protocol or as callables, so none imports the node.
"""
