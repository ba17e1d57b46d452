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

A packet may name where the passages it stands on can be fetched (:func:`path_ref`, placed after the
source ref it locates): the holder agent, its node and the passage's id there. A finding names its own
passage's path; a synthesis or a shared answer names the paths of the passages it cites, so whoever
receives it can fetch those passages straight from their holders (:func:`passage_paths`) instead of
taking the claim on trust.

The node's one :class:`~synthswarm.swarm.host.NodeHost` serves them for every agent living there,
beside the router's deliveries; a node that replies, fetches or relays to itself is served there
without a message. The messages themselves,
and what their decoders refuse, are in :mod:`synthswarm.swarm._host_messages`.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass

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
from synthswarm.swarm.packet import MAX_EVIDENCE, MAX_EVIDENCE_REF_BYTES

__all__ = [
    "CLAIM_REF",
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
    "PassagePath",
    "RelayFn",
    "Reply",
    "decode_texts",
    "floor_ref",
    "holder_ref",
    "parse_floor_ref",
    "parse_holder_ref",
    "parse_reply_ref",
    "passage_paths",
    "path_evidence",
    "path_ref",
    "reply_ref",
    "source_refs",
]

_REF_PREFIX = "reply-to:"
_FLOOR_PREFIX = "min-score:"
_HOLDER_PREFIX = "holder:"
_PATH_PREFIX = "path:"
#: The evidence ref that marks a finding as a claim (an agent's answer shared), not a passage.
CLAIM_REF = "claim:answer"
_CONTROL_PREFIXES = (_REF_PREFIX, _FLOOR_PREFIX, _HOLDER_PREFIX, _PATH_PREFIX, "claim:")


@dataclass(frozen=True)
class PassagePath:
    """Where one passage a packet stands on can be fetched: its source ref, the agent holding it, that
    agent's node, and the passage's id there (what a :class:`FetchRequest` asks for)."""

    source: str
    agent_id: bytes
    contact: Contact
    passage_id: str


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


def path_ref(agent_id: bytes, contact: Contact, passage_id: str) -> str | None:
    """The evidence ref that says where the passage of the source ref before it can be fetched; None
    when it would not fit an evidence ref (:data:`MAX_EVIDENCE_REF_BYTES`: a very long address or
    passage id), as a cut ref would point nowhere."""
    ref = f"{_PATH_PREFIX}{_b64(agent_id)}.{_b64(contact.node_id)}.{passage_id}@{contact.address}"
    return ref if len(ref.encode()) <= MAX_EVIDENCE_REF_BYTES and "@" not in passage_id else None


def passage_paths(refs: Sequence[str]) -> list[PassagePath]:
    """The paths a packet's evidence refs name, each with the nearest source ref before it; malformed
    path refs, and path refs with no source before them, are skipped."""
    paths, source = [], None
    for ref in refs:
        if not ref.startswith(_CONTROL_PREFIXES):
            source = ref
        elif ref.startswith(_PATH_PREFIX) and source is not None:
            path = _parse_path(ref, source)
            if path is not None:
                paths.append(path)
    return paths


def path_evidence(parents: Sequence[Sequence[str]], cap: int = MAX_EVIDENCE) -> list[str]:
    """The evidence refs of a packet standing on packets with the evidence refs ``parents``: each
    source ref they cite once, followed by its path ref where one is known, in order, at most ``cap``
    refs (a source is never separated from its path: a pair that does not fit whole is left out)."""
    pairs: dict[str, str | None] = {}
    for refs in parents:
        for source, ref in _located(refs):
            if pairs.get(source) is None:
                pairs[source] = ref
    out: list[str] = []
    for source, ref in pairs.items():
        pair = [source] if ref is None else [source, ref]
        if len(out) + len(pair) > cap:
            break
        out += pair
    return out


def source_refs(refs: Sequence[str]) -> list[str]:
    """A packet's evidence refs less the ones that address nodes or carry a floor: its sources."""
    return [r for r in refs if not r.startswith(_CONTROL_PREFIXES)]


def _located(refs: Sequence[str]) -> list[tuple[str, str | None]]:
    """Each source ref of ``refs`` with the path ref that locates it (the first after it, before the
    next source ref), or None."""
    out: list[tuple[str, str | None]] = []
    for ref in refs:
        if not ref.startswith(_CONTROL_PREFIXES):
            out.append((ref, None))
        elif ref.startswith(_PATH_PREFIX) and out and out[-1][1] is None:
            out[-1] = (out[-1][0], ref)
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse_path(ref: str, source: str) -> PassagePath | None:
    head, _, address = ref[len(_PATH_PREFIX) :].partition("@")
    agent, _, rest = head.partition(".")
    node, _, passage_id = rest.partition(".")
    try:
        agent_id, node_id = _unb64(agent), _unb64(node)
    except (ValueError, binascii.Error):
        return None
    if len(node_id) != 32 or not agent_id or not passage_id or not address:
        return None
    return PassagePath(source, agent_id, Contact(node_id, address), passage_id)


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
