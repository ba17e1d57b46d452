"""The model-call span every chat backend opens around a completion
(:func:`synthswarm.swarm.telemetry.model_call`),
with the request's settings and the reply's token counts as the GenAI semantic conventions name them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from synthswarm.agents.llm._types import ChatResult, GenerationOptions
from synthswarm.swarm.telemetry import model_call

__all__ = ["traced_chat"]

Finish = Callable[[ChatResult], None]


@contextlib.contextmanager
def traced_chat(
    model: str, *, provider: str, options: GenerationOptions, in_process: bool, stream: bool = False
) -> Iterator[Finish]:
    """A ``chat {model}`` span around one completion; call what it yields with the result, so the
    span carries the token counts, finish reason and answering model."""
    request = {
        "gen_ai.request.max_tokens": options.max_tokens,
        "gen_ai.request.temperature": options.temperature,
        "gen_ai.request.top_p": options.top_p,
        "gen_ai.request.seed": options.seed,
        "gen_ai.request.stop_sequences": list(options.stop) or None,
        "gen_ai.request.stream": stream,
    }
    with model_call(model, provider=provider, in_process=in_process, request=request) as call:

        def finish(result: ChatResult) -> None:
            call.finish(
                input_tokens=result.usage.prompt_tokens,
                output_tokens=result.usage.completion_tokens,
                finish_reason=result.finish_reason,
                response_model=result.model,
            )

        yield finish
