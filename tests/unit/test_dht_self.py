"""A node's requests to itself are answered by its own handlers, in one place, without the socket."""

from __future__ import annotations

import pytest

from synthswarm.swarm.dht import Contact, DHTNode, key_for
from synthswarm.swarm.dht.messages import FindNode, FoundNodes, Record, Store, Stored
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import DHTError


async def test_an_app_request_to_itself_reaches_its_handler_without_a_frame() -> None:
    async with launch_swarm(2, seed=11) as (node, _):
        seen: list[Contact] = []

        async def echo(sender: Contact, payload: bytes) -> bytes:
            seen.append(sender)
            return payload[::-1]

        node.register_app("echo", echo)
        frames, served = node.transport_stats().frames_out, node.stats.rpcs_served
        assert await node.app_request(node.contact, "echo", b"abc", category="mine") == b"cba"
        assert seen == [node.contact]
        assert node.transport_stats().frames_out == frames  # nothing went over the socket
        assert node.stats.rpcs_sent["mine"] == 1  # counted as when it went through the socket
        assert node.stats.rpcs_served == served + 1


async def test_its_own_handlers_answer_the_dht_requests_and_refusals_it_sends_itself() -> None:
    async with launch_swarm(3, seed=12) as (node, *_):

        async def broken(_: Contact, __: bytes) -> bytes:
            raise RuntimeError("a bug")

        node.register_app("broken", broken)
        assert await node.ping(node.contact) >= 0
        found = await node.call(node.contact, FindNode(node.node_id, 5))
        assert isinstance(found, FoundNodes)
        assert len(found.contacts) == 2  # its two peers, never itself
        key = key_for("self", "1")
        assert await node.call(node.contact, Store(key, Record(b"", b"v", 60))) == Stored(True, "")
        assert [r.value for r in node.store.get(key)] == [b"v"]
        with pytest.raises(DHTError, match="internal"):
            await node.app_request(node.contact, "broken", b"")
        with pytest.raises(DHTError, match="unknown-topic"):
            await node.app_request(node.contact, "nobody", b"")
        assert node.stats.handler_failures == 1


async def test_a_closed_node_answers_not_even_itself() -> None:
    node = await DHTNode.create(listen="inproc://self-closed")
    await node.close()
    with pytest.raises(DHTError, match="closed"):
        await node.ping(node.contact)
