"""An OpenAI-compatible HTTP API in front of a swarm's dispatcher (FastAPI).

``POST /v1/chat/completions`` (JSON, or server-sent events with ``"stream": true``) and ``GET
/v1/models``, so any OpenAI client or chat front end can talk to the swarm; ``GET /`` is a chat page with
a live view of the swarm, fed by ``GET /v1/swarm`` (the agents) and ``GET /v1/swarm/events`` (every
packet an agent keeps, as server-sent events). The last user message is the question; the conversation
continues on a thread named by the request's ``user`` field, or, without one, is the request's own
earlier messages (forgotten once answered). Each response carries the swarm's provenance (the specialists
asked, the packets used, the routing cost) in an extra ``synthswarm`` field, and no ``usage``: the
swarm's tokens are spent in many agents' models (the provenance counts their calls); streamed responses
send the dispatcher's progress (which specialists it routed to, each specialist's answer) as chunks with
an empty delta and a ``synthswarm`` event, the answer as the model writes it, then the provenance with
the finishing chunk.

**Approval.** When a step needs a person's approval (a specialist or tool marked ``needs_approval``,
:mod:`synthswarm.agents.approval`), the turn stops and waits on its thread. The completion then carries the
pending approvals instead of an answer: its message says what waits, and its ``synthswarm`` field has
``{"thread": THREAD, "approval": {"thread": THREAD, "pending": [{"id", "kind", "agent", "question",
"tool", "arguments"}]}}`` (a streamed completion sends this with its finishing chunk). A request with no
``user`` gets a thread of its own for this, kept until the turn finishes. Then:

- ``GET /v1/swarm/approvals/{thread}``: ``{"thread", "pending": [...]}`` (an empty list when nothing waits);
- ``POST /v1/swarm/approvals/{thread}`` with ``{"approved": true|false, "reason": "...", "id": "..."}``
  (``id`` picks one of several pending approvals, which are otherwise all decided alike; the others
  stay pending) resumes the turn and answers with a chat completion, as above: the answer (a denied step
  is named in it and in the provenance's ``denied``), or the next approval. 404 when nothing waits.

Requests larger than ``max_request_bytes`` are refused with 413; with a ``token``, requests without
``Authorization: Bearer <token>`` get 401. Errors have OpenAI's shape: ``{"error": {"message", "type",
"param", "code"}}``.

The same app speaks A2A (:mod:`synthswarm.swarm.app.a2a_server`): the agent card at
``/.well-known/agent-card.json``
(public) and JSON-RPC at ``/a2a`` (behind the same token, its errors in JSON-RPC's shape).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from synthswarm.agents.approval import ApprovalRequired, Decision, PendingApproval
from synthswarm.agents.dispatcher import EVENT_FINAL, EVENT_TOKEN, AnswerStream, conversation, turns_of
from synthswarm.agents.specialist import Turn
from synthswarm.swarm.app.a2a_server import A2A_PATH, CARD_PATH, A2ALimits, a2a_refusal, mount_a2a
from synthswarm.swarm.app.runtime import Swarm, SwarmAnswer
from synthswarm.swarm.errors import ApiError, SynthswarmError

__all__ = ["MODEL_ID", "ServerSettings", "create_app"]

MODEL_ID = "synthswarm"
"""The one model the API serves: the swarm's dispatcher."""
_OPEN_PATHS = frozenset({"/", CARD_PATH})
"""Served without the token: the page itself, which then sends the token the user gives it, and the
A2A agent card, which tells a client that it needs one."""
_REQUEST_THREAD = "request-"
"""How a thread of a request without ``user`` begins: forgotten once its turn is answered."""
_EVENT_BACKLOG = 256
_KEEPALIVE_S = 15.0
_PAGE = files("synthswarm.swarm.app").joinpath("data/web/index.html").read_text(encoding="utf-8")


class ServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: str = ""
    """Bearer token every request must carry (empty: no authentication)."""
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    """Largest request body accepted."""
    max_messages: int = Field(default=256, ge=1)
    max_message_chars: int = Field(default=32_000, ge=1)


class _Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class _DecisionRequest(BaseModel):
    """The body of ``POST /v1/swarm/approvals/{thread}``."""

    model_config = ConfigDict(extra="forbid")

    approved: bool
    reason: str = Field(default="", max_length=2000)
    id: str | None = Field(default=None, max_length=128)
    """The pending approval this decides (default: every one pending)."""


class _ChatRequest(BaseModel):
    model: str
    messages: list[_Message]
    stream: bool = False
    user: str | None = Field(default=None, max_length=128)
    """The conversation (thread) this message continues."""


def _response(error: ApiError) -> JSONResponse:
    body = {"error": {"message": error.message, "type": error.kind, "param": error.param, "code": error.code}}
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(body, status_code=error.status, headers=headers)


