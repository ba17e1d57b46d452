"""Per-peer round-trip estimates and failure back-off.

Timeouts follow TCP's retransmission timer (RFC 6298): ``srtt + 4 * rttvar`` from measured round
trips, clamped to a floor and a ceiling, so a fast loopback peer times out in milliseconds and a
slow WAN peer is given seconds. A peer that keeps failing is backed off exponentially: requests to it
fail fast until its back-off ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["PeerHealth", "RttEstimator"]


@dataclass
class RttEstimator:
    initial_timeout_s: float = 1.0
    min_timeout_s: float = 0.2
    max_timeout_s: float = 5.0
    srtt: float | None = None
    rttvar: float = 0.0

    def observe(self, rtt_s: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt_s, rtt_s / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt_s)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt_s

    def timeout(self) -> float:
        if self.srtt is None:
            return self.initial_timeout_s
        return min(self.max_timeout_s, max(self.min_timeout_s, self.srtt + 4 * self.rttvar))


@dataclass
class PeerHealth:
    """Round trips and failures of one peer."""

    rtt: RttEstimator = field(default_factory=RttEstimator)
    failures: int = 0
    backoff_until: float = 0.0

    def succeeded(self, rtt_s: float) -> None:
        self.rtt.observe(rtt_s)
        self.failures = 0
        self.backoff_until = 0.0

    def failed(self, base_s: float = 0.5, cap_s: float = 60.0, now: float | None = None) -> None:
        """Count a failure and back off exponentially from ``now`` (the caller's clock: the node's
        event loop's, so that a simulation in virtual time backs off in virtual seconds; default
        ``time.monotonic()``, which a real loop's clock is)."""
        self.failures += 1
        t = time.monotonic() if now is None else now
        self.backoff_until = t + min(cap_s, base_s * 2 ** (self.failures - 1))

    def heard_from(self) -> None:
        """The peer sent us a request, so it is alive: forget its failures (its RTT stays)."""
        self.failures = 0
        self.backoff_until = 0.0

    def backed_off(self, now: float | None = None) -> bool:
        """Whether the back-off of the last failure still runs at ``now`` (the clock ``failed`` got)."""
        return (time.monotonic() if now is None else now) < self.backoff_until
