"""OpenTelemetry traces for every layer: spans, the W3C trace context on the wire, and exporters.

The network layer owns this module so that the DHT, the routers and the agents above them share one
set of span helpers and one way of carrying a trace between processes:

- :func:`span` opens a span of the ``synthswarm`` tracer as the current span.
- :func:`model_call` opens a model-call span as the GenAI semantic conventions name it
  (``chat {model}``, ``gen_ai.*`` attributes, token counts once the reply is in).
- :func:`traceparent` is the W3C ``traceparent`` header of the current span ("" when there is none);
  :func:`remote_parent` makes such a header the parent of the spans opened inside it. Every DHT app
  request carries the header in its envelope (:class:`synthswarm.swarm.dht.messages.AppRequest`), so a query
  delivered to another process, the replies and the fetches all join the asker's trace. The header
  comes from the network: anything malformed is ignored, never raised.
- :func:`configure_tracing` installs the SDK's tracer provider with a console or OTLP exporter. Only
  an entry point calls it (the CLI's ``--trace``); until then every span is the API's no-op and
  :func:`span` does not even ask for one, so tracing off costs a check per span.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, ProxyTracerProvider, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from synthswarm.swarm.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "ERROR_TYPE",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "TRACER_NAME",
    "TRACE_MODES",
    "AttributeValue",
    "ModelCall",
    "SpanKind",
    "configure_tracing",
    "model_call",
    "remote_parent",
    "span",
    "traceparent",
    "tracing_enabled",
]

TRACER_NAME = "synthswarm"
TraceMode = Literal["off", "console", "otlp"]
TRACE_MODES: tuple[str, ...] = ("off", "console", "otlp")

# GenAI semantic conventions (development status), named once here; a unit test checks them against
# the opentelemetry-semantic-conventions package.
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ERROR_TYPE = "error.type"

TRACEPARENT = "traceparent"
MAX_TRACEPARENT = 128
"""Longest header looked at: a valid ``traceparent`` is 55 characters (a future version may add
fields); anything much longer is not parsed at all."""

_PROPAGATOR = TraceContextTextMapPropagator()
# Reusable do-nothing blocks: with tracing off, a span or an absent header costs no allocation.
_NO_SPAN: contextlib.AbstractContextManager[Span] = contextlib.nullcontext(INVALID_SPAN)
_NOT_USED: contextlib.AbstractContextManager[bool] = contextlib.nullcontext(False)


def tracing_enabled() -> bool:
    """Whether a tracer provider was installed (:func:`configure_tracing`, or by the application)."""
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, AttributeValue] | None = None
) -> contextlib.AbstractContextManager[Span]:
    """A span of the ``synthswarm`` tracer, current inside the block; an exception leaving the block
    is recorded on it. With tracing off it is the invalid span, set on nothing."""
    if not tracing_enabled():
        return _NO_SPAN
    tracer = trace.get_tracer(TRACER_NAME)
    return tracer.start_as_current_span(name, kind=kind, attributes=attributes)


def traceparent() -> str:
    """The W3C ``traceparent`` header of the current span; "" when no span is recording a trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT, "")


def remote_parent(header: str) -> contextlib.AbstractContextManager[bool]:
    """Inside the block, spans are children of the span ``header`` (a W3C ``traceparent`` from another
    process) names. An empty, overlong or malformed header changes nothing: it came off the network,
    so it is ignored rather than trusted or raised. The block gets whether the header was used."""
    parent = _parse(header)
    return _NOT_USED if parent is None else _attached(parent)


@contextlib.contextmanager
def _attached(parent: otel_context.Context) -> Iterator[bool]:
    token = otel_context.attach(parent)
    try:
        yield True
    finally:
        otel_context.detach(token)


def _parse(header: str) -> otel_context.Context | None:
    if not header or not isinstance(header, str) or len(header) > MAX_TRACEPARENT:
        return None
    try:
        parent = _PROPAGATOR.extract({TRACEPARENT: header})
    except Exception:  # the propagator should not raise on garbage; if it ever does, still ignore it
        return None
    return parent if trace.get_current_span(parent).get_span_context().is_valid else None


@dataclass(frozen=True)
class ModelCall:
    """A model-call span while the call runs: :meth:`finish` records what the reply says."""

    span: Span

    def finish(
        self, *, input_tokens: int, output_tokens: int, finish_reason: str, response_model: str
    ) -> None:
        self.span.set_attributes(
            {
                GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
                GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
                GEN_AI_RESPONSE_FINISH_REASONS: (finish_reason,),
                GEN_AI_RESPONSE_MODEL: response_model,
            }
        )


@contextlib.contextmanager
def model_call(
    model: str,
    *,
    provider: str,
    in_process: bool,
    operation: str = "chat",
    request: Mapping[str, AttributeValue | None] | None = None,
) -> Iterator[ModelCall]:
    """A span for one call of a generative model, as the GenAI semantic conventions describe it: named
    ``{operation} {model}``, kind CLIENT (INTERNAL for a model run ``in_process``), with the
    operation, provider, model and ``request`` attributes (None values left out). An exception is
    recorded with its type as ``error.type``.

    The span is not made current: a model call is a leaf, and a streamed call's block spans the
    yields of an async generator, where a context attached in one step may be detached in another."""
    attributes: dict[str, AttributeValue] = {
        GEN_AI_OPERATION_NAME: operation,
        GEN_AI_PROVIDER_NAME: provider,
        GEN_AI_REQUEST_MODEL: model,
    }
    attributes.update({k: v for k, v in (request or {}).items() if v is not None})
    if not tracing_enabled():
        yield ModelCall(INVALID_SPAN)
        return
    kind = SpanKind.INTERNAL if in_process else SpanKind.CLIENT
    current = trace.get_tracer(TRACER_NAME).start_span(
        f"{operation} {model}", kind=kind, attributes=attributes
    )
    try:
        yield ModelCall(current)
    except Exception as exc:
        current.set_attribute(ERROR_TYPE, type(exc).__qualname__)
        current.record_exception(exc)
        current.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        raise
    finally:
        current.end()


def configure_tracing(
    mode: str, *, service_name: str = TRACER_NAME, stream: TextIO | None = None
) -> TracerProvider | None:
    """Install the SDK's tracer provider as the global one (the OpenTelemetry convention), exporting
    to ``mode``:

    - ``console``: each span as one JSON line on ``stream`` (stderr by default: commands print their
      own output on stdout), written as the span ends;
    - ``otlp``: batched to the ``OTEL_EXPORTER_OTLP_*`` endpoint, which the SDK's exporter reads
      itself; ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL=grpc`` picks gRPC over http/protobuf;
    - ``off``: nothing is installed (None).

    The provider flushes and shuts down at exit; call its ``shutdown`` to do it sooner.
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the process as usual."""
    if mode not in TRACE_MODES:
        raise ConfigError("trace", f"expected one of {', '.join(TRACE_MODES)}, got {mode!r}")
    if mode == "off":
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    named = "OTEL_SERVICE_NAME" in os.environ or SERVICE_NAME in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(resource=Resource.create({} if named else {SERVICE_NAME: service_name}))
    if mode == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        out = stream or sys.stderr
        exporter = ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
    trace.set_tracer_provider(provider)
    return provider


def _otlp_exporter() -> SpanExporter:
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    )
    if protocol.strip() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()
