"""The bearer token reaches the server: a loopback HTTP server that answers QIDO-RS only with a
valid token (Orthanc without an authorization plugin knows no bearer tokens)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from explainmyxray.interop.dicomweb import DicomWebAuth, DicomWebClient, DicomWebError, parse_ref

TOKEN = "test-token-7f3a"
STUDY = "1.2.826.0.1.3680043.8.498.1"


class TokenQido(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        authorization = self.headers.get("Authorization", "")
        TokenQido.seen.append(authorization)
        if authorization != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps([{"0020000D": {"vr": "UI", "Value": [STUDY]}}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TokenQido)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_bearer_token_is_sent_and_a_missing_one_is_refused(server):
    TokenQido.seen.clear()
    ref = parse_ref(f"dicomweb:{server}/studies?modality=CR")
    assert DicomWebClient(server, DicomWebAuth(token=TOKEN)).study_uids(ref) == [STUDY]
    assert TokenQido.seen == [f"Bearer {TOKEN}"]
    with pytest.raises(DicomWebError, match="HTTP 401"):
        DicomWebClient(server, DicomWebAuth()).study_uids(ref)
