"""GET /api/health: liveness plus a configuration check that never reveals a secret.

Anonymous, unlike every other route: a liveness probe carries no key."""

from typing import Literal

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from shared.config import Environment, get_settings
from shared.models import DomainModel
from triggers.api import API, VERSION, Call, Unavailable

bp = df.Blueprint()


class HealthReport(DomainModel):
    status: Literal["ok"]
    version: str
    environment: Environment


@API.route(
    bp,
    "GET",
    "health",
    summary="Liveness, and whether the settings load",
    responses={200: HealthReport},
    problems=(503,),
    auth=func.AuthLevel.ANONYMOUS,
    tags=("meta",),
)
def health(call: Call[None]) -> HealthReport:
    """200 with the version when the settings load; 503 (`misconfigured`) naming the invalid
    settings in `invalid_settings` otherwise, never their values."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise Unavailable(
            "misconfigured",
            f"invalid settings: {', '.join(fields)}",
            extra={"version": VERSION, "invalid_settings": fields},
        ) from None
    return HealthReport(status="ok", version=VERSION, environment=settings.environment)
