"""The swarm as an A2A agent (Agent2Agent protocol 1.0, through the official ``a2a-sdk``).

:func:`mount_a2a` adds two routes to the API app of :mod:`synthswarm.swarm.app.server`:

- ``GET /.well-known/agent-card.json`` (:data:`CARD_PATH`): the agent card, built per request so it
  names the specialists the swarm has now (one skill each: name, domain) and the URL the client
  reached. It is public, as the protocol expects: a client reads it to learn how to authenticate, so
  with a token set the card declares the HTTP bearer scheme (:data:`BEARER_SCHEME`) and requires it.
- ``POST /a2a`` (:data:`A2A_PATH`): the JSON-RPC binding. ``SendMessage`` answers with a completed
  task; ``SendStreamingMessage`` streams the task, the dispatcher's progress as ``working`` status
  updates (routing, each specialist's answer; the event itself in a data part), the answer as
  artifact chunks while the model writes it, then the ``completed`` status whose message holds the
  answer and, in a data part, its provenance. The server's bearer token guards it like the OpenAI API.

An A2A context is a conversation: its id maps to the dispatcher thread ``a2a:<context id>``
(:func:`thread_of`), so later messages in the same context are follow-ups. Messages are checked before
any work starts (a text part, at most ``max_message_chars``, a context id of at most 128 characters);
a bad one gets a JSON-RPC ``Invalid params`` error, and a refused request (no token, too large) gets
a JSON-RPC error body with the HTTP status (:func:`a2a_refusal`). Those errors are the SDK's own
(``a2a.utils.errors``), not :class:`~synthswarm.swarm.errors.SynthswarmError`: the SDK maps only its exact
error classes to JSON-RPC codes. The last ``max_tasks`` tasks are kept for ``GetTask``.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from a2a.helpers import get_text_parts, new_data_part, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext, SimpleRequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler, build_error_response
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    Message,
    Role,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    StringList,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, PROTOCOL_VERSION_1_0, TransportProtocol
from a2a.utils.errors import InvalidParamsError, InvalidRequestError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from synthswarm.agents.dispatcher import EVENT_ANSWER, EVENT_FINAL, EVENT_ROUTE, EVENT_TOKEN, AnswerStream
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.errors import ApiError, SynthswarmError

__all__ = [
    "A2A_PATH",
    "BEARER_SCHEME",
    "CANCELLED",
    "CARD_PATH",
    "A2ALimits",
    "SwarmExecutor",
    "a2a_refusal",
    "agent_card",
    "mount_a2a",
    "progress_line",
    "question_of",
    "thread_of",
]

A2A_PATH = "/a2a"
"""Where the JSON-RPC binding is served."""
CARD_PATH = AGENT_CARD_WELL_KNOWN_PATH
"""The protocol's well-known path of the agent card (served without the token)."""
BEARER_SCHEME = "bearer"
"""The name the card gives its HTTP bearer security scheme."""
ANSWER_ARTIFACT = "answer"
"""The id of the one artifact a task produces: the answer's text, in chunks as it is written."""
CANCELLED = "cancelled: the swarm stopped working on it"
"""The text of a cancelled task's status."""
_THREAD_PREFIX = "a2a:"
_MAX_CONTEXT_ID = 128  # as the OpenAI API's ``user`` (thread) field
_TEXT = "text/plain"
_JSON = "application/json"


@dataclass(frozen=True)
class A2ALimits:
    """What a request may carry (from the server's settings)."""

    max_request_bytes: int
    """Largest request body accepted, chunked bodies included."""
    max_message_chars: int
    """Longest question, counted over the message's text parts."""
    max_tasks: int = 1024
    """Tasks kept for ``GetTask`` and follow-ups; past this, the least recently updated is forgotten
    (its conversation stays on its thread)."""


def thread_of(context_id: str) -> str:
    """The dispatcher thread of an A2A context (prefixed, so it never meets an OpenAI ``user``
    thread of the same name)."""
    return f"{_THREAD_PREFIX}{context_id}"


