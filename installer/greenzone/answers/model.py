"""The answer file: the single description of one appliance install.

The TUI edits it, the unattended mode reads it, `health` and `sync` read it later. Every field has a
docstring because that text becomes the JSON Schema description (editor completion), the comment in
`greenzone answers example`, and the "expected" part of validation errors.

Only shapes and single values are checked here; rules that relate several fields live in `rules.py`
so that every violation can be reported at once with its own key path.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*(?::[A-Za-z0-9._-]+)?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label: use lowercase letters, digits and '-', "
            "1 to 63 characters, starting and ending with a letter or digit"
        )
    return value


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a valid host name: dot-separated lowercase labels of letters, digits and '-'"
        )
    if labels[-1].isdigit():
        # RFC 1123 2.1 / RFC 3696 2: a top-level label is never all digits, so `10.0.0.256` or
        # `192.168.1.1.5` is a mistyped IP address, not a host name.
        raise ValueError(
            f"{value!r} is not an IP address (four numbers 0-255, e.g. 192.168.10.5) "
            "and not a host name (a host name does not end in a number)"
        )
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (e.g. 192.168.10.5)") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        if "host bits set" in str(exc):
            fixed = ipaddress.ip_network(value, strict=False)
            raise ValueError(f"{value!r} has host bits set; the network is {fixed}") from None
        raise ValueError(f"{value!r} is not a CIDR range (e.g. 10.42.0.0/16)") from None


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        # Never the value itself: what is typed here by mistake is usually the secret.
        raise ValueError(
            "this is not an environment variable name (letters, digits and '_', e.g. HARBOR_ADMIN_PASSWORD); "
            "write the variable's name here, not the secret it holds"
        )
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 64Gi, 512Mi)")
    return value


def _address(value: str) -> str:
    if value == "local":
        return value
    try:
        return _ip(value)
    except ValueError:
        try:
            return _hostname(value)
        except ValueError as error:
            if "does not end in a number" in str(error):
                raise
            raise ValueError(f"{value!r} is neither `local`, an IP address nor a host name") from None


def _model_name(value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a model name: an Ollama tag like `gemma3:4b` "
            "or a Hugging Face repository like `google/gemma-3-4b-it`"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]
IpAddress = Annotated[str, AfterValidator(_ip)]
Cidr = Annotated[str, AfterValidator(_cidr)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Quantity = Annotated[str, AfterValidator(_quantity)]
NodeAddress = Annotated[str, AfterValidator(_address)]
ModelName = Annotated[str, AfterValidator(_model_name)]
# Numbers are strict: YAML 1.1 reads `on`/`yes` as true, which a lax int would take as 1, and a quoted
# "443" is text in the YAML and in the JSON schema editors check against; both are refused with advice.
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]


class Section(BaseModel):
    """Base of every section: unknown keys are errors, and field docstrings become descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Appliance(Section):
    name: DnsLabel = Field(examples=["st-mary-radiology"])
    """Name of this appliance; used in dashboards, reports and the cloud copy's release names."""

    description: str = ""
    """Free text for the people who look after the box (site, owner, purpose)."""


class Ssh(Section):
    user: str = "root"
    """User Ansible logs in as; needs passwordless sudo when it is not root."""

    port: Port = 22
    """SSH port of the node."""

    key_file: Path | None = None
    """Private key for this node; empty means the SSH agent or the user's default keys."""


class Node(Section):
    name: DnsLabel | None = None
    """Kubernetes node name; empty means the machine's own host name."""

    address: NodeAddress = "local"
    """`local` for the machine running greenzone, else the IP or host name Ansible reaches over SSH."""

    ip: IpAddress | None = None
    """The node's IP on the cluster network (k3s `node-ip`); needed on hosts with several network
    cards. Empty means `network.advertise_ip` on the first server, else the address of the interface
    with the default route."""

    role: Literal["server", "agent"] = "server"
    """`server` runs the control plane (1 or 3+ for HA with embedded etcd); `agent` only runs workloads."""

    ssh: Ssh = Ssh()
    """How to reach a remote node; ignored for the local one."""


