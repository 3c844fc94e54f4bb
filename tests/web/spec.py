"""Check a real answer against what /api/openapi.json documents for its route and status."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator


async def assert_documented(client: TestClient, method: str, path: str, status: int, body: Any) -> None:
    """`body`, answered `status` by `method path` (the path as the document spells it), fits the document."""
    document = await (await client.get("/api/openapi.json")).json()
    answer = document["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in answer:  # a shared response (the errors)
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    schema = {**answer["content"]["application/json"]["schema"], "components": document["components"]}
    OAS31Validator(schema).validate(body)  # raises with the path of the first field that breaks it