def create_app(swarm: Swarm, settings: ServerSettings | None = None, *, run_swarm: bool = False) -> FastAPI:
    """The API over ``swarm``. With ``run_swarm`` the app starts the swarm when the server starts and
    stops it when the server stops; otherwise the caller runs it, on the server's event loop."""
    s = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not run_swarm:
            yield
            return
        async with swarm:
            yield

    app = FastAPI(
        title="synthswarm",
        summary="An OpenAI-compatible API in front of a synthesis swarm",
        lifespan=lifespan,
    )
    app.add_middleware(_Guard, settings=s)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _response(_invalid(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _response(ApiError(exc.status_code, str(exc.detail), kind="invalid_request_error", code=code))

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        """The chat page with a live view of the swarm (it asks for the token, if one is set)."""
        return _PAGE

    @app.get("/v1/swarm")
    async def agents() -> dict[str, Any]:
        return {
            "router": swarm.config.router,
            "agents": [{"name": a.name, "domain": a.domain} for a in swarm.specialists],
        }

    @app.get("/v1/swarm/events")
    async def events() -> StreamingResponse:
        """Every packet an agent keeps, as server-sent events, while the client listens."""
        return StreamingResponse(_packet_events(swarm), media_type="text/event-stream")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model()]}

    @app.get("/v1/models/{model}")
    async def model(model: str) -> dict[str, Any]:
        _check_model(model)
        return _model()

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> JSONResponse | StreamingResponse:
        body = _parse(await _read(request, s), s)
        question = _question(body)
        # A named thread (``user``) continues the conversation the swarm keeps; without one, the
        # request's own messages are the conversation (as OpenAI clients send it), on a thread of
        # its own that is forgotten once answered, so no two clients share a history.
        thread = body.user or f"{_REQUEST_THREAD}{uuid.uuid4().hex}"
        earlier = [] if body.user else turns_of([(m.role, m.text().strip()) for m in body.messages])
        if body.stream:
            return StreamingResponse(
                _stream(swarm, question, thread, earlier, keep=body.user is not None),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return await _answer(swarm, swarm.ask(question, thread_id=thread, earlier=earlier), thread)

    @app.get("/v1/swarm/approvals/{thread}")
    async def pending(thread: str) -> dict[str, Any]:
        """What ``thread`` waits for a person to approve."""
        return {"thread": thread, "pending": [p.as_data() for p in await _pending(swarm, thread)]}

    @app.post("/v1/swarm/approvals/{thread}", response_model=None)
    async def decide(thread: str, request: Request) -> JSONResponse:
        """Resume ``thread`` with a decision; answers as a chat completion does."""
        try:
            body = _DecisionRequest.model_validate_json(await _read(request, s))
        except ValidationError as exc:
            raise _invalid(exc.errors()) from exc
        waiting = await _pending(swarm, thread)
        if not waiting:
            raise ApiError(
                404,
                f"thread {thread!r} waits for no approval",
                kind="invalid_request_error",
                code="not_found",
            )
        decision = Decision(body.approved, body.reason)
        if body.id is None:
            chosen: Decision | dict[str, Decision | bool] = decision
        elif body.id in {p.id for p in waiting}:
            # The others stay pending: the interrupt that is not answered is raised again.
            chosen = {body.id: decision}
        else:
            raise ApiError(
                404,
                f"no pending approval {body.id!r} on thread {thread!r}",
                kind="invalid_request_error",
                code="not_found",
                param="id",
            )
        return await _answer(swarm, swarm.resume(thread, chosen), thread)

    limits = A2ALimits(max_request_bytes=s.max_request_bytes, max_message_chars=s.max_message_chars)
    mount_a2a(app, swarm, secured=bool(s.token), limits=limits)
    return app


async def _pending(swarm: Swarm, thread: str) -> list[PendingApproval]:
    try:
        return await swarm.pending(thread)
    except SynthswarmError as exc:
        raise ApiError(
            503, f"the swarm is not ready: {exc}", kind="server_error", code="swarm_error"
        ) from exc


async def _answer(swarm: Swarm, turn: Coroutine[Any, Any, SwarmAnswer], thread: str) -> JSONResponse:
    """A chat completion of a turn: its answer, or the approvals it stopped for. A request's own
    thread is forgotten once its turn is answered, not while it waits."""
    named = None if thread.startswith(_REQUEST_THREAD) else thread
    waiting = False
    try:
        answer = await turn
    except ApprovalRequired as stop:
        waiting = True
        return _completion(
            f"Waiting for approval: {'; '.join(p.request.describe() for p in stop.pending)}.",
            {"thread": named, "approval": _approval(thread, stop.pending)},
        )
    except SynthswarmError as exc:
        raise ApiError(
            503, f"the swarm could not answer: {exc}", kind="server_error", code="swarm_error"
        ) from exc
    finally:
        if named is None and not waiting:
            await swarm.forget(thread)
    return _completion(answer.text, {"thread": named, "provenance": answer.provenance})


def _approval(thread: str, pending: Sequence[PendingApproval]) -> dict[str, Any]:
    return {"thread": thread, "pending": [p.as_data() for p in pending]}


def _completion(text: str, synthswarm: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL_ID,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "synthswarm": synthswarm,
        }
    )


