"""RecordingChat and ReplayChat: a call recorded once is answered from the file, offline, forever."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from synthswarm.agents.llm import (
    ChatMessage,
    ChatModel,
    GenerationOptions,
    RecordingChat,
    ReplayChat,
    ScriptedChat,
    ToolSpec,
    make_chat_model,
)
from synthswarm.agents.llm.recorded import call_key, canonical_request
from synthswarm.swarm.config import LLMConfig
from synthswarm.swarm.errors import ConfigError, ModelError, ModelNotFoundError, UnrecordedCallError

ASK = [ChatMessage.system("Be brief."), ChatMessage.user("Who found the orchid Halvia rubra?")]
OPTIONS = GenerationOptions(max_tokens=32, temperature=0.0)


async def record(path: Path, *replies: object, calls: int = 1) -> ScriptedChat:
    inner = ScriptedChat(replies)  # type: ignore[arg-type]  # a test's replies are str or ChatResult
    recorder = RecordingChat(inner, path)
    for _ in range(calls):
        await recorder.complete(ASK, options=OPTIONS)
    await recorder.aclose()
    return inner


async def test_the_same_call_finds_the_same_reply_under_any_name(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    await record(path, "Ilse Korrin found it.")
    replay = ReplayChat(path, name="another-model")
    assert isinstance(replay, ChatModel)
    result = await replay.complete(ASK, options=GenerationOptions(max_tokens=32, temperature=0))
    assert result.text == "Ilse Korrin found it."
    assert result.usage.completion_tokens == 4
    assert replay.name == "another-model"
    assert ReplayChat(path).name == "scripted"  # the recorded model's, by default


async def test_an_unseen_call_says_which_and_how_to_record_it(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    await record(path, "Ilse Korrin found it.")
    replay = ReplayChat(path)
    with pytest.raises(UnrecordedCallError) as caught:
        await replay.complete([ChatMessage.user("What is the capital of France?")])
    assert "'What is the capital of France?'" in str(caught.value)
    assert "RecordingChat" in str(caught.value)
    assert "llm.recording" in str(caught.value)
    with pytest.raises(UnrecordedCallError, match="differs in its options"):
        await replay.complete(ASK, options=GenerationOptions(max_tokens=33))


async def test_tool_calls_usage_and_tool_specs_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    asked = ScriptedChat.tool_call("lookup", {"name": "Halvia rubra"}, call_id="c7")
    spec = ToolSpec(
        "lookup", "Look a plant up.", {"type": "object", "properties": {"name": {"type": "string"}}}
    )
    options = GenerationOptions(tools=(spec,), max_tokens=16)
    turns = [*ASK, ChatMessage.assistant("", asked.tool_calls), ChatMessage.tool("c7", "Ilse Korrin")]
    recorder = RecordingChat(ScriptedChat([asked, "Ilse Korrin."]), path)
    first = await recorder.complete(ASK, options=options)
    second = await recorder.complete(turns, options=options)

    replay = ReplayChat(path)
    assert replay.supports_tools  # the recorded model's capabilities
    assert await replay.complete(ASK, options=options) == first
    assert await replay.complete(turns, options=options) == second
    line = json.loads(path.read_text().splitlines()[0])
    assert line["request"]["tools"][0]["name"] == "lookup"
    assert line["result"]["tool_calls"] == [
        {"id": "c7", "name": "lookup", "arguments": '{"name": "Halvia rubra"}'}
    ]
    assert line["result"]["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}


async def test_a_stream_is_recorded_whole_and_replayed_as_chunks(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    recorder = RecordingChat(ScriptedChat(["Ilse Korrin found it, in 1911. "]), path)
    recorded = [chunk async for chunk in recorder.stream(ASK, options=OPTIONS)]

    replay = ReplayChat(path)
    chunks = [chunk async for chunk in replay.stream(ASK, options=OPTIONS)]
    assert len(chunks) > 2
    assert "".join(c.text for c in chunks) == "Ilse Korrin found it, in 1911. "
    assert chunks[-1].result == recorded[-1].result
    assert (await replay.complete(ASK, options=OPTIONS)).text == "Ilse Korrin found it, in 1911. "


async def test_repeated_calls_replay_in_recorded_order_then_the_last(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    await record(path, "first", "second", calls=2)
    replay = ReplayChat(path)
    assert replay.calls == 1
    texts = [(await replay.complete(ASK, options=OPTIONS)).text for _ in range(3)]
    assert texts == ["first", "second", "second"]
    again = ReplayChat(path)  # each replay starts from the first reply
    assert (await again.complete(ASK, options=OPTIONS)).text == "first"


async def test_concurrent_calls_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "calls.jsonl"
    questions = [f"Question {i}: {'why ' * 400}?" for i in range(40)]
    recorder = RecordingChat(ScriptedChat(default=lambda messages: messages[-1].content[:30]), path)
    await asyncio.gather(*(recorder.complete([ChatMessage.user(q)]) for q in questions))
    assert recorder.recorded == 40
    lines = path.read_text().splitlines()
    assert len(lines) == 40
    assert all(json.loads(line)["v"] == 1 for line in lines)
    replay = ReplayChat(path)
    answers = await asyncio.gather(*(replay.complete([ChatMessage.user(q)]) for q in questions))
    assert [a.text for a in answers] == [q[:30] for q in questions]


async def test_a_cut_last_line_is_ended_before_appending_and_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    await record(path, "one")
    path.write_text(path.read_text() + '{"v": 1, "key": "abc", "requ')  # a writer killed mid-line
    await RecordingChat(ScriptedChat(["two"]), path).complete([ChatMessage.user("again")])
    assert len(path.read_text().splitlines()) == 3
    with pytest.raises(ModelError, match=r"calls\.jsonl, line 2: not a recorded call") as caught:
        ReplayChat(path)
    assert not isinstance(caught.value, UnrecordedCallError)


RESULT = (
    '{"text": "t", "finish_reason": "stop", "tool_calls": [], "model": "m", '
    '"usage": {"prompt_tokens": 1, "completion_tokens": 1}}'
)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "JSONDecodeError"),
        ('{"v": 2}', "format version 2"),
        ('{"v": 1, "key": "k", "request": {}, "result": {}}', "KeyError"),
        ('{"v": 1, "key": "k", "request": [], "result": ' + RESULT + "}", "request"),
        ('{"v": 1, "key": "k", "request": {}, "result": ' + RESULT.replace('"t"', "3") + "}", "string"),
        ('{"v": 1, "key": "k", "request": {}, "result": {"finish_reason": "done"}}', "finish_reason"),
    ],
)  # fmt: skip
def test_a_corrupt_line_is_a_clear_error(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(f"\n{line}\n")
    with pytest.raises(ModelError, match=r"line 2: not a recorded call") as caught:
        ReplayChat(path)
    assert why in str(caught.value)


def test_a_missing_recording_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no recording at"):
        ReplayChat(tmp_path / "none.jsonl")


def test_the_key_is_the_request_not_the_model_and_ignores_unset_options() -> None:
    bare = canonical_request(ASK, None)
    assert bare == canonical_request(ASK, GenerationOptions())
    assert bare["options"] == {}
    assert call_key(bare) == call_key(canonical_request(ASK, GenerationOptions(stop=(), tools=())))
    assert call_key(bare) != call_key(canonical_request(ASK, GenerationOptions(seed=1)))
    assert call_key(bare) != call_key(canonical_request(ASK[1:], None))
    assert call_key(canonical_request(ASK, GenerationOptions(temperature=0))) == call_key(
        canonical_request(ASK, GenerationOptions(temperature=0.0))
    )


async def test_config_records_with_a_backend_and_replays_with_replay(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    recorder = make_chat_model(
        LLMConfig(backend="openai", base_url="http://127.0.0.1:1/v1", recording=str(path))
    )
    assert isinstance(recorder, RecordingChat)
    await record(path, "Ilse Korrin.")
    replay = make_chat_model(LLMConfig(backend="replay", recording=str(path), model="offline"))
    assert isinstance(replay, ReplayChat)
    assert replay.name == "offline"
    assert (await replay.complete(ASK, options=OPTIONS)).text == "Ilse Korrin."


@pytest.mark.parametrize("recording", ["", "missing.jsonl"])
def test_replay_without_a_recording_is_a_config_error_naming_the_key(tmp_path: Path, recording: str) -> None:
    with pytest.raises(ConfigError, match=r"llm\.recording") as caught:
        make_chat_model(LLMConfig(backend="replay", recording=recording and str(tmp_path / recording)))
    assert caught.value.key == "llm.recording"
