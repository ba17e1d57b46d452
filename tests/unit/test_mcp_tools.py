"""MCP servers' tools as our Tools: listing, calling, errors, config, and a swarm that owns the sessions.

The servers here run in this process (the SDK's in-process transport), so no socket is opened; the
stdio and HTTP transports are exercised in tests/integration/test_mcp.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import typing
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as ServerToolError

from synthswarm.agents.llm import ScriptedChat
from synthswarm.swarm.app.runtime import Swarm, load_agents
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.errors import ConfigError, ToolError
from synthswarm.tools import tool
from synthswarm.tools.mcp import MCPConnection, MCPServerConfig, MCPTool, MCPToolbox, add_tools
from tests.unit.agents_world import BOTANY, BOTANY_FACT, EMBEDDER


def observatory_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("observatories")

    @server.tool()
    def founding_year(observatory: str, offset: int | None = None) -> str:
        """The year an observatory was founded."""
        years = {"Veltmar": 1874}
        if observatory not in years:
            raise ServerToolError(f"unknown observatory {observatory}")
        return str(years[observatory] + (offset or 0))

    @server.tool()
    def coordinates(observatory: str) -> dict[str, float]:
        """Where an observatory stands."""
        return {"lat": 52.5, "lon": 4.25}

    return server


def config(server: MCPServer[Any] | None = None, **kwargs: Any) -> MCPServerConfig:
    return MCPServerConfig(name="obs", server=server or observatory_server(), **kwargs)


async def test_a_servers_tools_become_tools_that_call_it() -> None:
    async with MCPToolbox() as toolbox:
        tools = await toolbox.tools([config(prefix="obs_")])
        by_name = {t.name: t for t in tools}
        assert set(by_name) == {"obs_founding_year", "obs_coordinates"}
        year = by_name["obs_founding_year"]
        assert year.description == "The year an observatory was founded."
        assert year.parameters["required"] == ["observatory"]
        assert year.spec.name == "obs_founding_year"
        assert await year.call('{"observatory": "Veltmar"}') == "1874"
        assert await year.call({"observatory": "Veltmar", "offset": 2}) == "1876"  # an optional int
        assert await typing.cast(Awaitable[str], year.fn(observatory="Veltmar")) == "1874"
        assert json.loads(await by_name["obs_coordinates"].call({"observatory": "Veltmar"})) == {
            "lat": 52.5,
            "lon": 4.25,
        }


async def test_failures_are_tool_errors_the_model_can_read() -> None:
    async with MCPToolbox() as toolbox:
        year = (await toolbox.tools([config(tools=("founding_year",))]))[0]
        with pytest.raises(ToolError, match=r"founding_year: .*unknown observatory Atlantis"):
            await year.call({"observatory": "Atlantis"})
        with pytest.raises(ToolError, match=r"(?s)founding_year: .*valid integer"):  # the server checks types
            await year.call({"observatory": "Veltmar", "offset": "soon"})
        with pytest.raises(ToolError, match="not valid JSON"):
            await year.call("{observatory")
        with pytest.raises(ToolError, match="must be a JSON object"):
            await year.call("[1]")
    with pytest.raises(ToolError, match=r"the MCP server 'obs' is not running \(it is closed"):
        await year.call({"observatory": "Veltmar"})  # the toolbox closed its session


async def test_only_the_named_tools_are_taken_and_a_missing_one_is_a_config_error() -> None:
    async with MCPToolbox() as toolbox:
        tools = await toolbox.tools([config(tools=("coordinates",))])
        assert [t.name for t in tools] == ["coordinates"]
    with pytest.raises(ConfigError, match=r"mcp.obs.tools: the server has no tool tides; it has coordinates"):
        await MCPConnection.open(config(tools=("tides",)))


async def test_a_server_that_cannot_start_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = MCPServerConfig(name="gone", command=str(tmp_path / "no-such-server"))
    with pytest.raises(ConfigError, match=r"mcp.gone: cannot connect to .*no-such-server: FileNotFoundError"):
        await MCPConnection.open(missing)


async def test_a_server_that_never_answers_times_out_and_its_process_is_stopped() -> None:
    # A program that reads nothing and writes nothing: the SDK's handshake would wait forever.
    mute = MCPServerConfig(name="mute", command=sys.executable, args=("-c", "import time; time.sleep(60)"),
                           timeout_s=1)  # fmt: skip
    before = set(_children())
    with pytest.raises(ConfigError, match=r"mcp.mute: cannot connect to .*: no answer within 1 s"):
        await MCPConnection.open(mute)
    assert set(_children()) <= before  # the process was stopped, not left behind


def _children() -> list[int]:
    """Processes whose parent is this one (Linux /proc; empty elsewhere)."""
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] == me:
                found.append(int(stat.parent.name))
    return found


def test_background_runs_mcp_sessions_across_the_tasks_that_start_and_stop_it() -> None:
    model = ScriptedChat(
        [ScriptedChat.tool_call("founding_year", {"observatory": "Veltmar"}), "1874"], default="unknown"
    )
    swarm = Swarm(chat=model, embedder=EMBEDDER, config=SwarmConfig(router="isolated"))
    swarm.add_specialist(*BOTANY, mcp=[config()])
    with swarm.background():  # start and stop run as two tasks on a loop in another thread
        state = swarm.dispatcher.invoke(
            {"messages": [("user", "When was Veltmar founded?")]}, {"configurable": {"thread_id": "bg"}}
        )
        assert state["answer"] == "1874"
    assert not any(isinstance(t, MCPTool) for t in swarm.specialists[0].tools)


def test_configs_need_exactly_one_way_to_reach_the_server() -> None:
    with pytest.raises(ConfigError, match=r"mcp.x: give exactly one of command, url or server, not none"):
        MCPServerConfig(name="x")
    with pytest.raises(ConfigError, match=r"not \['command', 'url'\]"):
        MCPServerConfig(name="x", command="srv", url="http://127.0.0.1:1/mcp")
    with pytest.raises(ConfigError, match=r"mcp.x.url: must be an http"):
        MCPServerConfig(name="x", url="ftp://example.org")
    with pytest.raises(ConfigError, match=r"mcp.name"):
        MCPServerConfig(name=" ", command="srv")
    a, b = (
        MCPServerConfig(name="x", command="srv", env={"K": "1"}),
        MCPServerConfig(name="x", command="srv", env={"K": "1"}),
    )
    assert a == b  # the same server twice is opened once
    assert hash(a) == hash(b)


def test_agents_files_take_an_mcp_list_per_agent(tmp_path: Path) -> None:
    path = tmp_path / "swarm.toml"
    path.write_text(
        '[[agents]]\nname = "astronomy"\ndomain = "stars"\n'
        '[[agents.mcp]]\nname = "obs"\ncommand = "python"\nargs = ["obs.py"]\nenv = {K = "v"}\n'
        'tools = ["founding_year"]\nprefix = "obs_"\ntimeout_s = 5\n'
        '[[agents.mcp]]\nname = "web"\nurl = "http://127.0.0.1:8931/mcp"\n'
        'headers = {Authorization = "Bearer t"}\n'
    )
    (spec,) = load_agents(path)
    stdio, http = spec.mcp
    assert (stdio.command, stdio.args, dict(stdio.env), stdio.tools, stdio.prefix, stdio.timeout_s) == (
        "python", ("obs.py",), {"K": "v"}, ("founding_year",), "obs_", 5.0,
    )  # fmt: skip
    assert (http.url, dict(http.headers)) == ("http://127.0.0.1:8931/mcp", {"Authorization": "Bearer t"})


@pytest.mark.parametrize(
    ("mcp", "key", "message"),
    [
        ('mcp = "obs"', r"agents\[0\].mcp", "must be a list of tables"),
        ('mcp = [{command = "x"}]', r"agents\[0\].mcp\[0\].name", "needs a name"),
        ('mcp = [{name = "a", command = "x", port = 1}]', r"agents\[0\].mcp\[0\].port", "unknown setting"),
        ('mcp = [{name = "a", command = "x", args = "y"}]', r"agents\[0\].mcp\[0\].args", "list of strings"),
        ('mcp = [{name = "a"}]', r"agents\[0\].mcp\[0\]", "give exactly one of command, url"),
        ('mcp = [{name = "a", url = "x", timeout_s = "5"}]', r"agents\[0\].mcp\[0\].timeout_s", "number"),
    ],
)
def test_bad_mcp_tables_name_the_key(tmp_path: Path, mcp: str, key: str, message: str) -> None:
    path = tmp_path / "swarm.toml"
    path.write_text(f'[[agents]]\nname = "ag"\ndomain = "d"\n{mcp}\n')
    with pytest.raises(ConfigError, match=rf"config {key}: .*{message}.*from file"):
        load_agents(path)


async def test_a_specialist_answers_with_an_mcp_tool_and_the_swarm_owns_the_session() -> None:
    model = ScriptedChat(
        [ScriptedChat.tool_call("founding_year", {"observatory": "Veltmar"}, call_id="c1"), "1874"],
        default="unknown",
    )
    swarm = Swarm(chat=model, embedder=EMBEDDER, config=SwarmConfig(router="isolated"))
    agent = swarm.add_specialist(*BOTANY, documents=[BOTANY_FACT], mcp=[config(tools=("founding_year",))])
    assert [t.name for t in agent.tools if isinstance(t, MCPTool)] == []  # connected on start
    async with swarm:
        answer = await swarm.ask("When was the Veltmar Observatory founded?")
        assert answer.text == "1874"
        (mcp_tool,) = [t for t in agent.tools if isinstance(t, MCPTool)]
        call = next(c for c in model.calls if any(m.role == "tool" for m in c.messages))
        assert [(m.tool_call_id, m.content) for m in call.messages if m.role == "tool"] == [("c1", "1874")]
        assert "founding_year" in {t.name for t in model.calls[0].options.tools}
    assert not any(isinstance(t, MCPTool) for t in agent.tools)  # stop took them back
    assert mcp_tool.connection is not None
    assert not mcp_tool.connection.alive


async def test_a_tool_name_clash_fails_the_start_and_leaves_nothing_open() -> None:
    @tool
    def founding_year(observatory: str) -> str:
        """A local tool of the same name."""
        return "local"

    swarm = Swarm(chat=ScriptedChat(default="x"), embedder=EMBEDDER, config=SwarmConfig(router="isolated"))
    agent = swarm.add_specialist(*BOTANY, tools=[founding_year], mcp=[config()])
    with pytest.raises(
        ConfigError, match=r"mcp.obs: tool 'founding_year' clashes .* agent 'botany'; set a prefix"
    ):
        await swarm.start()
    assert [t.name for t in agent.tools if isinstance(t, MCPTool)] == []
    assert swarm.router is None
    swarm2 = Swarm(chat=ScriptedChat(default="x"), embedder=EMBEDDER, config=SwarmConfig(router="isolated"))
    swarm2.add_specialist(*BOTANY, tools=[founding_year], mcp=[config(prefix="obs_")])
    async with swarm2:  # with a prefix both live side by side
        names = [t.name for t in swarm2.specialists[0].tools]
        assert "founding_year" in names
        assert "obs_founding_year" in names


def test_add_tools_refuses_a_name_already_taken() -> None:
    taken = [MCPTool("a", "d", {"type": "object", "properties": {}}, lambda: "")]
    with pytest.raises(ConfigError, match="tool 'a' clashes with another tool of agent 'x'"):
        add_tools(list(taken), taken, agent="x")
