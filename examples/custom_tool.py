"""A specialist with a custom tool: a typed function becomes an OpenAI function-calling tool.

With OPENAI_BASE_URL set (OpenAI, vLLM, llama.cpp server, Ollama...) a real model decides when to call
it. Without one, a ScriptedChat plays that model, so the example runs offline as written; the embedded
135M model cannot call functions (LocalChat.supports_tools is False) and is answered from retrieval.

Run: python examples/custom_tool.py
"""

import asyncio
import json
import os

from synthswarm import ChatModel, LocalEmbedder, OpenAIChat, ScriptedChat, Specialist, tool

RATES = {"EUR": 11.5, "USD": 10.2}


@tool
def exchange_rate(currency: str) -> float:
    """The price of one unit of a currency, in crowns.

    Args:
        currency: Three-letter currency code, e.g. EUR.
    """
    return RATES[currency.upper()]


def model() -> ChatModel:
    if os.environ.get("OPENAI_BASE_URL"):
        return OpenAIChat(
            model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            base_url=os.environ["OPENAI_BASE_URL"],
            api_key=os.environ.get("OPENAI_API_KEY", "unused"),
        )
    return ScriptedChat(  # what a function-calling model would do with this question
        [
            ScriptedChat.tool_call("exchange_rate", {"currency": "EUR"}, call_id="c1"),
            ScriptedChat.tool_call("calculator", {"expression": "4 * 11.5"}, call_id="c2"),
            "4 euros cost 46 crowns.",
        ]
    )


async def main() -> None:
    print("the schema the model receives:", json.dumps(exchange_rate.spec.to_openai(), indent=2))
    agent = Specialist(
        "treasury",
        "Currencies, prices and exchange rates.",
        chat=model(),
        embedder=LocalEmbedder(),
        tools=[exchange_rate],
    )
    await agent.learn(["Prices in the market of Caldmoor are quoted in crowns."])
    answer = await agent.answer("How many crowns do 4 euros cost?", ask_swarm=False)
    print("answer:", answer.text, f"({answer.llm_calls} model calls)")
    print("evidence:", [e.source for e in answer.evidence])


asyncio.run(main())
