"""The network under a swarm: its transport (one ZeroMQ context for inproc), a DHT node per specialist,
and the router that joins them."""

from __future__ import annotations

import zmq.asyncio

from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.entities import ENTITY_SOURCES
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.transport import new_context
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.routers import Router, make_router
from synthswarm.swarm.semantic import SemanticHasher

__all__ = ["NodeFactory", "build_router", "check_config"]


def check_config(config: SwarmConfig) -> None:
    """Refuse settings that cannot work together, before anything starts."""
    if config.router != "dht" and config.bootstrap:
        raise ConfigError("swarm.bootstrap", f"only the dht router spans processes, not {config.router}")
    for name in ("secure", "advertise"):
        if getattr(config, name) and config.transport != "tcp":
            raise ConfigError(f"swarm.{name}", "needs swarm.transport = tcp (inproc stays in one process)")
    if config.entities not in ENTITY_SOURCES:  # a SwarmConfig made in code is not checked as it is read
        raise ConfigError("swarm.entities", f"unknown {config.entities!r}: use {', '.join(ENTITY_SOURCES)}")


def build_router(config: SwarmConfig, nodes: list[DHTNode], embedder: Embedder) -> Router:
    """The configured router over the swarm's nodes, hashing interests in the embedder's space."""
    hasher = SemanticHasher(embedder.dims)
    return make_router(config.router, nodes, hasher=hasher, m=config.m, gossip_budget=config.gossip_budget)


class NodeFactory:
    """Makes the DHT nodes of one swarm (``owner``: its id, which keeps inproc addresses its own)."""

    def __init__(self, owner: int) -> None:
        self._owner = owner
        self._made = 0
        self.context: zmq.asyncio.Context | None = None
        """The swarm's own ZeroMQ context, with the inproc transport (inproc needs one shared context)."""

    def open_transport(self, config: SwarmConfig) -> None:
        if config.transport == "inproc":
            self.context = new_context()

    def close_transport(self) -> None:
        if self.context is not None:
            self.context.term()
            self.context = None

    async def new_node(self, config: SwarmConfig, nodes: list[DHTNode]) -> DHTNode:
        """A node joined to the bootstrap addresses, or else to the swarm's first node (of ``nodes``)."""
        c = config
        bootstrap = [a.strip() for a in c.bootstrap.split(",") if a.strip()]
        advertise = f"tcp://{c.advertise}:*" if c.advertise else None
        # inproc addresses are never reused: a node added later must not take a left one's address
        n, self._made = self._made, self._made + 1
        listen = f"inproc://swarm-{self._owner:x}-{n}" if c.transport == "inproc" else f"tcp://{c.host}:*"
        return await DHTNode.create(
            listen=listen,
            advertise=advertise,
            bootstrap=bootstrap or [n.address for n in nodes[:1]],
            context=self.context,
            settings=DHTSettings(secure=c.secure),
        )
