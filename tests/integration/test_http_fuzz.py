"""The HTTP API under broken requests: hypothesis-made JSON bodies, and a run of the fuzzer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.llm import ScriptedChat
from synthswarm.swarm.app.fuzz import fuzz_http
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.app.server import MODEL_ID, ServerSettings, create_app
from synthswarm.swarm.config import SwarmConfig

TOKEN = "hypothesis-token"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids, max_size=5),
    max_leaves=20,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from([MODEL_ID, "other"]) | json_values,
        "messages": st.lists(
            st.fixed_dictionaries({}, optional={"role": json_values | st.sampled_from(["user", "system"]),
                                               "content": json_values}) | json_values,
            max_size=3,
        ) | json_values,
        "stream": st.booleans() | json_values,
        "user": json_values,
        "max_tokens": json_values,
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    swarm = Swarm(chat=ScriptedChat(default="1874"), embedder=HashingEmbedder(), config=SwarmConfig())
    swarm.add_specialist("astronomy", "Observatories.", documents=["Korrin founded it in 1874."])
    app = create_app(swarm, ServerSettings(token=TOKEN), run_swarm=True)
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


@given(fields)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_body_makes_the_api_fail(client: TestClient, body: dict[str, object]) -> None:
    response = client.post(
        "/v1/chat/completions", content=json.dumps(body), headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "error" in response.json()


async def test_a_fuzz_run_finds_no_crash() -> None:
    report = await fuzz_http(300, seed=2)
    assert report.inputs == 300
    assert report.crashes == []
