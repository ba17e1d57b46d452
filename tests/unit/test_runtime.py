"""Swarm: compose, start, ask through the dispatcher, run in the background, load agents from TOML."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

import synthswarm.agents.entities
from synthswarm.agents.entities import ENTITY_SOURCES, CapitalisedEntities, SpacyEntities
from synthswarm.agents.specialist import Turn
from synthswarm.swarm.app.runtime import Swarm, load_agents
from synthswarm.swarm.config import EntitySource, SwarmConfig, load_config
from synthswarm.swarm.errors import ConfigError, SwarmError
from synthswarm.swarm.routers import make_router
from synthswarm.swarm.semantic import SemanticHasher
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER, QUESTION, chat


def two_agent_swarm(router: str = "dht") -> Swarm:
    swarm = Swarm(chat=chat(), embedder=EMBEDDER, config=SwarmConfig(router=router))  # type: ignore[arg-type]
    swarm.add_specialist(*BOTANY, documents=[BOTANY_FACT])
    swarm.add_specialist(*ASTRONOMY, documents=[ASTRONOMY_FACT])
    return swarm


@pytest.mark.parametrize("router", ["dht", "broadcast", "hub", "gossip"])
async def test_a_swarm_answers_what_no_single_agent_can(router: str) -> None:
    async with two_agent_swarm(router) as swarm:
        answer = await swarm.ask(QUESTION)
        assert answer.text == "1874"
        assert len(answer.provenance["agents_used"]) == 1
        assert answer.provenance["agents_used"][0] in {"botany", "astronomy"}
        assert answer.provenance["agents_used"][0] not in answer.provenance["specialists"]
        assert swarm.stats().packets >= 3  # two shared documents, the query, replies
    assert swarm.router is None
    assert swarm.nodes == []


async def test_the_isolated_swarm_cannot() -> None:
    async with two_agent_swarm("isolated") as swarm:
        answer = await swarm.ask(QUESTION)
        assert answer.text == "unknown"
        assert answer.provenance["agents_used"] == []
        assert answer.provenance["messages"] == 0


def test_background_gives_synchronous_invoke_and_stream() -> None:
    swarm = two_agent_swarm()
    with swarm.background():
        config = {"configurable": {"thread_id": "sync"}}
        state = swarm.dispatcher.invoke({"messages": [("user", QUESTION)]}, config)
        assert state["answer"] == "1874"
        events = list(
            swarm.dispatcher.stream({"messages": [("user", QUESTION)]}, config, stream_mode="custom")
        )
        assert events[0]["type"] == "route"
        assert events[-1]["type"] == "final"
    with pytest.raises(SwarmError, match="not running"):
        swarm.dispatcher  # noqa: B018


async def test_composition_mistakes_are_clear_errors() -> None:
    swarm = two_agent_swarm()
    with pytest.raises(SwarmError, match="two specialists are named 'botany'"):
        swarm.add_specialist(*BOTANY)
    with pytest.raises(SwarmError, match="no specialist named 'nope'; the swarm has botany, astronomy"):
        swarm.specialist("nope")
    with pytest.raises(SwarmError, match="not running"):
        await swarm.ask("anything")
    with pytest.raises(SwarmError, match="at least one specialist"):
        await Swarm(chat=chat(), embedder=EMBEDDER).start()
    with pytest.raises(ConfigError, match=r"swarm.bootstrap"):
        Swarm(chat=chat(), embedder=EMBEDDER, config=SwarmConfig(router="hub", bootstrap="tcp://127.0.0.1:1"))
    with pytest.raises(ConfigError, match=r"swarm.router"):
        make_router("carrier-pigeon", [], hasher=SemanticHasher(8))
    async with swarm:
        with pytest.raises(SwarmError, match="two specialists are named 'botany'"):
            swarm.add_specialist(*BOTANY)  # a running swarm takes new specialists, not namesakes
        with pytest.raises(SwarmError, match="already running"):
            await swarm.start()


def test_agents_load_from_toml_with_inline_documents_and_files(tmp_path: Path) -> None:
    (tmp_path / "astro.txt").write_text(f"{ASTRONOMY_FACT}\n\nThe Hollin Telescope was completed in 1861.\n")
    config = tmp_path / "swarm.toml"
    config.write_text(
        '[swarm]\nrouter = "dht"\n\n'
        f'[[agents]]\nname = "botany"\ndomain = "plants"\ndocuments = ["{BOTANY_FACT}"]\n\n'
        '[[agents]]\nname = "astronomy"\ndomain = "stars"\nfiles = ["astro.txt"]\n'
        'instructions = "Be brief."\n'
    )
    botany, astronomy = load_agents(config)
    assert botany.documents == (BOTANY_FACT,)
    assert astronomy.documents == (ASTRONOMY_FACT, "The Hollin Telescope was completed in 1861.")
    assert astronomy.instructions == "Be brief."
    swarm = Swarm.from_config_file(config, chat=chat(), embedder=EMBEDDER)
    assert swarm.names == ["botany", "astronomy"]
    assert swarm.config.router == "dht"
    config.write_text(config.read_text().replace('router = "dht"', 'router = "hub"\nfan_out = 2'))
    assert Swarm.from_config_file(config, chat=chat(), embedder=EMBEDDER).config.fan_out == 2


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[[agents]]\nname = "Bad Name"\ndomain = "x"\n', "agent.name"),
        ('[[agents]]\nname = "ok"\n', "agents[0].domain"),
        ('[[agents]]\nname = "ok"\ndomain = "x"\ncolour = "red"\n', "agents[0].colour"),
        ('[[agents]]\nname = "ok"\ndomain = "x"\ndocuments = "one"\n', "agents[0].documents"),
        ('[[agents]]\nname = "ok"\ndomain = "x"\nfiles = ["missing.txt"]\n', "agents[0].files"),
        ('agents = "nope"\n', "agents"),
        ("not toml [", "config"),
    ],
)
def test_bad_agent_tables_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_agents(path)
    assert info.value.key == key


async def test_earlier_turns_join_the_thread_and_a_thread_can_be_forgotten() -> None:
    earlier = [Turn("Who described the orchid Halvia rubra?", "The naturalist Ilse Korrin.")]
    async with two_agent_swarm("dht") as swarm:
        answer = await swarm.ask(
            "And in what year did she found her observatory?", thread_id="b", earlier=earlier
        )
        assert answer.text == "1874"
        config: Any = {"configurable": {"thread_id": "b"}}
        assert len((await swarm.dispatcher.aget_state(config)).values["messages"]) == 4
        await swarm.forget("b")
        assert not (await swarm.dispatcher.aget_state(config)).values


def test_tasks_run_uses_uvloop_when_it_is_installed() -> None:
    import asyncio
    import importlib.util

    from synthswarm.swarm import tasks

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    installed = importlib.util.find_spec("uvloop") is not None
    assert (tasks.loop_factory() is not None) == installed
    assert tasks.run(loop_module()).startswith("uvloop") == installed


def test_a_live_swarm_links_on_spacys_entities_shared_by_its_specialists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    swarm = two_agent_swarm()
    assert swarm.config.entities == "spacy"  # as the eval links
    cache = swarm.synthesis.entity_cache
    assert cache.source == "spacy"
    assert all(s.synthesizer.entities is cache for s in swarm.specialists)  # one model per swarm
    # Where spaCy is installed the swarm's extractor is spaCy's, made without loading the pipeline
    # (that waits for the first link); the unit tests' fixture says it is not, so undo that here.
    monkeypatch.setattr(synthswarm.agents.entities, "spacy_installed", lambda model="": True)
    extractor = cache.extractor
    assert isinstance(extractor, SpacyEntities)
    assert not extractor.loaded


def test_without_spacy_a_live_swarm_links_on_capitalised_runs_and_the_source_is_a_setting() -> None:
    # The unit tests' fixture stands in for a machine without spaCy: the documented fallback.
    assert isinstance(two_agent_swarm().synthesis.entity_cache.extractor, CapitalisedEntities)
    chosen = Swarm(chat=chat(), embedder=EMBEDDER, config=SwarmConfig(entities="capitalised"))
    assert chosen.synthesis.entity_cache.source == "capitalised"
    assert load_config(env={}, overrides={"swarm.entities": "capitalised"}).swarm.entities == "capitalised"
    assert typing.get_args(EntitySource) == ENTITY_SOURCES  # the setting's values are the sources
    with pytest.raises(ConfigError) as read:
        load_config(env={}, overrides={"swarm.entities": "regex"})
    assert read.value.key == "swarm.entities"
    with pytest.raises(ConfigError) as made:
        Swarm(chat=chat(), embedder=EMBEDDER, config=SwarmConfig(entities="regex"))  # type: ignore[arg-type]
    assert made.value.key == "swarm.entities"