def agent_card(swarm: Swarm, *, url: str, secured: bool) -> AgentCard:
    """The card of ``swarm`` served at ``url`` (the JSON-RPC endpoint): a skill per specialist, and,
    when ``secured``, the bearer scheme every call needs."""
    names = ", ".join(s.name for s in swarm.specialists) or "none yet"
    card = AgentCard(
        name="synthswarm",
        description=(
            "A synthesis swarm: the dispatcher routes each question to the specialists whose knowledge "
            f"matches it best, who share findings over a DHT. Specialists: {names}."
        ),
        version=_version(),
        supported_interfaces=[
            AgentInterface(
                url=url, protocol_binding=TransportProtocol.JSONRPC, protocol_version=PROTOCOL_VERSION_1_0
            )
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=[_TEXT],
        default_output_modes=[_TEXT, _JSON],
        skills=[
            AgentSkill(id=s.name, name=s.name, description=s.domain, tags=[s.name, "specialist"])
            for s in swarm.specialists
        ],
    )
    if secured:
        scheme = HTTPAuthSecurityScheme(
            scheme="Bearer", description="The server's API token (synthswarm serve --token)"
        )
        card.security_schemes[BEARER_SCHEME].CopyFrom(SecurityScheme(http_auth_security_scheme=scheme))
        card.security_requirements.append(SecurityRequirement(schemes={BEARER_SCHEME: StringList()}))
    return card


def a2a_refusal(error: ApiError) -> JSONResponse:
    """A request the server's guard refused (401, 413), as a JSON-RPC error with that HTTP status:
    an A2A client reads the status, a person reads the message."""
    body = build_error_response(None, InvalidRequestError(message=error.message))
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(body, status_code=error.status, headers=headers)


def mount_a2a(app: FastAPI, swarm: Swarm, *, secured: bool, limits: A2ALimits) -> None:
    """Serve ``swarm`` over A2A on ``app``: the card at :data:`CARD_PATH`, JSON-RPC at :data:`A2A_PATH`.
    Authentication is the app's (its guard must leave :data:`CARD_PATH` open and cover the rest)."""
    handler = DefaultRequestHandler(
        agent_executor=SwarmExecutor(swarm),
        task_store=_RecentTaskStore(limits.max_tasks),
        # Only the capabilities of this card matter to the handler; clients get the one built per request.
        agent_card=agent_card(swarm, url=A2A_PATH, secured=secured),
        request_context_builder=_CheckedContextBuilder(limits),
    )
    for route in create_jsonrpc_routes(handler, rpc_url=A2A_PATH):
        # Rebuilt with a body limit: the guard stops a declared Content-Length, this a chunked body,
        # which the SDK turns into a JSON-RPC "Payload too large" error.
        app.router.routes.append(
            Route(route.path, route.endpoint, methods=["POST"], max_body_size=limits.max_request_bytes)
        )

    @app.get(CARD_PATH, include_in_schema=False)
    async def card(request: Request) -> JSONResponse:
        url = str(request.base_url).rstrip("/") + A2A_PATH
        return JSONResponse(agent_card_to_dict(agent_card(swarm, url=url, secured=secured)))


class SwarmExecutor(AgentExecutor):
    """Runs each A2A message through the swarm's dispatcher, on the thread of its context."""

    def __init__(self, swarm: Swarm) -> None:
        self.swarm = swarm
        self._turns: dict[str, asyncio.Task[None]] = {}
        """The turn in flight of each task, by task id."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message, task_id, context_id = context.message, context.task_id, context.context_id
        if message is None or task_id is None or context_id is None:  # the handler always sets them
            raise InvalidParamsError(message="a message to send is required")
        if context.current_task is None:  # a new task: clients see it submitted before any progress
            submitted = TaskStatus(state=TaskState.TASK_STATE_SUBMITTED)
            await event_queue.enqueue_event(
                Task(id=task_id, context_id=context_id, status=submitted, history=[message])
            )
        updater = TaskUpdater(event_queue, task_id, context_id)
        thread = thread_of(context_id)
        async with self.swarm.turn(thread):  # one turn at a time per conversation
            await updater.start_work()
            # The turn runs as a task of its own so that ``cancel`` can stop it and then write the
            # final state while the queue is still open (the SDK calls ``cancel`` before it cancels
            # ``execute``; a turn still running then could publish after the terminal state).
            turn = asyncio.create_task(self._turn(question_of(message), thread, updater))
            self._turns[task_id] = turn
            try:
                await asyncio.wait([turn])  # a cancelled turn is an outcome here, not our cancellation
            finally:
                del self._turns[task_id]
                if not turn.done():  # ``execute`` itself was cancelled (shutdown): the turn goes too
                    turn.cancel()
                    await asyncio.wait([turn])
            if not turn.cancelled():
                turn.result()  # a bug in the turn surfaces, and the SDK fails the task

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is None or context.context_id is None:
            return
        turn = self._turns.get(context.task_id)
        if turn is not None:
            turn.cancel()
            await asyncio.wait([turn])
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.cancel(updater.new_agent_message([new_text_part(CANCELLED)]))

    async def _turn(self, question: str, thread: str, updater: TaskUpdater) -> None:
        try:
            await self._run(question, thread, updater)
        except SynthswarmError as exc:
            text = f"the swarm could not answer: {exc}"
            await updater.failed(updater.new_agent_message([new_text_part(text)]))

    async def _run(self, question: str, thread: str, updater: TaskUpdater) -> None:
        stream, chunks = AnswerStream(), 0
        config = {"configurable": {"thread_id": thread}}
        async for event in self.swarm.dispatcher.astream(
            {"messages": [("user", question)]}, config=config, stream_mode="custom"
        ):
            piece, kind = stream.feed(event), event.get("type")
            if piece or kind == EVENT_FINAL:
                await updater.add_artifact(
                    [new_text_part(piece)],
                    artifact_id=ANSWER_ARTIFACT,
                    name=ANSWER_ARTIFACT,
                    append=chunks > 0,
                    last_chunk=kind == EVENT_FINAL,
                )
                chunks += 1
            if kind == EVENT_FINAL:
                data = {"thread": thread, "provenance": _plain(event["provenance"])}
                parts = [new_text_part(str(event["answer"])), new_data_part(data, _JSON)]
                await updater.complete(updater.new_agent_message(parts))
            elif kind != EVENT_TOKEN:
                parts = [new_text_part(progress_line(event)), new_data_part({"event": _plain(event)}, _JSON)]
                await updater.update_status(TaskState.TASK_STATE_WORKING, updater.new_agent_message(parts))


def question_of(message: Message) -> str:
    """The question a message asks: its text parts, joined."""
    return "\n".join(get_text_parts(message.parts)).strip()


def progress_line(event: dict[str, Any]) -> str:
    """A dispatcher event as one line a person can read."""
    kind = event.get("type")
    if kind == EVENT_ROUTE:
        return "routed to " + ", ".join(f"{c['name']} ({c['score']})" for c in event["specialists"])
    if kind == EVENT_ANSWER:
        return f"{event['agent']} answered"
    return str(kind)


def _plain(value: Any) -> Any:
    """``value`` as JSON data (a protobuf ``Value`` takes nothing else)."""
    return json.loads(json.dumps(value, default=str))


def _version() -> str:
    try:
        return version("synthswarm")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0"


class _RecentTaskStore(InMemoryTaskStore):
    """The SDK's in-memory store, bounded: a server that answers for weeks must not keep every task."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self._order: OrderedDict[str, ServerCallContext] = OrderedDict()  # least recently saved first

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await super().save(task, context)
        self._order[task.id] = context
        self._order.move_to_end(task.id)
        while len(self._order) > self.capacity:
            oldest, owner = self._order.popitem(last=False)
            await super().delete(oldest, owner)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._order.pop(task_id, None)
        await super().delete(task_id, context)


class _CheckedContextBuilder(SimpleRequestContextBuilder):
    """Checks each message before a task exists, so a bad one is a JSON-RPC error, not a failed task."""

    def __init__(self, limits: A2ALimits) -> None:
        super().__init__()
        self.limits = limits

    async def build(
        self,
        context: ServerCallContext,
        params: SendMessageRequest | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
        task: Task | None = None,
    ) -> RequestContext:
        if params is not None:
            self._check(params.message)
        return await super().build(context, params, task_id, context_id, task)

    def _check(self, message: Message) -> None:
        if message.role != Role.ROLE_USER:
            raise InvalidParamsError(message="message.role: a message to this agent comes from ROLE_USER")
        question = question_of(message)
        if not question:
            raise InvalidParamsError(message="message.parts: no text part with text (the swarm answers text)")
        if len(question) > self.limits.max_message_chars:
            raise InvalidParamsError(
                message=f"message.parts: the text is over {self.limits.max_message_chars} characters"
            )
        if len(message.context_id) > _MAX_CONTEXT_ID:
            raise InvalidParamsError(message=f"message.contextId: over {_MAX_CONTEXT_ID} characters")
