"""What to probe and how to judge it: one `ProbeSpec`, read from either health source Azure offers.

A scale set names its health signal in one of two ways (API.md 3.8, 3.9): a load-balancer probe
(`networkProfile.healthProbe` points at `loadBalancers/{lb}/probes/{probe}`), or the Application
Health extension in `extensionProfile`. Both reduce to the same thing here: a protocol, a port, a
path, a pace, and how many answers in a row it takes to change our mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Protocol = Literal["http", "https", "tcp"]
Source = Literal["loadBalancerProbe", "applicationHealthExtension"]

PROTOCOLS: frozenset[str] = frozenset({"http", "https", "tcp"})

# Microsoft.Network documents `intervalInSeconds` as "default 15, minimum 5" for load-balancer
# probes; the Application Health extension documents "default 5".
LB_DEFAULT_INTERVAL = 15
LB_DEFAULT_THRESHOLD = 2  # the classic "unhealthy threshold" of a load-balancer probe
EXTENSION_DEFAULT_INTERVAL = 5
EXTENSION_DEFAULT_PROBES = 1
MAX_GRACE_PERIOD = 7200  # Application Health v2: gracePeriod is at most two hours

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    protocol: Protocol
    port: int
    request_path: str | None = None  # None for tcp; "/" when an http(s) source gives none
    interval_seconds: int = LB_DEFAULT_INTERVAL
    # Consecutive answers of one kind it takes to flip the state, up and down alike.
    number_of_probes: int = LB_DEFAULT_THRESHOLD
    # Rich health (Application Health typeHandlerVersion 2.x): the body says Healthy/Unhealthy.
    rich: bool = False
    # How long a freshly (re)started instance may take to first answer healthy. Only rich health
    # has one (binary sources report UNKNOWN until they have enough answers instead).
    grace_period_seconds: int = 0
    source: Source = "loadBalancerProbe"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of http, https, tcp, not {self.protocol!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, not {self.port}")
        if self.protocol == "tcp" and self.request_path is not None:
            raise ValueError("a tcp probe takes no requestPath")
        if self.protocol != "tcp" and not (self.request_path or "").startswith("/"):
            raise ValueError(f"requestPath must start with '/', not {self.request_path!r}")
        if self.interval_seconds < 1:
            raise ValueError(f"intervalInSeconds must be at least 1, not {self.interval_seconds}")
        if self.number_of_probes < 1:
            raise ValueError(f"the number of probes must be at least 1, not {self.number_of_probes}")
        if not 0 <= self.grace_period_seconds <= MAX_GRACE_PERIOD:
            raise ValueError(
                f"gracePeriod must be between 0 and {MAX_GRACE_PERIOD} seconds, not {self.grace_period_seconds}"
            )

    @classmethod
    def from_load_balancer_probe(cls, probe: dict[str, Any]) -> ProbeSpec:
        """Read an ARM `Microsoft.Network/loadBalancers/probes` object.

        `probeThreshold` ("consecutive successful or failed probes to allow or deny traffic") is
        the newer field and means exactly what the tracker does, so it wins. The older
        `numberOfProbes` is the next best thing; with neither, 2 (the load balancer's classic
        default), because one lost answer should not mark an instance down during an upgrade.
        """
        props = probe.get("properties") or {}
        protocol = _protocol(props.get("protocol"))
        threshold = props.get("probeThreshold")
        if threshold is None:
            threshold = props.get("numberOfProbes")
        return cls(
            protocol=protocol,
            port=_int(props.get("port"), "port"),
            request_path=_request_path(protocol, props.get("requestPath")),
            interval_seconds=_int(props.get("intervalInSeconds", LB_DEFAULT_INTERVAL), "intervalInSeconds"),
            number_of_probes=_int(LB_DEFAULT_THRESHOLD if threshold is None else threshold, "probeThreshold"),
            source="loadBalancerProbe",
        )

    @classmethod
    def from_application_health_extension(
        cls, ext_settings: dict[str, Any], type_handler_version: str
    ) -> ProbeSpec:
        """Read the public settings of an ApplicationHealthLinux/Windows extension.

        typeHandlerVersion 1.x is binary health (HTTP 200 or a TCP connect means healthy); 2.x and
        later is rich health, with a grace period that defaults to intervalInSeconds x
        numberOfProbes (capped at 7200 s, the documented maximum).
        """
        settings = ext_settings or {}
        protocol = _protocol(settings.get("protocol"))
        port = settings.get("port")
        if port is None:
            if protocol == "tcp":
                raise ValueError("a tcp health probe needs a port")
            port = _DEFAULT_PORTS[protocol]
        interval = _int(settings.get("intervalInSeconds", EXTENSION_DEFAULT_INTERVAL), "intervalInSeconds")
        probes = _int(settings.get("numberOfProbes", EXTENSION_DEFAULT_PROBES), "numberOfProbes")
        rich = _major_version(type_handler_version) >= 2
        grace = 0
        if rich:
            grace_setting = settings.get("gracePeriod")
            grace = (
                min(interval * probes, MAX_GRACE_PERIOD)
                if grace_setting is None
                else _int(grace_setting, "gracePeriod")
            )
        return cls(
            protocol=protocol,
            port=_int(port, "port"),
            request_path=_request_path(protocol, settings.get("requestPath")),
            interval_seconds=interval,
            number_of_probes=probes,
            rich=rich,
            grace_period_seconds=grace,
            source="applicationHealthExtension",
        )

    def target(self, *, host: str | None = None) -> str:
        """Where the probe goes, for people: "127.3.0.5:8080/health", or "port 8080/health"."""
        path = self.request_path or ""
        if host is None:
            return f"port {self.port}{path}"
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"{host}:{self.port}{path}"


def _protocol(value: Any) -> Protocol:
    if not isinstance(value, str) or value.lower() not in PROTOCOLS:
        raise ValueError(f"protocol must be one of Http, Https, Tcp, not {value!r}")
    return value.lower()  # type: ignore[return-value]


def _request_path(protocol: str, value: Any) -> str | None:
    if protocol == "tcp":
        # The ARM layer refuses a path on a Tcp probe; here it is merely meaningless.
        return None
    if value is None or value == "":
        return "/"
    if not isinstance(value, str):
        raise ValueError(f"requestPath must be a string, not {value!r}")
    return value


def _int(value: Any, name: str) -> int:
    # Extension settings are free-form JSON, and templates often carry numbers as strings.
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{name} must be an integer, not {value!r}")


def _major_version(version: str) -> int:
    head = (version or "").strip().split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"typeHandlerVersion must look like 1.0 or 2.0, not {version!r}")
    return int(head)
