"""The project's exception tree.

Every error synthswarm raises on purpose derives from :class:`SynthswarmError`, so callers can catch
the whole family in one clause and let real bugs (``TypeError``, ``KeyError``...) surface::

    SynthswarmError
    ├── ConfigError                 a configuration value is missing or invalid (names the key)
    ├── ModelError                  a chat model or embedder failed
    │   ├── ModelNotFoundError      the model's files or package are not installed (names the fix)
    │   ├── ModelUnavailableError   a remote model server did not answer after bounded retries
    │   ├── ModelResponseError      a model answered with something unusable
    │   ├── PromptTooLongError      prompt plus completion do not fit the model's context
    │   ├── ScriptedChatError       a ScriptedChat ran out of replies or left replies unused
    │   └── UnrecordedCallError     a ReplayChat was asked a call its recording does not hold
    ├── PacketError                 untrusted packet bytes were rejected
    │   ├── PacketTooLargeError     over the hard size cap
    │   ├── PacketVersionError      an encoding version this build does not speak
    │   ├── PacketMalformedError    not a well-formed, canonical packet
    │   ├── PacketSignatureError    the signature does not verify against the origin's key (forged
    │   │                           or tampered)
    │   ├── PacketReplayError       a copy of a packet the receiver already admitted
    │   └── PacketExpiredError      past its ttl, or dated too far in the future
    ├── DHTError                    the DHT could not do what was asked
    │   ├── ProtocolError           an RPC frame was malformed, oversized or of an unknown version
    │   ├── RPCTimeoutError         a peer did not answer in time (after retries)
    │   ├── PeerBusyError           a peer refused a request because its abuse limits were reached
    │   ├── BootstrapError          none of the bootstrap addresses answered
    │   └── SubscriptionLostError   no rendezvous node kept a subscription (each refused it, or none
    │                               answered)
    ├── SimulationError             a simulated network could not go on (nothing left to run while
    │                               a result is awaited: a deadlock of virtual time)
    ├── MemoryStoreError            an agent's memory (Chroma) could not be opened, read or written
    ├── ToolError                   a tool was called with bad arguments or failed (the model sees why)
    ├── SwarmError                  a swarm was composed or used wrongly (names the agent or setting)
    │   ├── SpecialistsFailedError  every specialist the dispatcher asked this turn failed
    │   └── ApprovalRequired        a turn waits for a person's decision (in synthswarm.agents.approval)
    └── ApiError                    an HTTP API request was refused (OpenAI-shaped error, 4xx or 5xx)

Decoding untrusted bytes raises only :class:`PacketError` (packets) or :class:`ProtocolError` (RPC frames).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "BootstrapError",
    "ConfigError",
    "DHTError",
    "MemoryStoreError",
    "ModelError",
    "ModelNotFoundError",
    "ModelResponseError",
    "ModelUnavailableError",
    "PacketError",
    "PacketExpiredError",
    "PacketMalformedError",
    "PacketReplayError",
    "PacketSignatureError",
    "PacketTooLargeError",
    "PacketVersionError",
    "PeerBusyError",
    "PromptTooLongError",
    "ProtocolError",
    "RPCTimeoutError",
    "ScriptedChatError",
    "SimulationError",
    "SpecialistsFailedError",
    "SubscriptionLostError",
    "SwarmError",
    "SynthswarmError",
    "ToolError",
    "UnrecordedCallError",
]


class SynthswarmError(Exception):
    """Base class of every error synthswarm raises on purpose."""


class ConfigError(SynthswarmError):
    """A configuration value is missing or invalid.

    ``key`` is the dotted name of the setting (``llm.max_tokens``) and ``source`` says where the bad
    value came from (a file, an environment variable, a command-line flag).
    """

    def __init__(self, key: str, message: str, *, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"config {key}: {message}{where}")


class ModelError(SynthswarmError):
    """A chat model or an embedder failed."""


class ModelNotFoundError(ModelError):
    """The model's files or its package are not installed; the message names the command that fixes it."""


class ModelUnavailableError(ModelError):
    """A remote model server did not answer after the configured retries."""


class ModelResponseError(ModelError):
    """A model answered, but with something that cannot be used."""


class PromptTooLongError(ModelError):
    """The prompt plus the requested completion do not fit in the model's context window."""


class ScriptedChatError(ModelError):
    """A :class:`~synthswarm.agents.llm.ScriptedChat` ran out of replies, or was closed with replies left
    unused."""


class UnrecordedCallError(ModelError):
    """A :class:`~synthswarm.agents.llm.ReplayChat` was asked a call its recording does not hold; the
    message names the call (its key and last user message) and how to record it."""


class PacketError(SynthswarmError):
    """Packet bytes were rejected. Raised for every defect of untrusted input, and only this family."""


class PacketTooLargeError(PacketError):
    """The encoded packet exceeds the hard size cap."""


class PacketVersionError(PacketError):
    """The packet uses an encoding version this build does not understand."""


class PacketMalformedError(PacketError):
    """The bytes are not a well-formed, canonically encoded packet."""


class PacketSignatureError(PacketError):
    """The signature does not verify against the public key the packet carries."""


class PacketReplayError(PacketError):
    """A copy of a packet the receiver already admitted (a replay, or a duplicate on another path)."""


class PacketExpiredError(PacketError):
    """The packet is past its ttl, older than the receiver's replay window, or dated in the future."""


class DHTError(SynthswarmError):
    """The DHT could not do what was asked."""


class ProtocolError(DHTError):
    """An RPC frame was malformed, oversized or of an unknown protocol version. Raised by decoding only."""


class RPCTimeoutError(DHTError):
    """A peer did not answer an RPC within its timeout, after the configured retries."""


class PeerBusyError(DHTError):
    """A peer refused an application request: it, or this sender's share of it, was at its limit."""


class BootstrapError(DHTError):
    """None of the bootstrap addresses answered, so the node could not join a swarm."""


class SubscriptionLostError(DHTError):
    """No rendezvous node kept one of an agent's subscription records: every holder refused it (its
    store at a cap: ``refused`` says why) or none answered. The rows that did get stored stay."""

    def __init__(self, message: str, *, lost: int, refused: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lost, self.refused = lost, refused


class SimulationError(SynthswarmError):
    """A simulated network (:mod:`synthswarm.swarm.sim`) could not go on: nothing was ready and no
    timer was set while a result was still awaited, so virtual time could not move."""


class MemoryStoreError(SynthswarmError):
    """An agent's memory could not be opened, read or written."""


class ToolError(SynthswarmError):
    """A tool was called with bad arguments, or failed. Agents hand the message back to the model."""


class SwarmError(SynthswarmError):
    """A swarm was composed or used wrongly: a duplicate agent name, an unknown router, not started."""


class SpecialistsFailedError(SwarmError):
    """Every specialist the dispatcher asked this turn failed, after its retries: there is nothing to
    answer with. (One that fails beside others that answer is reported in the provenance instead.)"""


class ApiError(SynthswarmError):
    """A request to the HTTP API was refused: answered with ``status`` and OpenAI's error object
    (``message``, ``type``, ``param``, ``code``)."""

    def __init__(self, status: int, message: str, *, kind: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
