from __future__ import annotations

import pytest

from synthswarm.agents.llm import ChatMessage, ChatModel, ChatResult, GenerationOptions, ScriptedChat, Usage
from synthswarm.swarm.errors import ScriptedChatError


async def test_replies_in_order_and_calls_recorded() -> None:
    chat = ScriptedChat(["first", lambda msgs: f"echo {msgs[-1].content}"])
    assert isinstance(chat, ChatModel)
    one = await chat.complete([ChatMessage.user("a")])
    two = await chat.complete(
        [ChatMessage.system("s"), ChatMessage.user("b")], options=GenerationOptions(max_tokens=9)
    )
    assert (one.text, two.text) == ("first", "echo b")
    assert [c.last_user_message for c in chat.calls] == ["a", "b"]
    assert chat.calls[1].options.max_tokens == 9
    await chat.aclose()


async def test_running_out_is_an_error_naming_the_call() -> None:
    chat = ScriptedChat(["only"])
    await chat.complete([ChatMessage.user("q1")])
    with pytest.raises(ScriptedChatError, match=r"call #2.*q2"):
        await chat.complete([ChatMessage.user("q2")])


async def test_unused_replies_are_reported_on_close() -> None:
    chat = ScriptedChat(["used", "forgotten"])
    await chat.complete([ChatMessage.user("q")])
    with pytest.raises(ScriptedChatError, match="1 unused reply"):
        await chat.aclose()


async def test_default_answers_after_the_script() -> None:
    chat = ScriptedChat(["scripted"], default="fallback")
    texts = [(await chat.complete([ChatMessage.user("q")])).text for _ in range(3)]
    assert texts == ["scripted", "fallback", "fallback"]


async def test_stop_and_max_tokens_apply_like_a_model() -> None:
    chat = ScriptedChat(["alpha beta. gamma delta", "one two three four"])
    stopped = await chat.complete([ChatMessage.user("q")], options=GenerationOptions(stop=(".",)))
    capped = await chat.complete([ChatMessage.user("q")], options=GenerationOptions(max_tokens=2))
    assert (stopped.text, stopped.finish_reason) == ("alpha beta", "stop")
    assert (capped.text, capped.finish_reason, capped.usage.completion_tokens) == ("one two", "length", 2)


async def test_full_results_pass_through() -> None:
    result = ChatResult("x", "length", Usage(5, 1), "m")
    assert await ScriptedChat([result]).complete([]) is result


async def test_stream_reassembles_to_the_result() -> None:
    chat = ScriptedChat(["streamed reply here"])
    chunks = [c async for c in chat.stream([ChatMessage.user("q")])]
    assert "".join(c.text for c in chunks) == "streamed reply here"
    assert chunks[-1].result is not None
    assert chunks[-1].result.text == "streamed reply here"
