"""One probe's answer: what came back, how fast, and in a few words why it was not good."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

AppState = Literal["Healthy", "Unhealthy"]


# slots: trackers keep a few answers for each of tens of thousands of instances.
@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    at: datetime  # when the answer was known
    ok: bool
    status_code: int | None = None  # HTTP status; None for tcp and when no response came
    latency_ms: float = 0.0
    error: str | None = None  # short: "connection refused", "timeout after 2.0 s", "HTTP 503"
    # Rich health only: what the application said about itself. None when it said nothing we
    # can read (no response, a status other than 200, a body without a valid state).
    app_state: AppState | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.at.isoformat(),
            "ok": self.ok,
            "statusCode": self.status_code,
            "latencyMs": round(self.latency_ms, 3),
            "error": self.error,
            "appState": self.app_state,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeAnswer:
        return cls(at=datetime.fromisoformat(data["time"]), ok=bool(data["ok"]), status_code=data.get("statusCode"),
                   latency_ms=float(data.get("latencyMs") or 0.0), error=data.get("error"), app_state=data.get("appState"))