class Network(Section):
    hostname: Hostname = Field(examples=["ai.st-mary.local"])
    """DNS name users type to reach the appliance (chat UI, API); goes into the TLS certificate."""

    advertise_ip: IpAddress | None = None
    """Address the cluster announces; empty means the address of the interface with the default route."""

    pod_cidr: Cidr = "10.42.0.0/16"
    """Range for pod addresses; must not overlap the site network or `service_cidr`."""

    service_cidr: Cidr = "10.43.0.0/16"
    """Range for service addresses; must not overlap the site network or `pod_cidr`."""


class Bundle(Section):
    path: Path = Field(examples=["/media/usb/greenzone-bundle"])
    """Directory of the air-gap bundle (the one holding `bundle.yaml`)."""

    public_key: Path = Field(examples=["/media/usb/greenzone-bundle.pub"])
    """Vendor's ed25519 public key; the bundle's signature must verify against it before install."""


class Tls(Section):
    mode: Literal["self-signed", "provided"] = "self-signed"
    """`self-signed`: greenzone creates a CA and certificate; `provided`: use `cert_file` and `key_file`."""

    cert_file: Path | None = None
    """PEM certificate (with chain) for the registry host name; only with `mode: provided`."""

    key_file: Path | None = None
    """PEM private key of `cert_file`; only with `mode: provided`. Keep it mode 0600."""


class Registry(Section):
    hostname: Hostname | None = None
    """Host name of the Harbor registry; empty means `registry.<network.hostname>`."""

    port: Port = 443
    """HTTPS port Harbor is reached on."""

    tls: Tls = Tls()
    """Certificate of the registry."""

    admin_password_file: Path | None = None
    """File holding Harbor's admin password (mode 0600). Leave both sources empty to have one generated."""

    admin_password_env: EnvName | None = None
    """Environment variable holding Harbor's admin password, as an alternative to the file."""


class Gpu(Section):
    driver: Literal["preinstalled", "operator"] = "preinstalled"
    """`preinstalled` (works offline everywhere): the host's NVIDIA driver is used. `operator`: the GPU
    operator runs the driver from precompiled images, which the bundle must carry for each GPU node's
    running kernel (Ubuntu only); its ordinary driver container would download kernel packages."""

    mig_strategy: Literal["none", "single", "mixed"] = "none"
    """Multi-Instance GPU exposure: `none`, `single` (one MIG profile per GPU) or `mixed`."""

    time_slicing_replicas: int = Field(1, ge=1, le=48, strict=True)
    """How many pods may share each GPU by time-slicing; 1 disables sharing."""

    expected_count: int | None = Field(None, ge=0, le=64, strict=True)
    """How many GPUs this appliance must have; checked by preflight and against department quotas."""


class Inference(Section):
    engine: Literal["ollama", "vllm"] = "ollama"
    """Engine serving the models: `ollama` (many models, simple) or `vllm` (throughput, OpenAI API)."""

    models: list[ModelName] = Field(default_factory=lambda: ["gemma3:4b"], min_length=1)
    """Models to serve, by the names listed in the bundle (`greenzone bundle inspect`)."""

    replicas: int = Field(1, ge=1, le=64, strict=True)
    """Copies of each model server, for throughput and availability."""

    gpus_per_replica: int = Field(1, ge=0, le=16, strict=True)
    """GPUs each replica gets; 0 runs Ollama on CPU; vLLM needs at least 1 (tensor parallel size)."""

    chat_ui: bool = True
    """Also deploy a browser chat UI pointed at the engine."""


class Department(Section):
    name: DnsLabel = Field(examples=["legal"])
    """Short name of the department; used in dashboards and the default namespace."""

    namespace: DnsLabel | None = None
    """Kubernetes namespace of the department; empty means `<name>-dept`."""

    gpu_quota: int = Field(0, ge=0, le=512, strict=True)
    """Most GPUs the department's namespace may request at once."""

    memory_quota: Quantity = "32Gi"
    """Most memory the department's namespace may request at once (Kubernetes quantity)."""

    requests_per_minute: int | None = Field(None, ge=1, le=1_000_000, strict=True)
    """Most inference requests the department's key may make in a minute (the gateway answers 429 beyond);
    empty: no limit."""

    tokens_per_minute: int | None = Field(None, ge=1, le=1_000_000_000, strict=True)
    """Most prompt + completion tokens the department's key may use in a minute (429 beyond); empty: no limit."""

    @property
    def namespace_name(self) -> str:
        return self.namespace or f"{self.name}-dept"


