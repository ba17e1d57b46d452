"""MCP both ways, with real processes: the official client talks to ``synthswarm mcp`` over stdio and
over streamable HTTP, and a specialist calls a tool of a real MCP server (``mcp_observatory.py``,
started over stdio) whose process the swarm stops with itself."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, TextContent

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.llm import ScriptedChat
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.errors import ToolError
from synthswarm.tools.mcp import MCPServerConfig, MCPTool
from tests.integration.openai_stub import base_url, openai_stub
from tests.unit.agents_world import ASTRONOMY_FACT, BOTANY_FACT, QUESTION

ROOT = Path(__file__).resolve().parents[2]
OBSERVATORY = Path(__file__).with_name("mcp_observatory.py")
#: The MCP SDK gives a stdio server only a few safe variables; the child must import this checkout.
CHILD_ENV = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def swarm_args(tmp_path: Path, url: str) -> list[str]:
    """``python -m synthswarm`` with the hashing embedder and the stub model (no local model to load)."""
    settings = ["embedder.backend=hashing", f"llm.base_url={url}", "llm.api_key=test", "llm.model=stub"]
    return ["-m", "synthswarm", "--llm", "openai", "--data-dir", str(tmp_path / "data"),
            *[item for s in settings for item in ("--set", s)]]  # fmt: skip


def agents_file(tmp_path: Path, *, mcp: str = "") -> Path:
    path = tmp_path / "swarm.toml"
    path.write_text(
        f'[[agents]]\nname = "botany"\ndomain = "plants"\ndocuments = ["{BOTANY_FACT}"]\n\n'
        f'[[agents]]\nname = "astronomy"\ndomain = "stars"\ndocuments = ["{ASTRONOMY_FACT}"]\n{mcp}'
    )
    return path


def text(result: CallToolResult) -> str:
    assert isinstance(result.content[0], TextContent)
    return result.content[0].text


def data(result: CallToolResult) -> Any:
    assert not result.is_error, text(result)
    return result.structured_content


async def ask_and_check(client: Client) -> None:
    """What both transports must do: list the three tools, answer with provenance, read a packet."""
    assert {t.name for t in (await client.list_tools()).tools} == {"ask_swarm", "list_agents", "get_packet"}
    asked = data(await client.call_tool("ask_swarm", {"question": QUESTION, "thread": "t1"}))
    # the stub model echoes its prompt: both facts reached the answering agent's context
    assert asked["answer"].startswith("echo:")
    assert "1874" in asked["answer"]
    assert "Halvia rubra" in asked["answer"]
    assert asked["provenance"]["specialists"]
    assert len(asked["provenance"]["agents_used"]) == 1
    used = [p for p in asked["provenance"]["packets"] if not p["id"].startswith("passage:")]
    found = []
    for packet in used:  # an agent's own synthesis may live only in its author's hands
        result = await client.call_tool("get_packet", {"id": packet["id"]})
        if not result.is_error:
            found.append(data(result))
            assert (found[-1]["id"], found[-1]["from"]) == (packet["id"], packet["from"])
    assert found, f"no packet of the answer's provenance could be read: {used}"
    unknown = await client.call_tool("get_packet", {"id": "f" * 64})
    assert unknown.is_error
    assert "no agent of the swarm keeps a packet" in text(unknown)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_official_client_uses_synthswarm_mcp_over_stdio(tmp_path: Path) -> None:
    mcp = (
        f'[[agents.mcp]]\nname = "obs"\ncommand = {json.dumps(sys.executable)}\n'
        f'args = [{json.dumps(str(OBSERVATORY))}]\nprefix = "obs_"\ntools = ["founding_year"]\n'
    )
    path = agents_file(tmp_path, mcp=mcp)
    with openai_stub() as stub:
        params = StdioServerParameters(
            command=sys.executable,
            args=[*swarm_args(tmp_path, base_url(stub)), "mcp", "--agents", str(path)],
            env=CHILD_ENV,
        )
        async with Client(params, read_timeout_seconds=120) as client:
            await ask_and_check(client)
            agents = data(await client.call_tool("list_agents", {}))["result"]
            tools = {a["name"]: a["tools"] for a in agents}
            assert "obs_founding_year" in tools["astronomy"]  # the agents file's mcp table, connected
            assert "obs_founding_year" not in tools["botany"]


@contextmanager
def http_server(tmp_path: Path, url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``synthswarm mcp --http 0`` in a process of its own; its endpoint, read from its stderr."""
    command = [sys.executable, *swarm_args(tmp_path, url), "mcp", "--http", "0", "--agents",
               str(agents_file(tmp_path))]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **CHILD_ENV},
    )  # fmt: skip
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # the address is printed once the server listens
            seen.append(line)
            if found := re.search(r"(http://127\.0\.0\.1:\d+/mcp)", line):
                yield process, found.group(1)
                break
        else:
            pytest.fail("synthswarm mcp --http never printed its address:\n" + "".join(seen)[-3000:])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


