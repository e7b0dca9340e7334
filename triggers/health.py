"""GET /api/health: liveness plus a configuration check that never reveals a secret."""

import json

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from shared.config import get_settings

bp = df.Blueprint()

VERSION = "0.1.0"


@bp.route(route="health", methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """200 with the version when settings load; 503 naming the bad settings otherwise."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        body = {"status": "misconfigured", "version": VERSION, "invalid_settings": fields}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype="application/json")
    body = {"status": "ok", "version": VERSION, "environment": settings.environment}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
