"""Typed configuration: one :class:`Config` built from defaults, a TOML file, the environment and flags.

Precedence, lowest first:

1. the defaults below;
2. a TOML file (``--config PATH``, or ``SYNTHSWARM_CONFIG``, or ``./synthswarm.toml`` if present)::

       data_dir = "/var/lib/synthswarm"
       [llm]
       backend = "openai"
       model = "gpt-4o-mini"
       [swarm]
       router = "dht"
       [[agents]]          # read by synthswarm.swarm.app.runtime.load_agents
       name = "botany"
       domain = "plants and the people who found them"
       documents = ["The orchid Halvia rubra was discovered by Ilse Korrin."]

   then the agents file a command is given (``chat``, ``serve`` or ``mcp`` with ``--agents``): its
   own tables (``[swarm]``, ``[llm]``...) are settings too, over the config file's;
3. ``SYNTHSWARM_<KEY>`` environment variables, sections joined by a double underscore:
   ``SYNTHSWARM_DATA_DIR``, ``SYNTHSWARM_LLM__MAX_TOKENS``;
4. command-line flags (``--set llm.max_tokens=64`` and the named flags of ``synthswarm``).

Every value is checked as it is read; a bad one raises :class:`~synthswarm.swarm.errors.ConfigError` naming
the dotted key and where the value came from. Finally, settings of an ``openai`` backend left empty are taken
from ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and (for the LLM) ``OPENAI_MODEL``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from synthswarm.swarm.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "Config",
    "EmbedderConfig",
    "LLMConfig",
    "SwarmConfig",
    "describe",
    "load_config",
]

ENV_PREFIX = "SYNTHSWARM_"
CONFIG_ENV = "SYNTHSWARM_CONFIG"
DEFAULT_CONFIG_FILE = Path("synthswarm.toml")

_C = TypeVar("_C")

LLMBackend = Literal["local", "openai", "replay"]
EmbedderBackend = Literal["local", "openai", "hashing"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
RouterName = Literal["dht", "isolated", "broadcast", "hub", "gossip"]
TransportName = Literal["inproc", "tcp"]
TraceMode = Literal["off", "console", "otlp"]
#: Where synthesis finds the entities it links findings on (synthswarm.agents.entities.ENTITY_SOURCES).
EntitySource = Literal["spacy", "capitalised"]

#: The top-level TOML array of agent tables; read by :func:`synthswarm.swarm.app.runtime.load_agents`, not
# here.
AGENTS_KEY = "agents"


def _doc(text: str, *, minimum: float | None = None, secret: bool = False) -> dict[str, Any]:
    return {"doc": text, "min": minimum, "secret": secret}


@dataclass(frozen=True)
class LLMConfig:
    """Which chat model agents use, and how it is called."""

    backend: LLMBackend = field(
        default="local",
        metadata=_doc(
            "`local`: transformers in this process; `openai`: any OpenAI-compatible server; "
            "`replay`: answers from the `llm.recording` file, offline."
        ),
    )
    model: str = field(
        default="",
        metadata=_doc(
            "local: a GGUF file or a transformers model folder (empty: the embedded SmolLM2-135M-Instruct); "
            "openai: the model name (default from OPENAI_MODEL, else gpt-4o-mini); "
            "replay: the name it answers as (empty: the recorded model's)."
        ),
    )
    base_url: str = field(
        default="", metadata=_doc("openai: the server's base URL (default from OPENAI_BASE_URL).")
    )
    api_key: str = field(
        default="", metadata=_doc("openai: the API key (default from OPENAI_API_KEY).", secret=True)
    )
    max_tokens: int = field(default=256, metadata=_doc("Most tokens one completion may generate.", minimum=1))
    temperature: float = field(
        default=0.0, metadata=_doc("Sampling temperature; 0 means greedy decoding.", minimum=0)
    )
    timeout_s: float = field(
        default=60.0, metadata=_doc("openai: seconds before one request attempt is abandoned.", minimum=0.01)
    )
    max_retries: int = field(
        default=2, metadata=_doc("openai: retries after a failed attempt, with back-off.", minimum=0)
    )
    cache_dir: str = field(
        default="",
        metadata=_doc(
            "local: where a GGUF converted to safetensors is kept, so later loads take under a second "
            "(empty: ~/.cache/synthswarm/models; `off`: convert on every load)."
        ),
    )
    batch_size: int = field(
        default=8, metadata=_doc("local: most concurrent requests generated in one padded batch.", minimum=1)
    )
    batch_wait_ms: float = field(
        default=15.0,
        metadata=_doc("local: how long the first request waits for others to join its batch.", minimum=0),
    )
    recording: str = field(
        default="",
        metadata=_doc(
            "A JSON Lines file of model calls: with backend local or openai, every call and its reply is "
            "appended there; with backend `replay`, the model answers from it (empty: no recording)."
        ),
    )


@dataclass(frozen=True)
class EmbedderConfig:
    """Which embedding model turns text into vectors."""

    backend: EmbedderBackend = field(
        default="local",
        metadata=_doc(
            "`local`: sentence-transformers in this process; `openai`: an OpenAI-compatible "
            "embeddings endpoint; `hashing`: deterministic feature hashing (tests, no model)."
        ),
    )
    model: str = field(
        default="",
        metadata=_doc(
            "local: a sentence-transformers model folder (empty: the bundled all-MiniLM-L6-v2); "
            "openai: the model name (default text-embedding-3-small)."
        ),
    )
    base_url: str = field(default="", metadata=_doc("openai: the server's base URL."))
    api_key: str = field(default="", metadata=_doc("openai: the API key.", secret=True))
    batch_size: int = field(default=64, metadata=_doc("Texts embedded per model call.", minimum=1))
    dims: int = field(default=384, metadata=_doc("hashing: vector dimensions.", minimum=8))


@dataclass(frozen=True)
class SwarmConfig:
    """How a :class:`~synthswarm.swarm.app.runtime.Swarm` is wired: its router, transport and dispatcher."""

    router: RouterName = field(
        default="dht",
        metadata=_doc("How packets move: dht, or a baseline: isolated, broadcast, hub, gossip."),
    )
    transport: TransportName = field(
        default="inproc",
        metadata=_doc("`inproc`: nodes in this process only; `tcp`: loopback or LAN ports others can join."),
    )
    host: str = field(
        default="127.0.0.1", metadata=_doc("tcp: the address nodes bind (ports are ephemeral).")
    )
    bootstrap: str = field(
        default="",
        metadata=_doc("Comma-separated node addresses (tcp://host:port) to join an existing swarm through."),
    )
    advertise: str = field(
        default="",
        metadata=_doc(
            "tcp: the host other machines reach these nodes at (default: host; for 0.0.0.0, this "
            "machine's address on its default route)."
        ),
    )
    secure: bool = field(
        default=False,
        metadata=_doc("tcp: CurveZMQ on every node's connections; every node of a swarm must agree."),
    )
    m: int = field(
        default=4, metadata=_doc("dht and hub: most agents one packet is delivered to.", minimum=1)
    )
    gossip_budget: int = field(
        default=12, metadata=_doc("gossip: forwards per packet (match dht's messages to compare).", minimum=1)
    )
    fan_out: int = field(default=1, metadata=_doc("Specialists the dispatcher asks per question.", minimum=1))
    ask_swarm: bool = field(
        default=True, metadata=_doc("Whether an asked specialist sends a query packet to the swarm.")
    )
    share_knowledge: bool = field(
        default=True, metadata=_doc("Distill and publish every agent's documents when the swarm starts.")
    )
    inbox_limit: int = field(
        default=1000, metadata=_doc("Packets an agent's inbox keeps (oldest evicted first).", minimum=1)
    )
    entities: EntitySource = field(
        default="spacy",
        metadata=_doc(
            "Where synthesis finds the entities it links findings on: `spacy` (its small English NER, "
            "as the eval; loaded once per swarm, at the first link; capitalised runs, with a warning, "
            "where spaCy or its model is absent) or `capitalised` (no model)."
        ),
    )


@dataclass(frozen=True)
class Config:
    """Everything a synthswarm process needs to know before it starts."""

    data_dir: Path = field(
        default=Path(".synthswarm"),
        metadata=_doc("Where agents keep memory, keys, DHT state and model caches."),
    )
    log_level: LogLevel = field(default="INFO", metadata=_doc("Logging threshold."))
    trace: TraceMode = field(
        default="off",
        metadata=_doc(
            "OpenTelemetry spans: `off`; `console`: one JSON line per span on stderr; `otlp`: to the "
            "OTEL_EXPORTER_OTLP_* endpoint (synthswarm.swarm.telemetry)."
        ),
    )
    llm: LLMConfig = field(default_factory=LLMConfig, metadata=_doc("Chat model settings."))
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig, metadata=_doc("Embedder settings."))
    swarm: SwarmConfig = field(default_factory=SwarmConfig, metadata=_doc("Swarm wiring."))


def load_config(
    *,
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    more_files: Sequence[Path] = (),
) -> Config:
    """Build a :class:`Config` from every source, in the order the module docstring gives.
    ``more_files`` are read after the config file, each over the one before (an agents file's own
    ``[swarm]`` table, say), and under the environment and ``overrides``."""
    environ = os.environ if env is None else env
    values: dict[str, tuple[object, str]] = {}
    path = file or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    for source in [*([path] if path is not None else []), *more_files]:
        values.update(_read_toml(source))
    for name, raw in environ.items():
        if name.startswith(ENV_PREFIX) and name != CONFIG_ENV:
            key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            values[key] = (raw, f"env {name}")
    for key, raw in (overrides or {}).items():
        values[key] = (raw, "command line")
    config = _build(Config, "", values)
    return _with_openai_env(config, environ)


def describe(config: Config) -> Iterator[tuple[str, str, str]]:
    """(dotted key, current value, help text) for every setting; secrets are masked."""
    yield from _describe(config, "")


_OPENAI_ENV = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY", "model": "OPENAI_MODEL"}


def _with_openai_env(config: Config, environ: Mapping[str, str]) -> Config:
    """Fill empty settings of the OpenAI-compatible backends from the usual ``OPENAI_*`` variables."""

    def fill(section: LLMConfig | EmbedderConfig, names: tuple[str, ...]) -> Any:
        if section.backend != "openai":
            return section
        found = {
            n: environ[_OPENAI_ENV[n]]
            for n in names
            if not getattr(section, n) and environ.get(_OPENAI_ENV[n])
        }
        return dataclasses.replace(section, **found)  # type: ignore[arg-type]

    return dataclasses.replace(
        config,
        llm=fill(config.llm, ("base_url", "api_key", "model")),
        embedder=fill(config.embedder, ("base_url", "api_key")),
    )


def _read_toml(path: Path) -> dict[str, tuple[object, str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from exc
    flat: dict[str, tuple[object, str]] = {}

    def walk(prefix: str, table: Mapping[str, object]) -> None:
        for name, value in table.items():
            key = f"{prefix}{name}"
            if isinstance(value, dict):
                walk(f"{key}.", value)
            else:
                flat[key] = (value, f"file {path}")

    walk("", {k: v for k, v in data.items() if k != AGENTS_KEY})
    return flat


def _build(cls: type[_C], prefix: str, values: dict[str, tuple[object, str]]) -> _C:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, (_, source) in values.items():
        if key.startswith(prefix) and key[len(prefix) :].split(".")[0] not in known:
            raise ConfigError(key, "unknown setting", source=source)
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = prefix + f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, key + ".", values)  # type: ignore[arg-type]
        elif key in values:
            raw, source = values[key]
            kwargs[f.name] = _coerce(key, raw, hint, f.metadata, source)
    return cls(**kwargs)


def _coerce(key: str, raw: object, hint: object, meta: Mapping[str, Any], source: str) -> object:
    def fail(why: str) -> ConfigError:
        return ConfigError(key, f"{why}, got {raw!r}", source=source)

    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        text = str(raw).upper() if key == "log_level" else str(raw)
        if text not in choices:
            raise fail(f"expected one of {', '.join(choices)}")
        return text
    if hint is bool:
        return _to_bool(raw, fail)
    if hint is int or hint is float:
        value = _to_number(raw, hint, fail)
        minimum = meta.get("min")
        if minimum is not None and value < minimum:
            raise fail(f"must be at least {minimum}")
        return value
    if hint is Path:
        if not isinstance(raw, str) or not raw:
            raise fail("expected a path")
        return Path(raw).expanduser()
    if hint is str:
        if not isinstance(raw, str):
            raise fail("expected a string")
        return raw
    raise TypeError(f"config field {key} has an unsupported type {hint!r}")  # a bug in this module


def _to_bool(raw: object, fail: typing.Callable[[str], ConfigError]) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise fail("expected true or false")


def _to_number(
    raw: object, kind: type[int] | type[float], fail: typing.Callable[[str], ConfigError]
) -> float:
    if isinstance(raw, bool):
        raise fail(f"expected {'an integer' if kind is int else 'a number'}")
    try:
        value: float = kind(raw.strip() if isinstance(raw, str) else raw)  # type: ignore[arg-type,call-overload]
    except (TypeError, ValueError):
        raise fail(f"expected {'an integer' if kind is int else 'a number'}") from None
    if kind is int and isinstance(raw, float):
        raise fail("expected an integer")
    if not math.isfinite(value):
        raise fail("expected a finite number")
    return value


def _describe(obj: object, prefix: str) -> Iterator[tuple[str, str, str]]:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            yield from _describe(value, key + ".")
        else:
            shown = "***" if f.metadata.get("secret") and value else str(value)
            yield key, shown, f.metadata.get("doc", "")
