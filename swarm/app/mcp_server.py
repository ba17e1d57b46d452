"""The swarm as an MCP server (the official SDK's ``MCPServer``), for any MCP client to use.

Tools:

- ``ask_swarm(question, thread)``: the dispatcher's answer, with its provenance (the specialists
  asked, the packets used and who sent them, sources, routing messages, model calls); a thread
  continues a conversation.
- ``list_agents()``: each specialist, its domain, what it holds, and its tools.
- ``get_packet(id)``: a packet an agent of the swarm keeps, by its id (64 hex digits, as
  ``ask_swarm``'s provenance gives them), with who signed it, its parents and its evidence.

The swarm must be running while the server serves (``synthswarm mcp`` starts it first). A failure
comes back to the client as a tool error (``isError``) whose text says why.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError

from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.errors import SynthswarmError
from synthswarm.swarm.packet import OutcomePacket

__all__ = ["SERVER_NAME", "build_mcp_server", "find_packet"]

SERVER_NAME = "synthswarm"
_ID_HEX_DIGITS = 64
_INSTRUCTIONS = (
    "A synthesis swarm: specialist agents that each know a domain and share findings. Ask it with "
    "ask_swarm; list_agents says who knows what; get_packet shows a packet that an answer used."
)


def build_mcp_server(swarm: Swarm, *, name: str = SERVER_NAME) -> MCPServer[Any]:
    """An MCP server whose tools ask ``swarm`` (running while it serves) and read its packets."""
    server: MCPServer[Any] = MCPServer(name, instructions=_INSTRUCTIONS)

    @server.tool()
    async def ask_swarm(question: str, thread: str = "default") -> dict[str, Any]:
        """Ask the swarm a question; the answer comes with its provenance: the specialists asked, the
        packets used (id, from, finding), the other agents they came from, sources, routing messages
        and model calls.

        Args:
            question: What to ask.
            thread: The conversation to continue; a follow-up question is answered with its turns.
        """
        if not question.strip():
            raise MCPToolError("ask_swarm: the question is empty")
        try:
            answer = await swarm.ask(question, thread_id=thread)
        except SynthswarmError as exc:
            raise MCPToolError(f"ask_swarm: {exc}") from exc
        return {"answer": answer.text, "thread": thread, "provenance": answer.provenance}

    @server.tool()
    async def list_agents() -> list[dict[str, Any]]:
        """The swarm's specialists: name, domain, documents held, packets received and published, and
        the tools each may call."""
        agents = []
        for s in swarm.specialists:
            documents, inbox = await s.memory.counts()
            agents.append(
                {"name": s.name, "domain": s.domain, "documents": documents, "inbox": inbox,
                 "published": s.stats.published, "tools": [t.name for t in s.tools]}
            )  # fmt: skip
        return agents

    @server.tool()
    async def get_packet(id: str) -> dict[str, Any]:
        """A packet kept by an agent of the swarm: kind, topic, finding, confidence, who signed it,
        parents, evidence, and which agents hold it.

        Args:
            id: The packet id, 64 hex digits (as ask_swarm's provenance lists them).
        """
        return await find_packet(swarm, id)

    return server


async def find_packet(swarm: Swarm, packet_id: str) -> dict[str, Any]:
    """The packet ``packet_id`` from the agents' own findings and inboxes, as data; an MCP tool error
    when no agent has it."""
    text = packet_id.strip().lower()
    if text.startswith("passage:"):
        raise MCPToolError(
            f"{packet_id!r} is a passage an agent fetched from another ({text[8:]}), not a packet"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) * 2 != _ID_HEX_DIGITS:
        raise MCPToolError(f"{packet_id!r} is not a packet id: ids are {_ID_HEX_DIGITS} hex digits")
    found: OutcomePacket | None = None
    holders = []
    for s in swarm.specialists:
        for packet in [*filter(None, [s.own_packet(key)]), *await s.memory.packets([key])]:
            found = packet
            holders.append(s.name)
    if found is None:
        raise MCPToolError(f"no agent of the swarm keeps a packet {text}")
    return _packet_record(found, holders, {s.agent_id: s.name for s in swarm.specialists})


def _packet_record(packet: OutcomePacket, holders: list[str], names: dict[bytes, str]) -> dict[str, Any]:
    return {
        "id": packet.id.hex(),
        "kind": str(packet.kind),
        "topic": packet.topic,
        "finding": packet.finding,
        "confidence": packet.confidence,
        "from": names.get(packet.origin, packet.origin.hex()),
        "parents": [p.hex() for p in packet.parents],
        "evidence": list(packet.evidence),
        "created_at_ms": packet.created_at_ms,
        "ttl_s": packet.ttl_s,
        "depth": packet.depth,
        "held_by": holders,
    }
