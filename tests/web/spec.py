"""Check real answers against what /api/openapi.json documents for their route and status."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator

_documents: dict[int, dict[str, Any]] = {}  # by app: the document is the same for every request to one app
_PARAM = re.compile(r"\{[^}/]+\}")


async def _document(client: TestClient) -> dict[str, Any]:
    key = id(client.app)
    if key not in _documents:
        _documents[key] = await (await client.get("/api/openapi.json")).json()
    return _documents[key]


def _template(document: dict[str, Any], path: str) -> str:
    """The documented path `path` (a real one, query and all) is an instance of; a fixed path beats a parameter."""
    path = path.split("?", 1)[0]
    if path in document["paths"]:
        return path
    matches = [t for t in document["paths"] if re.fullmatch("[^/]+".join(map(re.escape, _PARAM.split(t))), path)]
    assert matches, f"{path} is not in the document"
    return min(matches, key=lambda t: t.count("{"))


async def assert_documented(client: TestClient, method: str, path: str, status: int, body: Any) -> None:
    """`body`, answered `status` by `method path`, fits the document; raises ValidationError naming the field."""
    document = await _document(client)
    responses = document["paths"][_template(document, path)][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which the document does not list"
    answer = responses[str(status)]
    if "$ref" in answer:  # a shared response (the errors)
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    schema = {**answer["content"]["application/json"]["schema"], "components": document["components"]}
    OAS31Validator(schema).validate(body)


async def documented_call(client: TestClient, method: str, path: str, headers: dict[str, str], status: int,
                          **kwargs: Any) -> Any:
    """Make the request, check its status and that its JSON answer fits the document; the answer."""
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status == status, await response.text()
    body = await response.json()
    await assert_documented(client, method, path, status, body)
    return body
