"""``/openapi.json``: a valid OpenAPI 3.1 document generated from the registries."""

from __future__ import annotations

from openapi_spec_validator import validate


async def test_openapi_document_is_valid_and_covers_the_registries(gateway):
    """The document validates and has a path per dataset and operation, with their schemas."""
    response = await gateway.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert {"/v1/quote/{key}", "/v1/quote/batch", "/v1/quote/merged/{key}"} <= set(paths)
    assert "/v1/operations/sync_transactions" in paths and "/v1/admin/stats" in paths
    schemas = document["components"]["schemas"]
    assert schemas["Quote"]["properties"]["price"] == {"type": "number"}
    assert schemas["SyncTransactions"]["properties"]["since"]["anyOf"][0]["format"] == "date"
    # A secret never appears as a value in results: an access token is always null.
    assert schemas["Link"]["properties"]["access_token"] == {"type": "null"}
    accounts = paths["/v1/accounts/{key}"]["get"]
    assert accounts["security"] == [{"apiKey": []}]
