"""The ARM calls of `publish --create`, against a recording endpoint on loopback (no Azurite, no engine)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from builder.azure.gallery import GallerySettings, TargetRegion, VersionDefinition, application_body, version_body
from builder.azure.publish import create_in_azure
from builder.azure.storage import PublishError


class StaticToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", 4102444800)


class Recorder(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]
    replication: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"method": "PUT", "path": self.path, "auth": self.headers["Authorization"], "body": body})
        self._answer({**body, "properties": {**body["properties"], "provisioningState": "Succeeded"}})

    def do_GET(self) -> None:
        self.requests.append({"method": "GET", "path": self.path, "auth": self.headers["Authorization"]})
        state = self.replication.pop(0) if len(self.replication) > 1 else self.replication[0]
        self._answer(
            {
                "location": "westeurope",
                "properties": {
                    "publishingProfile": {"source": {"mediaLink": "x"}},
                    "replicationStatus": {
                        "aggregatedState": state,
                        "summary": [{"region": "westeurope", "state": state, "details": "disk full", "progress": 50}],
                    },
                },
            }
        )


@pytest.fixture
def arm() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"requests": [], "replication": ["InProgress", "Completed"]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def arm_definition() -> VersionDefinition:
    settings = GallerySettings("g", "rg", "westeurope", target_regions=(TargetRegion("westeurope", 2),))
    return VersionDefinition(
        "jq", "1.0.0", "Linux", "jq", "sh 'install'", "sh remove", None, "jq.tar.gz", Path("/x"), settings,
        media_link="https://a.blob.core.windows.net/c/jq.tar.gz?sp=r&sig=x",
    )  # fmt: skip


def test_create_sends_the_models_bodies_and_waits_for_replication(arm: tuple[str, type[Recorder]]) -> None:
    url, handler = arm
    d = arm_definition()
    status = create_in_azure(d, StaticToken(), "sub-1", base_url=url, poll_seconds=0.01)
    assert status["aggregatedState"] == "Completed"
    puts = [r for r in handler.requests if r["method"] == "PUT"]
    prefix = "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/applications/jq"
    assert [r["path"] for r in puts] == [
        f"{prefix}?api-version=2024-03-03",
        f"{prefix}/versions/1.0.0?api-version=2024-03-03",
    ]
    assert puts[0]["body"] == application_body(d) and puts[1]["body"] == version_body(d)
    assert all(r["auth"] == "Bearer test-token" for r in handler.requests)
    gets = [r["path"] for r in handler.requests if r["method"] == "GET"]
    assert len(gets) >= 2 and all("$expand=ReplicationStatus" in g for g in gets)


def test_failed_replication_is_reported(arm: tuple[str, type[Recorder]]) -> None:
    url, handler = arm
    handler.replication[:] = ["Failed"]
    with pytest.raises(PublishError, match="replication failed: westeurope: disk full"):
        create_in_azure(arm_definition(), StaticToken(), "sub-1", base_url=url, poll_seconds=0.01)