class GreenZone(Section):
    egress: Literal["deny", "allow-list"] = "deny"
    """`deny`: inference and department namespaces reach nothing outside the cluster but DNS;
    `allow-list`: only the CIDRs in `allow_cidrs` besides."""

    allow_cidrs: list[Cidr] = Field(default_factory=list)
    """Networks reachable from the green zone with `egress: allow-list` (e.g. the site's document store)."""


class Monitoring(Section):
    enabled: bool = True
    """Deploy GPU and usage dashboards (Prometheus, Grafana, DCGM exporter)."""

    public_api_price_per_1k_tokens: float = Field(0.002, ge=0, le=1000, strict=True)
    """Price of a public AI API per 1,000 tokens, in the site's currency; feeds the "cost saved" panel
    for whichever of the two prices below is empty."""

    public_api_input_price_per_1k_tokens: float | None = Field(None, ge=0, le=1000, strict=True)
    """Price per 1,000 prompt (input) tokens; public APIs price input and output differently."""

    public_api_output_price_per_1k_tokens: float | None = Field(None, ge=0, le=1000, strict=True)
    """Price per 1,000 completion (output) tokens."""

    @property
    def input_price(self) -> float:
        return (
            self.public_api_price_per_1k_tokens
            if self.public_api_input_price_per_1k_tokens is None
            else self.public_api_input_price_per_1k_tokens
        )

    @property
    def output_price(self) -> float:
        return (
            self.public_api_price_per_1k_tokens
            if self.public_api_output_price_per_1k_tokens is None
            else self.public_api_output_price_per_1k_tokens
        )


class Cloud(Section):
    kubeconfig: Path = Field(examples=["~/.kube/config"])
    """Kubeconfig file with a context for the cloud copy's cluster."""

    context: str = Field(min_length=1, examples=["eks-greenzone-test"])
    """Name of the kubeconfig context to install into."""

    registry: str = Field(min_length=1, examples=["123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenzone"])
    """OCI registry (host[:port][/path]) that receives the charts and images."""

    credentials_file: Path | None = None
    """Docker-style `config.json` with credentials for `registry` (mode 0600)."""

    ca_file: Path | None = None
    """CA certificate that signed the registry's TLS certificate, when it is not publicly trusted."""

    values_overlay: Path | None = None
    """YAML of `<release>: {values}` merged over the on-prem values for cloud differences (storage class,
    GPU node selectors, no hostPath); parity does not count the differences it declares."""

    inference_url: str | None = Field(default=None, examples=["https://ai.greenzone-test.example.com"])
    """Where the cloud copy's inference API answers (OpenAI-compatible), for `greenzone parity`'s probes:
    its gateway (`https://HOST`, which serves `/v1`)."""

    inference_key_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", examples=["CLOUD_GATEWAY_KEY"]
    )
    """Environment variable holding a key of the cloud copy's gateway, which the probes send as a
    department's application would; the key itself never goes into a file."""


class Answers(Section):
    """One appliance install."""

    version: Literal[1] = 1
    """Format version of this answer file."""

    appliance: Appliance
    """What this appliance is called."""

    nodes: list[Node] = Field(default_factory=lambda: [Node()], min_length=1)
    """Machines of the cluster; the default is this machine alone, as a server."""

    network: Network
    """Names and address ranges."""

    bundle: Bundle
    """Where the air-gap bundle and its public key are."""

    registry: Registry = Registry()
    """The Harbor registry that serves images inside the appliance."""

    gpu: Gpu = Gpu()
    """How GPUs are driven and shared."""

    inference: Inference = Inference()
    """What serves the models."""

    departments: list[Department] = Field(default_factory=list)
    """Departments with their own namespace, quotas and access role."""

    green_zone: GreenZone = GreenZone()
    """Network isolation of the inference and department namespaces."""

    monitoring: Monitoring = Monitoring()
    """Dashboards and metrics."""

    cloud: Cloud | None = None
    """Optional cloud copy of this appliance for vendor testing (`greenzone sync`, `greenzone parity`)."""

    def registry_hostname(self) -> str:
        return self.registry.hostname or f"registry.{self.network.hostname}"
