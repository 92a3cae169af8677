"""The OpenAPI document is valid OpenAPI 3 and its UIs are served from local files."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate


def test_schema_validates(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    spec = yaml.safe_load(response.content)
    validate(spec)
    assert spec["openapi"].startswith("3.")
    for path in ["/api/v1/animals/", "/api/v1/animals/import/", "/api/v1/exports/{id}/download/"]:
        assert path in spec["paths"], path


def test_swagger_ui_uses_local_assets(client):
    html = client.get("/api/schema/swagger-ui/").content.decode()
    assert "swagger-ui-dist" in html or "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    redoc = client.get("/api/schema/redoc/").content.decode()
    assert "cdn." not in redoc and "jsdelivr" not in redoc
