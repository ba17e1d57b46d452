"""The dispatcher: a LangGraph ``StateGraph`` that takes a user's request to the right specialists.

::

    START -> route --Send--> consult (one per chosen specialist, in parallel) -> synthesize -> respond -> END

- ``route`` ranks the specialists by their best passage for the question
  (:func:`synthswarm.agents.asking.best_holders`, the eval's rule too), optionally re-ranked by a chat model,
  and
  keeps the best ``fan_out``.
- ``consult`` asks one specialist (:meth:`~synthswarm.agents.specialist.Specialist.answer`, which may ask the
  swarm).
  Each branch has its own :class:`~langgraph.types.RetryPolicy` (``retry``): a failure the policy
  retries runs the branch again; the last failure (or one it does not retry) is reported as a
  :data:`EVENT_FAILED` event and in the provenance's ``failed``, and the turn goes on with the others
  (when every one asked failed, ``synthesize`` raises
  :class:`~synthswarm.swarm.errors.SpecialistsFailedError`).
  A specialist or tool that needs approval interrupts the turn here (:mod:`synthswarm.agents.approval`); a
  denied
  step is reported as :data:`EVENT_DENIED`, in the provenance's ``denied`` and in the answer's text.
- ``synthesize`` composes one answer from the specialists' answers (a chat model when more than one
  answered, else the single answer as it is).
- ``respond`` appends the answer as an AI message whose ``response_metadata["provenance"]`` names the
  specialists asked, the packets used and the agents that sent them, and the routing cost.

Build it with :func:`build_dispatcher`, over a list of specialists or a function that gives the current
ones (a swarm whose specialists change while it runs: each turn routes among those there now, and a
chosen specialist gone by the time it is asked is reported as failed). It is compiled with a
checkpointer (an in-memory one unless given), so a conversation continues by
``config={"configurable": {"thread_id": ...}}``. ``ainvoke`` and ``astream`` work anywhere;
``invoke`` and ``stream`` work from synchronous code when the swarm runs on a background loop
(:meth:`synthswarm.swarm.app.runtime.Swarm.background`), or when nothing the agents hold is bound to an event
loop.
With ``stream_mode="custom"`` the graph streams :data:`EVENT_ROUTE`, :data:`EVENT_TOKEN`,
:data:`EVENT_ANSWER`, :data:`EVENT_RETRY`, :data:`EVENT_FAILED`, :data:`EVENT_DENIED` and
:data:`EVENT_FINAL` events as dicts;
:class:`AnswerStream` turns them into the answer's text as it is written.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict, TypeVar

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Overwrite, RetryPolicy, Send, interrupt
from synthswarm.agents.approval import KIND_SPECIALIST, ApprovalRequest, Decision
from synthswarm.agents.asking import best_holders
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatMessage, ChatModel, GenerationOptions
from synthswarm.agents.specialist import Answer, Specialist, Turn, follow_up_query
from synthswarm.swarm.errors import ConfigError, DHTError, ModelError, SpecialistsFailedError, SwarmError
from synthswarm.swarm.telemetry import remote_parent, span, traceparent

__all__ = [
    "DEFAULT_RETRY",
    "EVENT_ANSWER",
    "EVENT_DENIED",
    "EVENT_FAILED",
    "EVENT_FINAL",
    "EVENT_RETRY",
    "EVENT_ROUTE",
    "EVENT_TOKEN",
    "AnswerStream",
    "DispatcherState",
    "Portal",
    "build_dispatcher",
    "conversation",
    "turns_of",
]

EVENT_ROUTE = "route"
EVENT_ANSWER = "answer"
EVENT_FINAL = "final"
EVENT_TOKEN = "token"
"""A piece of a specialist's answer as its model writes it (``agent``, ``text``)."""
EVENT_RETRY = "retry"
"""A specialist's attempt failed and will be tried again (``agent``, ``attempt``, ``error``)."""
EVENT_FAILED = "failed"
"""A specialist failed for good this turn; the others go on (``agent``, ``attempts``, ``error``)."""
EVENT_DENIED = "denied"
"""A person denied a step (``agent``, ``kind``, ``tool``, ``reason``)."""
NODE_ROUTE, NODE_CONSULT, NODE_SYNTHESIZE, NODE_RESPOND = "route", "consult", "synthesize", "respond"
TRACE_KEY = "trace"

