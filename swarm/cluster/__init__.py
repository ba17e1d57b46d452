"""One swarm over several processes: shards of DHT nodes (and the agents subscribed on them) in child
processes over TCP loopback, for tests and benchmarks. It sits above :mod:`synthswarm.swarm.dht` and
:mod:`synthswarm.swarm.routers`, in the network layer: it knows nothing of agents' models or applications.
"""

from synthswarm.swarm.cluster.shards import Shards, launch_shards

__all__ = ["Shards", "launch_shards"]
