"""`synthswarm chat` as a user runs it: commands, provenance, and history kept across restarts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.openai_stub import base_url, openai_stub
from tests.unit.agents_world import ASTRONOMY_FACT, BOTANY_FACT, QUESTION


def chat(tmp_path: Path, url: str, *lines: str) -> subprocess.CompletedProcess[str]:
    settings = ["embedder.backend=hashing", f"llm.base_url={url}", "llm.api_key=test", "llm.model=stub"]
    return subprocess.run(
        [sys.executable, "-m", "synthswarm", "--llm", "openai", "--data-dir", str(tmp_path / "data"),
         *[item for s in settings for item in ("--set", s)],
         "chat", "--agents", str(tmp_path / "swarm.toml"), "--thread", "t1"],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_chat_shows_provenance_answers_commands_and_keeps_its_thread(tmp_path: Path) -> None:
    # The two facts share an invented name, which spaCy's small model does not take for a person in
    # both; capitalised runs link them, and the synthesis's claim is what this test counts.
    (tmp_path / "swarm.toml").write_text(
        '[swarm]\nentities = "capitalised"\n\n'
        f'[[agents]]\nname = "botany"\ndomain = "plants"\ndocuments = ["{BOTANY_FACT}"]\n\n'
        f'[[agents]]\nname = "astronomy"\ndomain = "stars"\ndocuments = ["{ASTRONOMY_FACT}"]\n'
    )
    with openai_stub() as server:
        url = base_url(server)
        first = chat(
            tmp_path, url, QUESTION, "/packets", "/agents", "/trace", "/bogus", "/quit", "never asked"
        )
        assert first.returncode == 0, first.stderr[-3000:]
        out = first.stdout
        assert "asking " in out  # the routing, as it happens
        assert "swarm: echo:" in out  # the stub model echoes its prompt
        assert "routing messages" in out
        assert "botany" in out
        assert "astronomy" in out  # /agents
        assert '"type": "route"' in out  # /trace
        assert "unknown command /bogus" in out
        assert "never asked" not in out  # /quit ended the session
        asked = [body for path, body in server.requests if path.endswith("/chat/completions")]
        # the model wrote the claim of the synthesis linking the two findings (structured output;
        # the stub echoes, so the deterministic claim stood in) and answered the one question
        claims = [body for body in asked if "response_format" in body]
        assert 1 <= len(claims) <= 2  # each agent may link the pair before the other's synthesis arrives
        assert all(body["response_format"]["type"] == "json_schema" for body in claims)
        assert len(asked) - len(claims) == 1

        again = chat(tmp_path, url, "/reset")
        assert again.returncode == 0, again.stderr[-3000:]
        assert "thread 't1', 2 earlier messages" in again.stdout
        assert f"you: {QUESTION[:40]}" in again.stdout  # the console wraps long lines
        assert "thread t1 forgotten" in again.stdout

        fresh = chat(tmp_path, url)  # end of input ends the session too
        assert fresh.returncode == 0, fresh.stderr[-3000:]
        assert "earlier messages" not in fresh.stdout
