"""OpenTelemetry spans: names and attributes, the GenAI model-call span, and the trace context carried
in every DHT app request (and ignored when malformed). Spans go to the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.trace import SpanKind, StatusCode

import synthswarm.swarm.app.cli
from synthswarm.agents.dispatcher import build_dispatcher
from synthswarm.agents.llm import ChatMessage, GenerationOptions, LangChainChat, OpenAIChat, ScriptedChat
from synthswarm.agents.specialist import Specialist, SpecialistSettings
from synthswarm.swarm import telemetry
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import load_config
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.dht.messages import AppReply, AppRequest, Envelope, encode_frame
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import ConfigError, ScriptedChatError
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER
from tests.unit.test_runtime import two_agent_swarm

VALID = "00-0af7651916cd43dd8421a7bb8ee47cab-b7ad6b7169203331-01"
MALFORMED = [
    "",
    "garbage",
    "00-0af7651916cd43dd8421a7bb8ee47cab-b7ad6b7169203331",  # no flags
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
    "00-0af7651916cd43dd8421a7bb8ee47cab-0000000000000000-01",  # all-zero span id
    "ff-0af7651916cd43dd8421a7bb8ee47cab-b7ad6b7169203331-01",  # the forbidden version
    "00-0AF7651916CD43DD8421A7BB8EE47CAB-B7AD6B7169203331-01",  # upper case
    "00-0af7651916cd43dd8421a7bb8ee47cab-b7ad6b7169203331-01" + "-x" * 200,  # overlong
    "00-\u00fc\u00fc\u00fc-\x00\x00-01",
    "\ud800",  # a lone surrogate: not even valid UTF-8
]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider exporting to memory, installed as the global one for this test only.
    ``set_tracer_provider`` works once per process, so the test swaps the global itself, as
    opentelemetry's own test utilities do, and the monkeypatch puts the no-op proxy back."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter
    provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def trace_id(s: ReadableSpan) -> int:
    assert s.context is not None
    found: int = s.context.trace_id
    return found


def trace_id_and_span(s: ReadableSpan) -> tuple[int, int]:
    assert s.context is not None
    return s.context.trace_id, s.context.span_id


def attribute(s: ReadableSpan, key: str) -> object:
    return (s.attributes or {}).get(key)


# --- off by default ---------------------------------------------------------------------------------


def test_without_a_provider_spans_are_the_invalid_span_and_requests_carry_nothing() -> None:
    assert not telemetry.tracing_enabled()
    with telemetry.span("anything") as current:
        assert current is trace.INVALID_SPAN
        assert telemetry.traceparent() == ""
    untraced = Envelope(b"r" * 8, b"k" * 32, "inproc://a", AppRequest("t", b"p", telemetry.traceparent()))
    assert encode_frame(untraced) == encode_frame(
        Envelope(b"r" * 8, b"k" * 32, "inproc://a", AppRequest("t", b"p"))
    )


# --- the helpers ---------------------------------------------------------------------------------------


def test_span_is_current_and_its_traceparent_names_it(spans: InMemorySpanExporter) -> None:
    with telemetry.span("outer") as outer:
        header = telemetry.traceparent()
        ctx = outer.get_span_context()
        assert header == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    with telemetry.remote_parent(header) as used, telemetry.span("inner"):
        assert used
    [inner] = named(spans, "inner")
    assert inner.parent is not None
    assert inner.parent.is_remote
    assert inner.parent.span_id == ctx.span_id
    assert trace_id(inner) == ctx.trace_id


@pytest.mark.parametrize("header", MALFORMED)
def test_a_malformed_traceparent_is_ignored(spans: InMemorySpanExporter, header: str) -> None:
    with telemetry.remote_parent(header) as used, telemetry.span("handler"):
        assert not used
    [handler] = named(spans, "handler")
    assert handler.parent is None  # a root span of its own trace: nothing of the header was taken


def test_the_gen_ai_names_are_the_semantic_conventions() -> None:
    g = gen_ai_attributes
    assert telemetry.GEN_AI_OPERATION_NAME == g.GEN_AI_OPERATION_NAME
    assert telemetry.GEN_AI_PROVIDER_NAME == g.GEN_AI_PROVIDER_NAME
    assert telemetry.GEN_AI_REQUEST_MODEL == g.GEN_AI_REQUEST_MODEL
    assert telemetry.GEN_AI_RESPONSE_MODEL == g.GEN_AI_RESPONSE_MODEL
    assert telemetry.GEN_AI_RESPONSE_FINISH_REASONS == g.GEN_AI_RESPONSE_FINISH_REASONS
    assert telemetry.GEN_AI_USAGE_INPUT_TOKENS == g.GEN_AI_USAGE_INPUT_TOKENS
    assert telemetry.GEN_AI_USAGE_OUTPUT_TOKENS == g.GEN_AI_USAGE_OUTPUT_TOKENS
    assert g.GenAiOperationNameValues.CHAT.value == "chat"
    assert g.GenAiOperationNameValues.INVOKE_AGENT.value == "invoke_agent"


def test_a_bad_trace_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="trace"):
        telemetry.configure_tracing("jaeger")
    assert telemetry.configure_tracing("off") is None
    with pytest.raises(ConfigError, match=r"trace.*expected one of off, console, otlp"):
        load_config(env={"SYNTHSWARM_TRACE": "verbose"})
    assert load_config(env={}, overrides={"trace": "console"}).trace == "console"
    assert load_config(env={}).trace == "off"


# --- model calls -------------------------------------------------------------------------------------


async def test_a_model_call_span_follows_the_gen_ai_conventions(spans: InMemorySpanExporter) -> None:
    chat = ScriptedChat(["the Veltmar Observatory"], name="smol")
    options = GenerationOptions(max_tokens=16, temperature=0.0, stop=("\n",))
    await chat.complete([ChatMessage.user("Which observatory did Ilse Korrin found?")], options=options)
    [call] = spans.get_finished_spans()
    assert call.name == "chat smol"
    assert call.kind is SpanKind.INTERNAL  # a model in this process
    attributes = dict(call.attributes or {})
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "smol",
        "gen_ai.request.max_tokens": 16,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.stop_sequences": ("\n",),
        "gen_ai.request.stream": False,
        "gen_ai.response.model": "smol",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 6,  # ScriptedChat counts words
        "gen_ai.usage.output_tokens": 3,
    }


async def test_a_langchain_model_call_has_its_span_with_token_counts(spans: InMemorySpanExporter) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    reply = AIMessage("Veltmar", usage_metadata={"input_tokens": 7, "output_tokens": 2, "total_tokens": 9})
    chat = LangChainChat(GenericFakeChatModel(messages=iter([reply, reply])), name="fake")
    await chat.complete([ChatMessage.user("Which observatory?")])
    async for _ in chat.stream([ChatMessage.user("Which observatory?")]):
        pass
    await chat.aclose()
    called, streamed = spans.get_finished_spans()
    for span in (called, streamed):
        assert span.name == "chat fake"
        assert dict(span.attributes or {})["gen_ai.provider.name"] == "langchain"
    assert dict(called.attributes or {})["gen_ai.usage.input_tokens"] == 7
    # (the fake model's stream carries no usage, so only the streamed call's other attributes are its)
    assert dict(streamed.attributes or {})["gen_ai.request.stream"] is True


async def test_a_failed_model_call_is_an_error_span(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ScriptedChatError):
        await ScriptedChat().complete([ChatMessage.user("anything?")])
    [call] = spans.get_finished_spans()
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "ScriptedChatError"


async def test_an_openai_call_is_a_client_span_with_the_servers_token_counts(
    spans: InMemorySpanExporter,
) -> None:
    body = {
        "id": "c1", "object": "chat.completion", "created": 0, "model": "m-2024",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "1874"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }  # fmt: skip
    client = openai.AsyncOpenAI(
        base_url="http://llm.test/v1",
        api_key="k",
        max_retries=0,
        http_client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body))
        ),
    )
    chat = OpenAIChat(model="m", client=client, defaults=GenerationOptions(max_tokens=32))
    await chat.complete([ChatMessage.user("When?")])
    [call] = spans.get_finished_spans()
    assert call.name == "chat m"
    assert call.kind is SpanKind.CLIENT
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.max_tokens"] == 32  # the default it was sent with
    assert attributes["gen_ai.response.model"] == "m-2024"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (7, 3)


# --- the envelope --------------------------------------------------------------------------------------


async def test_app_requests_carry_the_trace_and_ignore_a_malformed_one(spans: InMemorySpanExporter) -> None:
    seen: list[trace.SpanContext] = []

    async def handler(sender: Contact, payload: bytes) -> bytes:
        seen.append(trace.get_current_span().get_span_context())
        return b"ok"

    async with launch_swarm(2) as (sender, receiver):
        receiver.register_app("probe", handler)
        for header in MALFORMED[:-1]:  # a lone surrogate cannot even be sent: msgpack text is UTF-8
            reply = await sender.call(receiver.contact, AppRequest("probe", b"", header))
            assert reply == AppReply(b"ok")  # answered as if it carried no header
        assert not any(s.is_valid for s in seen)
        with telemetry.span("asker") as asker:
            assert await sender.app_request(receiver.contact, "probe", b"") == b"ok"
    assert seen[-1].is_remote
    assert seen[-1].trace_id == asker.get_span_context().trace_id
    assert seen[-1].span_id == asker.get_span_context().span_id


async def test_one_turn_is_one_trace_from_the_dispatcher_to_the_agent_on_another_node(
    spans: InMemorySpanExporter,
) -> None:
    swarm: Swarm = two_agent_swarm("dht")
    async with swarm:
        spans.clear()  # the knowledge shared at start is traced too, each packet its own trace
        answer = await swarm.ask(
            "In what year did the naturalist who described the orchid Halvia rubra found an observatory?"
        )
        for specialist in swarm.specialists:
            await specialist.drain()  # replies sent in the background
    assert answer.text == "1874"
    finished = spans.get_finished_spans()
    [route] = named(spans, "dispatcher.route")
    turn = trace_id(route)
    for name in ("dispatcher.consult", "dispatcher.synthesize", "dispatcher.respond"):
        [step] = named(spans, name)
        assert trace_id(step) == turn, name
        assert step.parent is not None
        assert step.parent.span_id == trace_id_and_span(route)[1]
    asked = answer.provenance["specialists"][0]
    [agent] = named(spans, f"invoke_agent {asked}")
    assert trace_id(agent) == turn
    assert (agent.attributes or {})["gen_ai.agent.name"] == asked
    rounds = named(spans, "ask.round")
    assert rounds
    assert all(trace_id(r) == turn for r in rounds)
    [model] = [s for s in finished if s.name == "chat scripted" and trace_id(s) == turn]
    assert isinstance(tokens := attribute(model, "gen_ai.usage.input_tokens"), int)
    assert tokens > 0
    # The query packet: published by the asker, delivered to the other agent on the other node, which
    # replied; the delivery's parent arrived in the request's envelope (a remote parent).
    queries = [
        s for s in named(spans, "packet.publish") if (s.attributes or {})["synthswarm.packet.kind"] == "query"
    ]
    # One query packet a round, and one more: the route step's, by which the entry specialist finds who
    # holds the best passages (agents/entry.py).
    assert len(queries) == len(rounds) + 1
    assert all(trace_id(q) == turn for q in queries)
    delivered = [s for s in named(spans, "packet.deliver") if trace_id(s) == turn]
    assert delivered
    assert all(s.parent is not None and s.parent.is_remote for s in delivered)
    # the query, and the answer the asker shared as a finding at the end of the turn
    assert {(s.attributes or {})["synthswarm.packet.kind"] for s in delivered} == {"query", "finding"}
    replies = [s for s in named(spans, "reply.receive") if trace_id(s) == turn]
    assert replies
    assert all(s.parent is not None and s.parent.is_remote for s in replies)
    assert all(trace_id(s) == turn for s in named(spans, "passage.fetch"))


def test_a_synchronous_invoke_is_one_trace_too(spans: InMemorySpanExporter) -> None:
    """invoke() runs each step through the portal on the swarm's loop, where no context follows: the
    route step's traceparent in the graph state is what joins the steps."""
    swarm = two_agent_swarm("dht")
    with swarm.background():
        spans.clear()
        config = {"configurable": {"thread_id": "sync"}}
        state = swarm.dispatcher.invoke(
            {"messages": [("user", "Which observatory did Ilse Korrin found?")]}, config
        )
    assert state["answer"]
    steps = [s for s in spans.get_finished_spans() if s.name.startswith("dispatcher.")]
    assert sorted(s.name for s in steps) == [
        "dispatcher.consult", "dispatcher.respond", "dispatcher.route", "dispatcher.synthesize",
    ]  # fmt: skip
    assert len({trace_id(s) for s in steps}) == 1


