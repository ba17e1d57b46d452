"""The address a node advertises to peers."""

from __future__ import annotations

from synthswarm.swarm.dht.transport import advertised_address


def test_a_given_address_wins_and_takes_the_bound_port_for_a_star() -> None:
    assert advertised_address("tcp://0.0.0.0:5555", "tcp://node7.example:*") == "tcp://node7.example:5555"
    assert advertised_address("tcp://127.0.0.1:5555", "tcp://10.1.2.3:7400") == "tcp://10.1.2.3:7400"
    assert advertised_address("tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5555"
