"""LangChain interop: langchain-core's fake chat models drive specialists through LangChainChat, and
langchain-core tools are used beside ours."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult as LCChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.tools import tool as lc_tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from synthswarm.agents.llm import (
    ChatMessage,
    ChatModel,
    Extract,
    GenerationOptions,
    LangChainChat,
    ScriptedChat,
    ToolCall,
    ToolSpec,
)
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.errors import ModelError, ToolError
from synthswarm.tools import as_tools, from_langchain
from tests.unit.agents_world import BOTANY, BOTANY_FACT, EMBEDDER


class RecordingFake(GenericFakeChatModel):
    """GenericFakeChatModel that records every conversation and call keyword arguments it gets."""

    seen: list[tuple[list[BaseMessage], dict[str, Any]]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LCChatResult:
        self.seen.append((list(messages), {"stop": stop, **kwargs}))
        return super()._generate(messages, stop, run_manager, **kwargs)


class ToolCallingFake(RecordingFake):
    """A fake that implements ``bind_tools`` as providers do: the tools, in OpenAI's form, become call
    arguments."""

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[Any, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)


class BatchingFake(BaseChatModel):
    """A model that generates many conversations in one call: it implements ``abatch`` itself."""

    batches: list[int] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "batching-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LCChatResult:
        raise AssertionError("a batching model is called through abatch only")

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        self.batches.append(len(inputs))
        out: list[Any] = []
        for conversation in inputs:
            question = str(conversation[-1].content)
            if question == "fail":
                out.append(RuntimeError("this one broke"))
            else:
                out.append(AIMessage(f"{question.upper()} {kwargs.get('max_tokens')}"))
        return out


class Order(BaseModel):
    items: dict[str, int]


def order(spec: Order) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(spec.items.items()))


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage.system("Be brief."), ChatMessage.user(text)]


def replies(*messages: AIMessage | str) -> Iterator[AIMessage | str]:
    return iter(messages)


@lc_tool(parse_docstring=True)  # LangChain reads Google-style Args: only when asked
def exchange_rate(currency: str) -> float:
    """The value of one unit of a currency in crowns.

    Args:
        currency: Three-letter code.
    """
    return {"EUR": 11.5}[currency]


async def test_a_langchain_model_drives_a_specialist() -> None:
    usage = {"input_tokens": 30, "output_tokens": 3, "total_tokens": 33}
    fake = RecordingFake(messages=replies(AIMessage("Ilse Korrin", usage_metadata=usage)))
    chat = LangChainChat(fake)
    assert isinstance(chat, ChatModel)
    agent = Specialist(*BOTANY, chat=chat, embedder=EMBEDDER)
    await agent.learn([BOTANY_FACT])
    answer = await agent.answer("Who described the orchid Halvia rubra?", ask_swarm=False)
    assert answer.text == "Ilse Korrin"
    assert (answer.llm_calls, answer.tokens) == (1, 33)
    (conversation, kwargs), *_ = fake.seen
    assert conversation[0].type == "system"
    assert BOTANY_FACT in str(conversation[-1].content)
    assert kwargs["max_tokens"] == agent.settings.max_tokens
    assert "tools" not in kwargs  # the fake cannot bind tools, so none are offered


async def test_a_specialist_calls_a_langchain_tool_through_a_langchain_model() -> None:
    call = {"name": "exchange_rate", "args": {"currency": "EUR"}, "id": "c1"}
    fake = ToolCallingFake(messages=replies(AIMessage("", tool_calls=[call]), "46 crowns"))
    agent = Specialist(*BOTANY, chat=LangChainChat(fake), embedder=EMBEDDER, tools=[exchange_rate])
    answer = await agent.answer("What do 4 euros cost in crowns?", ask_swarm=False)
    assert answer.text == "46 crowns"
    assert answer.llm_calls == 2
    (_, first), (second, _) = fake.seen
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {"search_knowledge", "search_inbox", "ask_swarm", "calculator", "exchange_rate"}
    assert offered["exchange_rate"]["parameters"]["properties"]["currency"] == {
        "type": "string",
        "description": "Three-letter code.",
    }
    assert isinstance(second[-2], AIMessage)
    assert second[-2].tool_calls[0]["args"] == {"currency": "EUR"}
    assert isinstance(second[-1], ToolMessage)
    assert (second[-1].tool_call_id, second[-1].content) == ("c1", "11.5")


async def test_messages_usage_and_finish_reasons_map_both_ways() -> None:
    reply = AIMessage(
        "cut sh",
        usage_metadata={"input_tokens": 7, "output_tokens": 2, "total_tokens": 9},
        response_metadata={"finish_reason": "length", "model_name": "fake-1"},
    )
    fake = RecordingFake(messages=replies(reply))
    history = [
        ChatMessage.user("q"),
        ChatMessage.assistant(
            "", (ToolCall("a", "calculator", '{"expression": "1+1"}'), ToolCall("b", "x", "{oops"))
        ),
        ChatMessage.tool("a", "2"),
    ]
    result = await LangChainChat(fake).complete(history, options=GenerationOptions(stop=("\n",), seed=3))
    assert (result.text, result.finish_reason, result.model) == ("cut sh", "length", "fake-1")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 2)
    sent, kwargs = fake.seen[0]
    assert (kwargs["stop"], kwargs["seed"]) == (["\n"], 3)
    assert "temperature" not in kwargs  # unset options are left to the model
    assistant = sent[1]
    assert isinstance(assistant, AIMessage)
    assert [(c["id"], c["args"]) for c in assistant.tool_calls] == [("a", {"expression": "1+1"})]
    assert [(c["id"], c["args"]) for c in assistant.invalid_tool_calls] == [("b", "{oops")]
    assert isinstance(sent[2], ToolMessage)
    assert sent[2].tool_call_id == "a"


async def test_the_models_tool_calls_come_back_as_ours_with_json_arguments() -> None:
    calls = [{"name": "calculator", "args": {"expression": "6*7"}, "id": None}]
    invalid = [
        {"name": "calculator", "args": "{bad", "id": "z", "error": "not json", "type": "invalid_tool_call"}
    ]
    fake = ToolCallingFake(messages=replies(AIMessage("", tool_calls=calls, invalid_tool_calls=invalid)))
    spec = ToolSpec("calculator", "Calculate.", {"type": "object", "properties": {}})
    result = await LangChainChat(fake).complete(user("6*7?"), options=GenerationOptions(tools=(spec,)))
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == (
        ToolCall("call_0", "calculator", '{"expression": "6*7"}'),
        ToolCall("z", "calculator", "{bad"),
    )


async def test_streaming_yields_the_text_as_it_comes_then_the_result() -> None:
    fake = RecordingFake(messages=replies("Ilse Korrin described it"))
    pieces = [chunk async for chunk in LangChainChat(fake).stream(user("who?"))]
    *text, last = pieces
    assert len(text) > 1
    assert "".join(c.text for c in text) == "Ilse Korrin described it"
    assert last.result is not None
    assert last.result.text == "Ilse Korrin described it"


async def test_concurrent_calls_to_a_batching_model_are_sent_as_one_abatch() -> None:
    fake = BatchingFake()
    chat = LangChainChat(fake, batch_wait_ms=50, max_batch=3)
    assert chat.batches
    same = GenerationOptions(max_tokens=5)
    other = GenerationOptions(max_tokens=9)
    questions = [("a", same), ("b", same), ("c", same), ("d", same), ("e", other)]
    results = await asyncio.gather(*(chat.complete(user(q), options=o) for q, o in questions))
    assert [r.text for r in results] == ["A 5", "B 5", "C 5", "D 5", "E 9"]
    # Three with the same options fill one batch; the fourth waits its window alone, as does the
    # call with other options (they cannot share one bound call).
    assert sorted(fake.batches) == [1, 1, 3]
    assert sorted(chat.batch_sizes) == [1, 1, 3]
    await chat.aclose()


async def test_one_failure_in_a_batch_fails_only_its_caller() -> None:
    chat = LangChainChat(BatchingFake(), batch_wait_ms=50)
    ok, failed = await asyncio.gather(
        chat.complete(user("fine")), chat.complete(user("fail")), return_exceptions=True
    )
    assert not isinstance(ok, BaseException)
    assert ok.text == "FINE None"
    assert isinstance(failed, ModelError)
    assert "RuntimeError: this one broke" in str(failed)
    assert chat.batch_sizes == [2]


async def test_a_model_without_its_own_abatch_is_called_directly() -> None:
    fake = RecordingFake(messages=replies("one", "two"))
    chat = LangChainChat(fake, batch_wait_ms=10_000)
    assert not chat.batches  # Runnable.abatch is only concurrent ainvoke: waiting would buy nothing
    texts = await asyncio.wait_for(asyncio.gather(chat.complete(user("1")), chat.complete(user("2"))), 5)
    assert sorted(r.text for r in texts) == ["one", "two"]
    assert chat.batch_sizes == []


async def test_aclose_fails_requests_still_waiting_for_their_batch() -> None:
    fake = BatchingFake()
    chat = LangChainChat(fake, batch_wait_ms=10_000)
    waiting = asyncio.create_task(chat.complete(user("late")))
    await asyncio.sleep(0.01)
    await chat.aclose()
    with pytest.raises(ModelError, match="closed while the request waited"):
        await waiting
    with pytest.raises(ModelError, match="has been closed"):
        await chat.complete(user("after"))
    assert fake.batches == []


async def test_structured_output_goes_through_with_structured_output() -> None:
    usage = {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
    call = {"name": "reply", "args": {"claim": "Korrin founded Veltmar"}, "id": "s1"}
    fake = ToolCallingFake(messages=replies(AIMessage("", tool_calls=[call], usage_metadata=usage)))
    chat = LangChainChat(fake)
    assert chat.supports_structured
    schema = {"type": "object", "properties": {"claim": {"type": "string"}}, "required": ["claim"]}
    result = await chat.complete(
        user("state it"), options=GenerationOptions(json_schema=schema, max_tokens=40)
    )
    assert json.loads(result.text) == {"claim": "Korrin founded Veltmar"}
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (12, 4)
    _, kwargs = fake.seen[0]
    assert kwargs["tool_choice"] == "any"
    assert kwargs["tools"][0]["function"]["name"] == "reply"
    assert kwargs["max_tokens"] == 40  # call options reach the model under with_structured_output


async def test_what_the_model_cannot_do_is_refused_and_its_failures_are_model_errors() -> None:
    chat = LangChainChat(RecordingFake(messages=replies()))
    spec = ToolSpec("t", "T.", {"type": "object", "properties": {}})
    assert not chat.supports_tools
    assert not chat.supports_structured
    assert not chat.supports_extract
    with pytest.raises(ModelError, match="no bind_tools"):
        await chat.complete(user("q"), options=GenerationOptions(tools=(spec,)))
    with pytest.raises(ModelError, match="no structured output"):
        await chat.complete(user("q"), options=GenerationOptions(json_schema={"type": "object"}))
    with pytest.raises(ModelError, match="extractive decoding"):
        await chat.complete(user("q"), options=GenerationOptions(extract=Extract(choices=("a",))))
    # The fake's iterator is used up: its StopIteration surfaces as a RuntimeError, ours as a ModelError.
    with pytest.raises(ModelError, match="the LangChain model failed: RuntimeError"):
        await chat.complete(user("q"))
    with pytest.raises(ModelError, match="the LangChain model failed: RuntimeError"):
        _ = [chunk async for chunk in chat.stream(user("q"))]


async def test_langchain_tools_keep_their_schema_and_validation() -> None:
    converted = from_langchain(exchange_rate)
    assert (converted.name, converted.description) == (
        "exchange_rate",
        "The value of one unit of a currency in crowns.",
    )
    assert converted.parameters["required"] == ["currency"]
    assert await converted.call('{"currency": "EUR"}') == "11.5"
    with pytest.raises(ToolError, match="missing argument"):
        await converted.call("{}")

    ordering = from_langchain(StructuredTool.from_function(order, description="Place an order."))
    # An object argument our own checks cannot describe is validated by the tool's pydantic schema.
    assert await ordering.call({"spec": {"items": {"b": 2, "a": "1"}}}) == "a=1,b=2"
    with pytest.raises(ToolError, match="order failed: ValidationError"):
        await ordering.call({"spec": {"items": "many"}})


async def test_a_langchain_tools_own_errors_reach_the_model_as_tool_errors() -> None:
    @lc_tool(parse_docstring=True)
    def refuse(reason: str) -> str:
        """Refuse politely.

        Args:
            reason: Why.
        """
        raise ToolException(f"refused: {reason}")

    with pytest.raises(ToolError, match="refuse failed: ToolException: refused: busy"):
        await from_langchain(refuse).call({"reason": "busy"})


def test_ours_and_langchains_are_accepted_together_and_nothing_else() -> None:
    from synthswarm.tools import calculator

    mixed = as_tools([calculator, exchange_rate])
    assert [t.name for t in mixed] == ["calculator", "exchange_rate"]
    assert mixed[0] is calculator
    with pytest.raises(ToolError, match="neither a synthswarm Tool nor a langchain-core BaseTool"):
        as_tools([len])  # type: ignore[list-item]
    assert isinstance(exchange_rate, BaseTool)


def test_a_swarm_gives_its_specialist_a_langchain_tool() -> None:
    swarm = Swarm(chat=ScriptedChat(), embedder=EMBEDDER)
    agent = swarm.add_specialist(*BOTANY, tools=[exchange_rate])
    converted = next(t for t in agent.tools if t.name == "exchange_rate")
    assert converted.description == "The value of one unit of a currency in crowns."