async def test_each_turn_of_a_thread_is_a_trace_of_its_own(spans: InMemorySpanExporter) -> None:
    """The checkpointed state still holds the last turn's traceparent when the next turn starts."""
    graph = build_dispatcher(await two_specialists(), embedder=EMBEDDER, fan_out=1)
    config: Any = {"configurable": {"thread_id": "t"}}
    for question in ("Which observatory did Ilse Korrin found?", "And who described Halvia rubra?"):
        await graph.ainvoke({"messages": [("user", question)]}, config)
    routes = named(spans, "dispatcher.route")
    assert len(routes) == 2
    assert all(r.parent is None for r in routes)
    turns = {trace_id(r) for r in routes}
    assert len(turns) == 2
    for name in ("dispatcher.consult", "dispatcher.respond"):
        assert {trace_id(s) for s in named(spans, name)} == turns


async def two_specialists() -> list[Specialist]:
    out = []
    for (name, domain), fact in ((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT)):
        agent = Specialist(
            name, domain, chat=ScriptedChat(default="1874"), embedder=EMBEDDER,
            settings=SpecialistSettings(ask_swarm=False, share_answers=False),
        )  # fmt: skip
        await agent.learn([fact])
        out.append(agent)
    return out


# --- the command line ------------------------------------------------------------------------------


class _Provider:
    """Stands in for the SDK provider the CLI would install (a real one is global for good)."""

    def __init__(self) -> None:
        self.shut = False

    def shutdown(self) -> None:
        self.shut = True


def test_the_trace_flag_installs_tracing_and_flushes_it_when_the_command_ends(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []
    provider = _Provider()

    def configure(mode: str, *, service_name: str) -> _Provider | None:
        asked.append((mode, service_name))
        return provider if mode != "off" else None

    monkeypatch.setattr(synthswarm.swarm.app.cli, "configure_tracing", configure)
    synthswarm.swarm.app.cli.main(["--trace", "console", "config", "show"])
    assert asked == [("console", "synthswarm config")]
    assert provider.shut
    assert "trace" in capsys.readouterr().out  # the key is listed with the others
    synthswarm.swarm.app.cli.main(["config", "show"])
    assert asked[-1] == ("off", "synthswarm config")


def test_a_bad_trace_flag_exits_1_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        synthswarm.swarm.app.cli.main(["--trace", "jaeger", "config", "show"])
    assert exited.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "trace" in err
    assert "expected one of off, console, otlp" in err