async def _packet_events(swarm: Swarm) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_EVENT_BACKLOG)

    def push(event: dict[str, Any]) -> None:
        if not queue.full():  # a slow viewer misses events rather than growing the server's memory
            queue.put_nowait(event)

    stop = swarm.watch(push)
    try:
        yield b": listening\n\n"
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), _KEEPALIVE_S)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            yield f"data: {json.dumps(event)}\n\n".encode()
    finally:
        stop()


class _Guard(BaseHTTPMiddleware):
    """Authentication and the request size limit, before any body is read into the app."""

    def __init__(self, app: Any, settings: ServerSettings) -> None:
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            if self.settings.token and request.url.path not in _OPEN_PATHS:
                given = request.headers.get("authorization", "")
                expected = f"Bearer {self.settings.token}"
                if not hmac.compare_digest(given.encode(), expected.encode()):
                    raise ApiError(
                        401,
                        "missing or wrong bearer token",
                        kind="invalid_request_error",
                        code="invalid_api_key",
                    )
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.settings.max_request_bytes):
                raise _too_large(self.settings)
        except ApiError as exc:
            return a2a_refusal(exc) if request.url.path == A2A_PATH else _response(exc)
        return await call_next(request)


def _too_large(s: ServerSettings) -> ApiError:
    return ApiError(
        413,
        f"request body over {s.max_request_bytes} bytes",
        kind="invalid_request_error",
        code="request_too_large",
    )


async def _read(request: Request, s: ServerSettings) -> bytes:
    """The body, refused as soon as it passes the limit (a chunked body carries no Content-Length)."""
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > s.max_request_bytes:
            raise _too_large(s)
        parts.append(part)
    return b"".join(parts)


def _parse(raw: bytes, s: ServerSettings) -> _ChatRequest:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400, f"the body is not JSON: {exc}", kind="invalid_request_error", code="invalid_json"
        ) from exc
    try:
        body = _ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc.errors()) from exc
    _check_model(body.model)
    if not body.messages or len(body.messages) > s.max_messages:
        raise ApiError(
            400,
            f"messages: give 1 to {s.max_messages}",
            kind="invalid_request_error",
            code="invalid_messages",
            param="messages",
        )
    if any(len(m.text()) > s.max_message_chars for m in body.messages):
        raise ApiError(
            400,
            f"a message is over {s.max_message_chars} characters",
            kind="invalid_request_error",
            code="message_too_long",
            param="messages",
        )
    return body


def _invalid(errors: Any) -> ApiError:
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
    return ApiError(400, message, kind="invalid_request_error", code="invalid_request", param=where or None)


def _check_model(model: str) -> None:
    if model != MODEL_ID:
        raise ApiError(
            404,
            f"no model {model!r}: this server serves {MODEL_ID!r}",
            kind="invalid_request_error",
            code="model_not_found",
            param="model",
        )


def _question(body: _ChatRequest) -> str:
    users = [m for m in body.messages if m.role == "user" and m.text().strip()]
    if not users:
        raise ApiError(
            400,
            "messages: no user message with text",
            kind="invalid_request_error",
            code="invalid_messages",
            param="messages",
        )
    return users[-1].text().strip()


def _model() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "synthswarm"}


async def _stream(
    swarm: Swarm, question: str, thread: str, earlier: list[Turn], *, keep: bool
) -> AsyncIterator[bytes]:
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, default=str)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    config = {"configurable": {"thread_id": thread}}
    answer = AnswerStream()
    waiting: list[PendingApproval] = []
    try:
        await swarm.joined()
        async with swarm.turn(thread):
            turn = {"messages": [*conversation(earlier), ("user", question)]}
            async for event in swarm.dispatcher.astream(turn, config=config, stream_mode="custom"):
                if piece := answer.feed(event):
                    yield chunk({"content": piece})
                if event.get("type") == EVENT_FINAL:
                    named = thread if keep else None
                    yield chunk({}, "stop", synthswarm={"thread": named, "provenance": event["provenance"]})
                elif event.get("type") != EVENT_TOKEN:
                    yield chunk({}, synthswarm={"event": event})
        waiting = await swarm.pending(thread)
        if waiting:
            named = thread if keep else None
            yield chunk({}, "stop", synthswarm={"thread": named, "approval": _approval(thread, waiting)})
    except SynthswarmError as exc:
        error = {
            "message": f"the swarm could not answer: {exc}",
            "type": "server_error",
            "code": "swarm_error",
        }
        yield f"data: {json.dumps({'error': error})}\n\n".encode()
    finally:
        if not keep and not waiting:
            await swarm.forget(thread)
    yield b"data: [DONE]\n\n"
