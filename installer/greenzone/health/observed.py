"""What the health readers saw, as plain data: the only thing the pure verdicts look at.

A reader never raises for a dead layer; it records what failed (`error`) and how long it waited, so
that "refused", "timed out after 2.0 s" and "answered HTTP 503" reach the operator as they are.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from greenzone.preflight.facts_model import DiskFacts, NvmlFacts

Obj = Mapping[str, Any]
"""A Kubernetes object as the API serves it (camelCase JSON, as `kubectl get -o json` shows)."""


@dataclass(frozen=True)
class Http:
    """One HTTP exchange: the status and parsed body, or why no answer came."""

    url: str
    status: int | None = None
    seconds: float = 0.0
    body: Any = None
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def outcome(self) -> str:
        """`HTTP 200 in 0.02 s`, or the reason nothing came back."""
        if self.status is None:
            return self.error or "no answer"
        return f"HTTP {self.status} in {self.seconds:.2f} s"


@dataclass(frozen=True)
class XidEvent:
    """One `NVRM: Xid` line of the kernel log: the driver's report of a GPU error."""

    pci: str
    code: int
    text: str


@dataclass(frozen=True)
class HostView:
    nvml: NvmlFacts
    pci_devices: tuple[str, ...] = ()
    xids: tuple[XidEvent, ...] | None = None
    """None when the kernel log could not be read (the reason is in `xid_error`)."""
    xid_error: str = ""
    disks: tuple[DiskFacts, ...] = ()


@dataclass(frozen=True)
class ClusterView:
    """The objects health judges, read once. `error` set means the API did not answer at all."""

    server: str
    error: str = ""
    seconds: float = 0.0
    version: str = ""
    nodes: tuple[Obj, ...] = ()
    namespaces: frozenset[str] = frozenset()
    pods: Mapping[str, tuple[Obj, ...]] = field(default_factory=dict)
    network_policies: Mapping[str, tuple[Obj, ...]] = field(default_factory=dict)
    services: tuple[Obj, ...] = ()
    cluster_policies: tuple[Obj, ...] | None = None
    """The GPU operator's ClusterPolicy objects; None when its CRD is not installed."""
    problems: tuple[str, ...] = ()
    """Reads that failed after the API answered (`what: why`), e.g. a missing permission."""


@dataclass(frozen=True)
class ImagePresence:
    ref: str
    repository: str
    digest: str
    present: bool | None
    error: str = ""


@dataclass(frozen=True)
class RegistryView:
    url: str
    api: Http
    harbor_health: Http
    projects: Mapping[str, bool | None] = field(default_factory=dict)
    images: tuple[ImagePresence, ...] = ()


@dataclass(frozen=True)
class ModelAnswer:
    """A one-token request to one model through one API."""

    model: str
    api: Literal["ollama", "openai"]
    """`ollama`: Ollama's own /api/generate; `openai`: the OpenAI-compatible /v1 API."""
    http: Http
    text: str | None = None
    """The model's token; None when the answer was not in the API's shape."""


@dataclass(frozen=True)
class GatewayView:
    """The inference gateway: alive, refusing a made-up key, and accepting each department's key."""

    url: str
    alive: Http
    stranger: Http
    """GET /v1/models with a key nobody has: must be refused."""
    keys: tuple[tuple[str, Http | None], ...] = ()
    """Per department: GET /v1/models with its key; None when the credentials file has no key for it."""
    keys_error: str = ""
    """Why the credentials file (which holds the keys) could not be read; then no key is tried."""


@dataclass(frozen=True)
class InferenceView:
    endpoints: Mapping[str, str] = field(default_factory=dict)
    """Base URL per model (vLLM serves each model from its own Service, Ollama all from one; the
    gateway's for every model when there is one)."""
    answers: tuple[ModelAnswer, ...] = ()
    chat_ui: Http | None = None
    error: str = ""
    gateway: GatewayView | None = None


@dataclass(frozen=True)
class CertView:
    name: str
    where: str
    not_after: datetime.datetime | None = None
    subject: str = ""
    error: str = ""