async def test_the_official_client_uses_synthswarm_mcp_over_streamable_http(tmp_path: Path) -> None:
    with openai_stub() as stub, http_server(tmp_path, base_url(stub)) as (process, endpoint):
        async with Client(endpoint, read_timeout_seconds=120) as client:
            await ask_and_check(client)
        assert process.poll() is None  # a client leaving does not end the server
    assert process.returncode == 0  # Ctrl-C stops it cleanly


def test_a_missing_mcp_server_stops_synthswarm_mcp_with_a_clear_error(tmp_path: Path) -> None:
    path = agents_file(tmp_path, mcp='[[agents.mcp]]\nname = "gone"\nurl = "http://127.0.0.1:9/mcp"\n')
    result = subprocess.run(
        [sys.executable, *swarm_args(tmp_path, "http://127.0.0.1:9/v1"), "mcp", "--agents", str(path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **CHILD_ENV},
    )  # fmt: skip
    assert result.returncode == 1
    assert "config mcp.gone: cannot connect to http://127.0.0.1:9/mcp" in result.stderr
    assert result.stdout == ""  # stdout is the protocol channel: nothing else goes there


def observatory(**kwargs: Any) -> MCPServerConfig:
    return MCPServerConfig(name="obs", command=sys.executable, args=(str(OBSERVATORY),), **kwargs)


async def test_a_specialist_answers_with_a_tool_of_a_real_mcp_server() -> None:
    model = ScriptedChat(
        [ScriptedChat.tool_call("founding_year", {"observatory": "Veltmar"}, call_id="c1"), "1874"],
        default="unknown",
    )
    swarm = Swarm(chat=model, embedder=HashingEmbedder(), config=SwarmConfig(router="isolated"))
    agent = swarm.add_specialist("astronomy", "Observatories and their founders.", mcp=[observatory()])
    async with swarm:
        answer = await swarm.ask("When was the Veltmar Observatory founded?")
        (tool,) = [t for t in agent.tools if isinstance(t, MCPTool) and t.name == "founding_year"]
        replies = [m.content for c in model.calls for m in c.messages if m.role == "tool"]
        pid = int(re.fullmatch(r"1874 \(pid (\d+)\)", replies[0]).group(1))  # type: ignore[union-attr]
        assert pid != os.getpid()  # answered by the server's own process
        assert alive(pid)
        with pytest.raises(ToolError, match="founding_year: no observatory named Atlantis"):
            await tool.call({"observatory": "Atlantis"})
    assert answer.text == "1874"
    assert not alive(pid)  # the swarm's stop ended the server process


async def test_a_server_that_dies_gives_tool_errors_not_hangs() -> None:
    swarm = Swarm(
        chat=ScriptedChat(default="x"), embedder=HashingEmbedder(), config=SwarmConfig(router="isolated")
    )
    agent = swarm.add_specialist("astronomy", "Observatories.", mcp=[observatory(timeout_s=20)])
    async with swarm:
        tools = {t.name: t for t in agent.tools if isinstance(t, MCPTool)}
        with pytest.raises(ToolError, match="crash: the MCP server 'obs' has stopped"):
            await tools["crash"].call({})
        with pytest.raises(ToolError, match="founding_year: the MCP server 'obs' has stopped"):
            await tools["founding_year"].call({"observatory": "Veltmar"})


async def test_a_specialist_uses_the_tools_of_an_mcp_server_over_streamable_http(tmp_path: Path) -> None:
    """A swarm of swarms: a specialist here calls ``ask_swarm`` of another swarm's ``synthswarm mcp
    --http``, over the network transport rather than stdio."""
    with openai_stub() as stub, http_server(tmp_path, base_url(stub)) as (process, endpoint):
        remote = MCPServerConfig(name="remote", url=endpoint, prefix="remote_", tools=("ask_swarm",))
        model = ScriptedChat(
            [ScriptedChat.tool_call("remote_ask_swarm", {"question": QUESTION}, call_id="c1"), "1874"],
            default="unknown",
        )
        swarm = Swarm(chat=model, embedder=HashingEmbedder(), config=SwarmConfig(router="isolated"))
        agent = swarm.add_specialist("liaison", "Asks the other swarm.", mcp=[remote])
        async with swarm:
            assert "remote_ask_swarm" in [t.name for t in agent.tools]
            assert "remote_list_agents" not in [t.name for t in agent.tools]  # only the tools named
            answer = await swarm.ask("When was the Veltmar Observatory founded?")
        replies = [json.loads(m.content) for c in model.calls for m in c.messages if m.role == "tool"]
        assert answer.text == "1874"
        assert "1874" in replies[0]["answer"]  # the other swarm's answer, with its provenance
        assert replies[0]["provenance"]["specialists"]
        assert process.poll() is None  # the swarm's stop closed its session, not the server
