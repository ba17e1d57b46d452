"""Direct messages between agents: replies to a query, fetches of passage texts, and relayed queries.

A query packet travels through whatever router the swarm uses; what comes back does not. The query
names its asker's node (:func:`reply_ref`, one of the packet's signed evidence refs), and each agent
that can help sends its :class:`Reply` straight there: passage ids, sources, titles and scores, no
texts. The asker ranks every offer it got and then fetches (:class:`FetchRequest`) only the texts of the
passages that make its context, from the nodes that offered them. Both are ZeroMQ requests counted at
the socket under the categories :data:`REPLY` and :data:`FETCH`.

A finding may name its holder's node too (:func:`holder_ref`), so an agent that received it knows
where its author answers. An agent reached by a query with nothing to offer may relay the signed query
(ttl 1: a relayed query is never relayed again) to such an author whose finding matches it; the author
then replies to the asker like any other. When the author cannot be reached, the relayer offers its
own whole copies of the author's matching findings instead. Relays are counted under :data:`RELAY`.

The node's one :class:`~synthswarm.swarm.host.NodeHost` serves them for every agent living there,
beside the router's deliveries; a node that replies, fetches or relays to itself is served there
without a message. The messages themselves,
and what their decoders refuse, are in :mod:`synthswarm.swarm._host_messages`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from synthswarm.swarm._host_messages import (
    FETCH,
    FETCH_TOPIC,
    MAX_FETCH,
    MAX_OFFERS,
    MAX_TEXT,
    RELAY,
    RELAY_TOPIC,
    REPLY,
    REPLY_TOPIC,
    FetchRequest,
    Offer,
    Reply,
    decode_texts,
)
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.host import FetchFn, RelayFn

__all__ = [
    "FETCH",
    "FETCH_TOPIC",
    "MAX_FETCH",
    "MAX_OFFERS",
    "MAX_TEXT",
    "RELAY",
    "RELAY_TOPIC",
    "REPLY",
    "REPLY_TOPIC",
    "FetchFn",
    "FetchRequest",
    "Offer",
    "RelayFn",
    "Reply",
    "decode_texts",
    "floor_ref",
    "holder_ref",
    "parse_floor_ref",
    "parse_holder_ref",
    "parse_reply_ref",
    "reply_ref",
    "source_refs",
]

_REF_PREFIX = "reply-to:"
_FLOOR_PREFIX = "min-score:"
_HOLDER_PREFIX = "holder:"
_CONTROL_PREFIXES = (_REF_PREFIX, _FLOOR_PREFIX, _HOLDER_PREFIX)


def reply_ref(contact: Contact) -> str:
    """The evidence ref a query carries so that replies find the asker's node."""
    return f"{_REF_PREFIX}{contact.node_id.hex()}@{contact.address}"


def floor_ref(score: float) -> str:
    """The evidence ref a query carries to say that only passages scoring above ``score`` are worth
    offering (the asker already holds a full context that good)."""
    return f"{_FLOOR_PREFIX}{score:.6f}"


def parse_floor_ref(refs: Sequence[str]) -> float:
    """The least score worth offering that a query names; -inf when it names none or it is malformed."""
    for ref in refs:
        if ref.startswith(_FLOOR_PREFIX):
            try:
                value = float(ref[len(_FLOOR_PREFIX) :])
            except ValueError:
                return float("-inf")
            return value if math.isfinite(value) else float("-inf")
    return float("-inf")


def parse_reply_ref(refs: Sequence[str]) -> Contact | None:
    """The asker's node named in a query's evidence refs; None when there is none or it is malformed."""
    return _parse_contact(refs, _REF_PREFIX)


def holder_ref(contact: Contact) -> str:
    """The evidence ref a finding carries to name the node where its author answers (and can be
    relayed a query that the finding matches)."""
    return f"{_HOLDER_PREFIX}{contact.node_id.hex()}@{contact.address}"


def parse_holder_ref(refs: Sequence[str]) -> Contact | None:
    """The holder's node named in a finding's evidence refs; None when there is none or it is malformed."""
    return _parse_contact(refs, _HOLDER_PREFIX)


def source_refs(refs: Sequence[str]) -> list[str]:
    """A packet's evidence refs less the ones that address nodes or carry a floor: its sources."""
    return [r for r in refs if not r.startswith(_CONTROL_PREFIXES)]


def _parse_contact(refs: Sequence[str], prefix: str) -> Contact | None:
    for ref in refs:
        if not ref.startswith(prefix):
            continue
        node_hex, _, address = ref[len(prefix) :].partition("@")
        try:
            node_id = bytes.fromhex(node_hex)
        except ValueError:
            return None
        return Contact(node_id, address) if len(node_id) == 32 and address else None
    return None
