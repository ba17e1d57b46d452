"""A swarm spread over three processes: a bare `synthswarm node`, and two swarm processes with one
specialist each, all joined over TCP. The same works across hosts: give each process the address of
any node already in the swarm.

Run: python examples/swarm_processes.py
"""

import asyncio
import json
import subprocess
import sys

from synthswarm import LocalChat, LocalEmbedder, Swarm, SwarmConfig

AGENTS = {
    "maritime": ("Ships, captains and voyages.", ["Captain Mirela Dusk commanded the schooner Grey Heron."]),
    "cuisine": ("Spices, cargoes and markets.", ["On its last voyage the Grey Heron carried saffron."]),
}
QUESTION = "What did the ship commanded by Captain Mirela Dusk carry on its last voyage?"


def swarm_of(name: str, join: str) -> Swarm:
    """One specialist on a TCP node that joins the swarm through ``join``."""
    config = SwarmConfig(transport="tcp", bootstrap=join)
    swarm = Swarm(chat=LocalChat.from_path(), embedder=LocalEmbedder(), config=config)
    domain, documents = AGENTS[name]
    swarm.add_specialist(name, domain, documents=documents)
    return swarm


async def serve(name: str, join: str) -> None:
    """A process hosting one specialist until its parent closes our stdin."""
    async with swarm_of(name, join):
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)


async def ask(join: str) -> None:
    async with swarm_of("maritime", join) as swarm:
        answer = await swarm.ask(QUESTION)
    print("answer:", answer.text)
    for packet in answer.provenance["packets"]:
        print(f"  from another process, agent {packet['from']}: {packet['finding']}")


def main() -> None:
    if len(sys.argv) == 3:  # started by the parent below as: swarm_processes.py AGENT ADDRESS
        asyncio.run(serve(sys.argv[1], sys.argv[2]))
        return
    command = [sys.executable, "-m", "synthswarm", "node", "--listen", "tcp://127.0.0.1:*"]
    node = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert node.stdout is not None
    address = json.loads(node.stdout.readline())["address"]
    print("bare DHT node at", address)
    other = subprocess.Popen(
        [sys.executable, __file__, "cuisine", address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "ready"
        asyncio.run(ask(address))
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=60)
        node.terminate()
        node.wait(timeout=60)


if __name__ == "__main__":
    main()
