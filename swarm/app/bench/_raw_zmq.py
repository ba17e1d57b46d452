"""Raw pyzmq, measured in the run that uses it: the round trip ``bench dht`` sets its CPU per RPC
against, and the message rate ``bench faults`` sets its soak against.

Both run in this process with plain blocking pyzmq, in batches after a warm-up, and report the
median batch. The round trip is given twice, as wall time and as process CPU (every thread, libzmq's
I/O thread included) per round trip. On this two-core machine shared with other jobs, the wall time
of a TCP round trip moved between 41 and 463 us from one batch of 200 to the next, and between 51.5
and 294 us from one 2,000-round run to the next within the hour (a blocking round trip waits twice
for a sleeping thread to be scheduled), while its CPU time stayed within 41 to 52 us. CPU per RPC is
CPU time, so it is set against the CPU figure.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import zmq

__all__ = ["RoundTrip", "message_rate", "round_trip"]


@dataclass(frozen=True)
class RoundTrip:
    """One ROUTER/DEALER round trip of a small message: wall time and process CPU, in microseconds."""

    wall_us: float
    cpu_us: float


def round_trip(
    transport: str = "tcp", *, rounds: int = 200, batches: int = 10, warmup: int = 100
) -> RoundTrip:
    """The median batch's mean round trip over ``transport`` (``tcp`` loopback or ``inproc``)."""
    with _Pair(transport) as (server, client):
        walls, cpus = [], []
        for batch in range(batches + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(warmup if batch == 0 else rounds):
                client.send(b"ping")
                server.send_multipart(server.recv_multipart())
                client.recv()
            if batch:  # the first is the warm-up
                walls.append((time.perf_counter() - wall) / rounds * 1e6)
                cpus.append((time.process_time() - cpu) / rounds * 1e6)
    return RoundTrip(round(statistics.median(walls), 1), round(statistics.median(cpus), 1))


def message_rate(
    transport: str = "inproc", *, size: int = 1024, messages: int = 1000, batches: int = 10
) -> float:
    """Messages of ``size`` bytes per second, one way from a DEALER to a ROUTER over ``transport``,
    sent without blocking a batch at a time and then all received: the median batch, wall time."""
    payload = b"x" * size
    with _Pair(transport, queue=messages) as (server, client):
        rates = []
        for batch in range(batches + 1):
            started = time.perf_counter()
            for _ in range(messages):
                client.send(payload, zmq.NOBLOCK)
            for _ in range(messages):
                server.recv_multipart()
            if batch:  # the first is the warm-up
                rates.append(messages / (time.perf_counter() - started))
    return round(statistics.median(rates), 1)


class _Pair:
    """A bound ROUTER and a DEALER connected to it, closed with their context on exit."""

    def __init__(self, transport: str, queue: int = 1000) -> None:
        self._ctx = zmq.Context()
        self.server, self.client = self._ctx.socket(zmq.ROUTER), self._ctx.socket(zmq.DEALER)
        for sock in (self.server, self.client):
            sock.setsockopt(zmq.SNDHWM, 2 * queue)
            sock.setsockopt(zmq.RCVHWM, 2 * queue)
        if transport == "inproc":
            self.server.bind(f"inproc://raw-{id(self):x}")
            self.client.connect(f"inproc://raw-{id(self):x}")
        else:
            port = self.server.bind_to_random_port("tcp://127.0.0.1")
            self.client.connect(f"tcp://127.0.0.1:{port}")

    def __enter__(self) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        return self.server, self.client

    def __exit__(self, *_: object) -> None:
        self.server.close(linger=0)
        self.client.close(linger=0)
        self._ctx.term()