DEFAULT_RETRY = RetryPolicy(
    initial_interval=0.5, max_attempts=2, jitter=False, retry_on=(ModelError, DHTError, TimeoutError)
)
"""Each fan-out branch: one more try after a model or network failure (not after a bug or a refusal)."""

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
#: Runs a coroutine to completion from synchronous code (on the loop the swarm lives on).
Portal = Callable[[Coroutine[Any, Any, Any]], Any]
Emit = Callable[[dict[str, Any]], None]


class DispatcherState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    history: list[list[str]]
    """The thread's earlier turns as ``[question, answer]``, for a follow-up question (see
    :func:`follow_up_query`); plain data, as checkpointers store state."""
    chosen: list[dict[str, Any]]
    """The specialists asked this turn: ``{"name", "score"}``."""
    answers: Annotated[list[dict[str, Any]], lambda a, b: a + b]
    """Each consulted specialist's answer this turn (see :func:`answer_record`); one that failed or
    was denied has no text and says why (``failed``, ``denied``)."""
    answer: str
    provenance: dict[str, Any]
    dispatcher_llm_calls: int
    """Model calls the dispatcher itself made this turn (re-rank, composition)."""
    trace: str
    """The W3C ``traceparent`` of this turn's route step ("" untraced): the parent of its other steps."""


class _Consult(TypedDict):
    question: str
    specialist: str
    history: list[list[str]]
    trace: str


