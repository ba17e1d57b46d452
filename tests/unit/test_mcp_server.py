"""The swarm as an MCP server, through the official client over the SDK's in-process transport."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, TextContent

from synthswarm.swarm.app.mcp_server import build_mcp_server
from synthswarm.swarm.app.runtime import Swarm
from tests.unit.agents_world import QUESTION
from tests.unit.test_runtime import two_agent_swarm


def text(result: CallToolResult) -> str:
    (block,) = result.content
    assert isinstance(block, TextContent)
    return block.text


def payload(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


async def test_its_tools_ask_the_swarm_list_the_agents_and_read_packets() -> None:
    async with two_agent_swarm("broadcast") as swarm, Client(build_mcp_server(swarm)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == {"ask_swarm", "list_agents", "get_packet"}
        assert listed["ask_swarm"].input_schema["required"] == ["question"]

        asked = payload(await client.call_tool("ask_swarm", {"question": QUESTION, "thread": "t1"}))
        assert asked["answer"] == "1874"
        assert asked["thread"] == "t1"
        provenance = asked["provenance"]
        assert len(provenance["agents_used"]) == 1
        assert provenance["packets"], "the answer used what another agent shared"
        as_text = text(await client.call_tool("ask_swarm", {"question": QUESTION}))
        assert json.loads(as_text)["answer"] == "1874"  # clients that read text get the same as JSON

        agents = payload(await client.call_tool("list_agents", {}))["result"]
        assert [a["name"] for a in agents] == ["botany", "astronomy"]
        assert all(a["documents"] == 1 and a["published"] >= 1 for a in agents)
        assert "calculator" in agents[0]["tools"]

        kept = (await swarm.specialists[0].memory.received())[0]
        packet = payload(await client.call_tool("get_packet", {"id": kept.id.hex()}))
        assert packet["id"] == kept.id.hex()
        assert packet["finding"] == kept.finding
        assert packet["from"] == "astronomy"  # named, not a bare key hash
        assert "botany" in packet["held_by"]
        assert "astronomy" in packet["held_by"]  # its own finding: the sender keeps it too


async def test_an_agents_own_finding_is_found_with_the_isolated_router() -> None:
    async with two_agent_swarm("isolated") as swarm, Client(build_mcp_server(swarm)) as client:
        botany = swarm.specialists[0]
        [own] = botany._findings.values()  # what it distilled from its one document, shared with no one
        packet = payload(await client.call_tool("get_packet", {"id": own.id.hex()}))
        assert packet["held_by"] == ["botany"]
        assert packet["finding"] == own.finding


async def test_unknown_packets_and_bad_questions_are_clear_tool_errors() -> None:
    async with two_agent_swarm("broadcast") as swarm, Client(build_mcp_server(swarm)) as client:
        cases = {
            "0" * 64: "no agent of the swarm keeps a packet 0000",
            "xyz": "'xyz' is not a packet id: ids are 64 hex digits",
            "passage:astronomy:0": "is a passage an agent fetched from another",
        }
        for packet_id, message in cases.items():
            result = await client.call_tool("get_packet", {"id": packet_id})
            assert result.is_error
            assert message in text(result)
        empty = await client.call_tool("ask_swarm", {"question": "  "})
        assert empty.is_error
        assert "the question is empty" in text(empty)


async def test_a_swarm_error_comes_back_as_a_tool_error() -> None:
    swarm: Swarm = two_agent_swarm()
    async with Client(build_mcp_server(swarm)) as client:  # the swarm was never started
        result = await client.call_tool("ask_swarm", {"question": QUESTION})
        assert result.is_error
        assert "ask_swarm: the swarm is not running" in text(result)
