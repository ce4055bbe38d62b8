"""The processes that make up govperf, in start order (gateway last)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """One service process: its name, ASGI app module, dev port and Postgres schema."""

    name: str
    module: str  # module exposing `create_app()` (an uvicorn factory)
    port: int
    schema: str
    # Further uvicorn arguments the service needs wherever it runs (the gateway's HTTP protocol).
    server_args: tuple[str, ...] = ()

    @property
    def app_factory(self) -> str:
        """uvicorn import string, used with `--factory`."""
        return f"{self.module}:create_app"


GATEWAY_PORT = 8000

# The gateway last: it routes to the others, which fetch its JWKS only when a token arrives.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("indicator", "services.indicator_svc.app", 8001, "indicator"),
    ServiceSpec("appraisal", "services.appraisal_svc.app", 8002, "appraisal"),
    ServiceSpec("survey", "services.survey_svc.app", 8003, "survey"),
    ServiceSpec("feedback", "services.feedback_svc.app", 8004, "feedback"),
    ServiceSpec(
        "gateway",
        "services.gateway.app",
        GATEWAY_PORT,
        "identity",
        server_args=("--http", "services.gateway.server:HeaderTimeoutProtocol"),
    ),
)


def get_service(name: str) -> ServiceSpec:
    """The spec named `name`; KeyError lists the known names."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")