def build_dispatcher(
    specialists: Sequence[Specialist] | Callable[[], Sequence[Specialist]],
    *,
    embedder: Embedder,
    chat: ChatModel | None = None,
    fan_out: int = 2,
    min_score: float = 0.0,
    rerank: bool = False,
    ask_swarm: bool | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    portal: Portal | None = None,
    names: dict[bytes, str] | None = None,
    retry: RetryPolicy | None = DEFAULT_RETRY,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled dispatcher graph over ``specialists``.

    ``chat`` composes multi-specialist answers and, with ``rerank``, re-ranks the routing; without it
    the answers are joined. ``fan_out`` specialists are consulted per question (those scoring below
    ``min_score`` are skipped, but at least one is always asked). ``ask_swarm`` overrides each
    specialist's own setting. ``names`` maps agent ids of agents elsewhere to names for provenance.
    ``retry`` is each fan-out branch's retry policy (None: one try).
    """
    current = specialists if callable(specialists) else _fixed(specialists)
    if not current():
        raise SwarmError("a dispatcher needs at least one specialist")
    if fan_out < 1:
        raise ConfigError("dispatcher.fan_out", f"must be at least 1, got {fan_out}")
    if rerank and chat is None:
        raise ConfigError("dispatcher.rerank", "re-ranking needs a chat model")
    known = {} if names is None else names  # the caller's own dict, which it may add to later
    nodes = _Nodes(current, embedder, chat, fan_out, min_score, rerank, ask_swarm, known, retry)
    graph = StateGraph(DispatcherState)
    graph.add_node(NODE_ROUTE, _node(nodes.route, portal))
    graph.add_node(NODE_CONSULT, _node(nodes.consult, portal), retry_policy=retry)
    graph.add_node(NODE_SYNTHESIZE, _node(nodes.synthesize, portal))
    graph.add_node(NODE_RESPOND, _node(nodes.respond, portal))
    graph.add_edge(START, NODE_ROUTE)
    graph.add_conditional_edges(NODE_ROUTE, _fan_out, [NODE_CONSULT])
    graph.add_edge(NODE_CONSULT, NODE_SYNTHESIZE)
    graph.add_edge(NODE_SYNTHESIZE, NODE_RESPOND)
    graph.add_edge(NODE_RESPOND, END)
    return graph.compile(checkpointer=checkpointer or InMemorySaver(), name="synthswarm-dispatcher")


class AnswerStream:
    """The final answer's text as it grows, from the dispatcher's custom events: when one specialist
    was asked, its tokens are the answer and pass through as they come; otherwise (several answers to
    compose, or none) the answer arrives whole with the final event. The pieces add up to the final
    answer."""

    def __init__(self) -> None:
        self.text = ""
        self._writer: str | None = None

    def feed(self, event: dict[str, Any]) -> str:
        """The text this event adds to the answer ("" for most events)."""
        kind = event.get("type")
        if kind == EVENT_ROUTE:
            chosen = event["specialists"]
            self._writer = chosen[0]["name"] if len(chosen) == 1 else None
        elif kind == EVENT_TOKEN and event["agent"] == self._writer:
            return self._add(event["text"])
        elif kind == EVENT_FINAL:
            answer = str(event["answer"])
            if answer.startswith(self.text):
                return self._add(answer[len(self.text) :])
            return self._add("\n\n" + answer)  # only if the streamed text was not the answer after all
        return ""

    def _add(self, piece: str) -> str:
        self.text += piece
        return piece


def answer_record(answer: Answer, names: dict[bytes, str]) -> dict[str, Any]:
    """An :class:`Answer` as plain data (checkpointers store state as data)."""
    return {
        "agent": answer.agent,
        "text": answer.text,
        # What came from other agents: packets it received, and passages they offered and it fetched.
        "packets": [
            {
                "id": e.packet_id.hex() if e.packet_id is not None else f"passage:{e.source}",
                "from": names.get(e.origin, e.origin.hex()[:12]),
                "finding": e.text,
            }
            for e in answer.evidence
            if e.origin is not None
        ],
        "sources": [e.source for e in answer.evidence if e.origin is None],
        "cited": list(answer.cited),
        "llm_calls": answer.llm_calls,
        "tokens": answer.tokens,
        "messages": answer.messages,
    }


def _turns(messages: Sequence[AnyMessage]) -> list[Turn]:
    return turns_of([(m.type, str(m.content)) for m in messages])


def turns_of(messages: Sequence[tuple[str, str]]) -> list[Turn]:
    """The finished turns before the last user message, from ``(role, text)`` pairs (roles as
    LangChain or OpenAI name them): each user message with the reply right after it."""
    roles = [("user" if role == "human" else "assistant" if role == "ai" else role) for role, _ in messages]
    last = max((i for i, role in enumerate(roles) if role == "user"), default=0)
    return [
        Turn(messages[i][1], messages[i + 1][1])
        for i in range(last - 1)
        if roles[i] == "user" and roles[i + 1] == "assistant"
    ]


def conversation(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """``turns`` as dispatcher input messages, to put before a question."""
    return [m for t in turns for m in (("user", t.question), ("assistant", t.answer))]


def _fan_out(state: DispatcherState) -> list[Send]:
    return [
        Send(
            NODE_CONSULT,
            _Consult(
                question=state["question"],
                specialist=c["name"],
                history=state.get("history", []),
                trace=state.get("trace", ""),
            ),
        )
        for c in state["chosen"]
    ]


@dataclass(frozen=True)
class _Step:
    """What a node needs of LangGraph's context, taken where that context lives (see :func:`_node`)."""

    emit: Emit
    attempt: int
    """1 on the first run of this step, 2 on its first retry..."""
    ask: Callable[[dict[str, Any]], Any]
    """LangGraph's ``interrupt``: raises until the thread is resumed, then returns the decision."""


def _step() -> _Step:
    info = get_runtime().execution_info
    # Under ``invoke`` the node's coroutine runs on the swarm's loop, outside LangGraph's context, so
    # ``interrupt`` (which reads the run's config from a context variable) runs in a copy of it.
    context = contextvars.copy_context()
    return _Step(
        get_stream_writer(),
        info.node_attempt if info is not None else 1,
        lambda value: context.run(interrupt, value),
    )


def _node(
    fn: Callable[[Any, _Step], Coroutine[Any, Any, dict[str, Any]]], portal: Portal | None
) -> RunnableLambda[Any, Any]:
    """A graph node that runs ``fn`` natively under ``ainvoke``/``astream`` and through the portal
    under ``invoke``/``stream``."""

    async def afunc(state: Any) -> dict[str, Any]:
        result: dict[str, Any] = await _traced(fn, state, _step())
        return result

    def func(state: Any) -> dict[str, Any]:
        result: dict[str, Any] = _run_sync(_traced(fn, state, _step()), portal)
        return result

    return RunnableLambda(func, afunc=afunc, name=fn.__name__)


async def _traced(
    fn: Callable[[Any, _Step], Coroutine[Any, Any, dict[str, Any]]], state: Any, step: _Step
) -> dict[str, Any]:
    """``fn`` in a ``dispatcher.<step>`` span. A caller's current span is its parent; without one
    (and under ``invoke``, whose portal runs steps on another thread), the turn's route step is: its
    ``traceparent`` rides in the state, so every step of a turn is one trace. Route itself starts the
    turn: the state it gets still holds the previous turn's, which is not its parent."""
    starts = fn.__name__ == NODE_ROUTE
    parent = "" if starts or traceparent() else state.get(TRACE_KEY, "")
    with remote_parent(parent), span(f"dispatcher.{fn.__name__}"):
        return await fn(state, step)


def _fixed(specialists: Sequence[Specialist]) -> Callable[[], Sequence[Specialist]]:
    fixed = tuple(specialists)
    return lambda: fixed


def _retries(policy: RetryPolicy | None, exc: Exception, attempt: int) -> bool:
    """Whether LangGraph will run the step again after ``exc`` (mirrors how it reads a policy)."""
    if policy is None or attempt >= policy.max_attempts:
        return False
    on = policy.retry_on
    if isinstance(on, type):
        return isinstance(exc, on)
    if isinstance(on, Sequence):
        return isinstance(exc, tuple(on))
    return bool(on(exc))


def _unanswered(name: str, **why: Any) -> dict[str, Any]:
    """The record of a specialist that gave no answer (it failed, or a person denied it)."""
    record = {"agent": name, "text": "", "packets": [], "sources": [], "cited": [], "llm_calls": 0}
    return {**record, "tokens": 0, "messages": 0, **why}


def _denial_note(answers: Sequence[dict[str, Any]]) -> str:
    """A line for the answer naming each step a person denied, so none is dropped silently."""
    steps = [
        f"{d['agent']} running {d['tool']}" if d["tool"] else f"asking {d['agent']}"
        for a in answers
        for d in a.get("denied", [])
    ]
    return f"(Not done, approval denied: {'; '.join(steps)}.)" if steps else ""


def _run_sync(coro: Coroutine[Any, Any, _T], portal: Portal | None) -> _T:
    if portal is not None:
        result: _T = portal(coro)
        return result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise SwarmError(
        "invoke/stream were called from inside an event loop: use ainvoke/astream, or run the swarm "
        f"with Swarm.background() (thread {threading.current_thread().name})"
    )


class _Nodes:
    def __init__(
        self,
        current: Callable[[], Sequence[Specialist]],
        embedder: Embedder,
        chat: ChatModel | None,
        fan_out: int,
        min_score: float,
        rerank: bool,
        ask_swarm: bool | None,
        names: dict[bytes, str],
        retry: RetryPolicy | None,
    ) -> None:
        self.current = current
        _ = self.by_name  # names must be unique from the start, not only when first asked
        self.embedder, self.chat = embedder, chat
        self.fan_out, self.min_score, self.rerank, self.ask_swarm = fan_out, min_score, rerank, ask_swarm
        self.retry = retry
        self._other_names = names

    @property
    def by_name(self) -> dict[str, Specialist]:
        """The specialists there now (a running swarm may gain or lose some between turns)."""
        specialists = self.current()
        by_name = {s.name: s for s in specialists}
        if len(by_name) != len(specialists):
            raise SwarmError("specialist names must be unique")
        return by_name

    @property
    def names(self) -> dict[bytes, str]:
        # Agents that left keep their names from ``names`` only; their packets name them by id.
        return {**self._other_names, **{s.agent_id: s.name for s in self.current()}}

    async def route(self, state: DispatcherState, step: _Step) -> dict[str, Any]:
        messages = state.get("messages") or []
        question = next((str(m.content) for m in reversed(messages) if m.type == "human"), "").strip()
        if not question:
            raise SwarmError('the dispatcher needs a user message: {"messages": [("user", "...")]}')
        history = _turns(messages)
        search = follow_up_query(question, history)
        vector = (await self.embedder.embed([search]))[0]
        specialists = list(self.by_name.values())
        if not specialists:
            raise SwarmError("the swarm has no specialists left to ask")
        scored = [
            (score, specialists[i].name) for i, score in await best_holders(search, vector, specialists)
        ]
        if self.rerank:
            scored = await self._rerank(question, scored)
        chosen = [{"name": n, "score": round(sc, 4)} for sc, n in scored if sc >= self.min_score][
            : self.fan_out
        ]
        chosen = chosen or [{"name": scored[0][1], "score": round(scored[0][0], 4)}]
        step.emit({"type": EVENT_ROUTE, "question": question, "specialists": chosen})
        calls = 1 if self.rerank else 0
        return {
            "question": question,
            "history": [[t.question, t.answer] for t in history],
            "chosen": chosen,
            "answers": Overwrite([]),
            "dispatcher_llm_calls": calls,
            TRACE_KEY: traceparent(),
        }

    async def consult(self, task: _Consult, step: _Step) -> dict[str, Any]:
        """Ask one specialist, after a person approves where that is needed. A failure is raised for
        LangGraph to retry while the policy allows, and then reported, so the turn goes on."""
        name = task["specialist"]
        denied: list[dict[str, Any]] = []

        def token(text: str) -> None:
            step.emit({"type": EVENT_TOKEN, "agent": name, "text": text})

        def decide(request: ApprovalRequest) -> Decision:
            decision = Decision.of(step.ask(request.as_data()))
            if not decision.approved:
                denial = {
                    "agent": name,
                    "kind": request.kind,
                    "tool": request.tool,
                    "reason": decision.reason,
                }
                denied.append(denial)
                step.emit({"type": EVENT_DENIED, **denial})
            return decision

        async def approve(request: ApprovalRequest) -> Decision:
            return decide(request)

        try:
            specialist = self.by_name.get(name)
            if specialist is None:
                raise SwarmError(f"specialist {name!r} left the swarm before it was asked")
            request = ApprovalRequest(KIND_SPECIALIST, name, task["question"])
            if specialist.needs_approval and not decide(request).approved:
                return {"answers": [_unanswered(name, denied=denied)]}
            answer = await specialist.answer(
                task["question"],
                ask_swarm=self.ask_swarm,
                on_token=token,
                history=[Turn(question, reply) for question, reply in task["history"]],
                approve=approve,
            )
        except GraphBubbleUp:
            raise  # an interrupt for approval: the thread waits for a decision
        except Exception as exc:  # one branch's failure, whatever it is, must not end the turn
            error = f"{type(exc).__name__}: {exc}"
            if _retries(self.retry, exc, step.attempt):
                step.emit({"type": EVENT_RETRY, "agent": name, "attempt": step.attempt, "error": error})
                raise
            _log.warning("specialist %s failed after %d attempt(s): %s", name, step.attempt, error)
            step.emit({"type": EVENT_FAILED, "agent": name, "attempts": step.attempt, "error": error})
            failure = {"error": error, "attempts": step.attempt}
            return {"answers": [_unanswered(name, failed=failure, denied=denied)]}
        record = {**answer_record(answer, self.names), "denied": denied}
        step.emit({"type": EVENT_ANSWER, **record})
        return {"answers": [record]}

    async def synthesize(self, state: DispatcherState, step: _Step) -> dict[str, Any]:
        order = {c["name"]: i for i, c in enumerate(state["chosen"])}
        answers = sorted((a for a in state.get("answers", []) if a["text"]), key=lambda a: order[a["agent"]])
        calls = state.get("dispatcher_llm_calls", 0)
        failed = [a for a in state.get("answers", []) if "failed" in a]
        if failed and len(failed) == len(state.get("answers", [])):
            why = "; ".join(f"{a['agent']}: {a['failed']['error']}" for a in failed)
            raise SpecialistsFailedError(f"every specialist asked failed ({why})")
        if not answers:
            text = "No specialist found an answer."
        elif len(answers) == 1:
            text = answers[0]["text"]
        else:
            text = await self._compose(state["question"], answers)
            calls += self.chat is not None
        if note := _denial_note(state.get("answers", [])):
            text = f"{text}\n\n{note}"
        return {"answer": text, "dispatcher_llm_calls": calls}

    async def respond(self, state: DispatcherState, step: _Step) -> dict[str, Any]:
        answers = state.get("answers", [])
        packets = {p["id"]: p for a in answers for p in a["packets"]}
        specialists = [c["name"] for c in state["chosen"]]
        provenance = {
            "specialists": specialists,
            "packets": list(packets.values()),
            # other agents whose packets the answers used (a specialist's own syntheses are its own)
            "agents_used": sorted({p["from"] for p in packets.values()} - set(specialists)),
            "sources": sorted({s for a in answers for s in a["sources"]}),
            "cited": list(dict.fromkeys(c for a in answers for c in a.get("cited", []))),
            "messages": sum(a["messages"] for a in answers),
            "llm_calls": sum(a["llm_calls"] for a in answers) + state.get("dispatcher_llm_calls", 0),
            "failed": [{"agent": a["agent"], **a["failed"]} for a in answers if "failed" in a],
            "denied": [d for a in answers for d in a.get("denied", [])],
        }
        step.emit({"type": EVENT_FINAL, "answer": state["answer"], "provenance": provenance})
        message = AIMessage(content=state["answer"], response_metadata={"provenance": provenance})
        return {"messages": [message], "provenance": provenance}

    async def _compose(self, question: str, answers: list[dict[str, Any]]) -> str:
        if self.chat is None:
            return "; ".join(dict.fromkeys(a["text"] for a in answers))
        notes = "\n".join(f"- {a['agent']}: {a['text']}" for a in answers)
        messages = [
            ChatMessage.system("Several specialists answered. Give the one best answer in a few words."),
            ChatMessage.user(f"Question: {question}\nSpecialists:\n{notes}"),
        ]
        try:
            result = await self.chat.complete(
                messages, options=GenerationOptions(max_tokens=48, temperature=0.0)
            )
        except ModelError:
            return str(answers[0]["text"])
        return result.text.strip().splitlines()[0] if result.text.strip() else str(answers[0]["text"])

    async def _rerank(self, question: str, scored: list[tuple[float, str]]) -> list[tuple[float, str]]:
        assert self.chat is not None
        listing = "\n".join(f"- {n}: {self.by_name[n].domain}" for _, n in scored)
        messages = [
            ChatMessage.system(
                "Pick the specialists best placed to answer. Reply with their names, best first."
            ),
            ChatMessage.user(f"Question: {question}\nSpecialists:\n{listing}"),
        ]
        try:
            reply = (
                await self.chat.complete(messages, options=GenerationOptions(max_tokens=32))
            ).text.lower()
        except ModelError:
            return scored
        mentioned = sorted((reply.find(n.lower()), sc, n) for sc, n in scored if n.lower() in reply)
        picked = [(sc, n) for _, sc, n in mentioned]
        return picked + [item for item in scored if item not in picked]
