"""What a node's RPC client and server share: who the node is and where, its sockets, its counters,
the check of Curve proofs, and the frames it writes and reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from synthswarm.swarm.dht._node.stats import NodeStats
from synthswarm.swarm.dht.curve import CurveProofs
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import Envelope, Message, decode_frame, encode_frame
from synthswarm.swarm.dht.ports import Transport
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.identity import Identity

__all__ = ["Wire"]

log = logging.getLogger(__name__)


@dataclass
class Wire:
    """The node of ``identity``, advertised at ``address``, on ``transport``."""

    identity: Identity
    address: str
    transport: Transport
    stats: NodeStats
    proofs: CurveProofs = field(default_factory=CurveProofs)

    @property
    def contact(self) -> Contact:
        return Contact(self.identity.id, self.address)

    @property
    def secured(self) -> bool:
        return self.transport.curve is not None

    def envelope(self, rpc_id: bytes, message: Message) -> Envelope:
        """``message`` as this node's, in the RPC ``rpc_id``."""
        return Envelope(rpc_id, self.identity.public_key, self.address, message)

    def frame(self, rpc_id: bytes, message: Message) -> bytes:
        return encode_frame(self.envelope(rpc_id, message))

    def read(self, frame: bytes, kind: str) -> Envelope | None:
        """The envelope in a ``kind`` (request, reply) frame; None, counted, for one that does not decode."""
        try:
            return decode_frame(frame)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            log.debug("bad %s frame: %s", kind, exc)
            return None
