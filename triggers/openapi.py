"""GET /api/openapi.json, the API's OpenAPI 3.1 document (built from the route table, see
triggers/api/openapi.py), and the catch-all that answers problem+json 404/405 for every other
request under /api."""

from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from triggers.api import API, Call

bp = df.Blueprint()


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(frozen=True, extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


@API.route(
    bp,
    "GET",
    "openapi.json",
    summary="This API's OpenAPI 3.1 document",
    responses={200: OpenApiDocument},
    tags=("meta",),
)
def openapi(call: Call[None]) -> OpenApiDocument:
    """Generated from the route table and its models; a test keeps it equal to the routes
    function_app registers."""
    return OpenApiDocument.model_validate(API.document())


API.fallback(bp)
