"""A real Orthanc PACS with its DICOMweb plugin, started on a free loopback port for tests.

The server gets a throwaway storage folder and a generated configuration (HTTP only, no DICOM
port, remote access off, HTTP basic authentication on), is polled until it answers, and is
stopped (SIGTERM, then SIGKILL after a bounded wait) when the test session ends.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

USER, PASSWORD = "emxr", "orthanc-test-password"
START_SECONDS = 60.0


@dataclass
class Orthanc:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def rest(self, path: str, method: str = "GET", **kwargs) -> requests.Response:
        response = requests.request(
            method, f"{self.url}{path}", auth=(USER, PASSWORD), timeout=60, **kwargs
        )
        response.raise_for_status()
        return response

    def upload(self, path: Path) -> dict:
        """Store one file through Orthanc's own REST API (not DICOMweb)."""
        return self.rest("/instances", "POST", data=path.read_bytes()).json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def orthanc_binary() -> str | None:
    """The server binary (Debian installs it in /usr/sbin, which a user's PATH may lack)."""
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")
    return found


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin's shared library, as the Debian package installed it."""
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, timeout=30
        ).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        listing = []
    candidates = [Path(p) for p in listing if ".so" in Path(p).name]
    candidates += sorted(Path("/usr/share/orthanc/plugins").glob("libOrthancDicomWeb.so*"))
    return next((p for p in candidates if p.is_file()), None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_orthanc(folder: Path) -> Orthanc:
    binary, plugin = orthanc_binary(), dicomweb_plugin()
    if binary is None or plugin is None:
        raise FileNotFoundError("Orthanc or its DICOMweb plugin is not installed")
    port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "EMXR-TEST",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "StorageCompression": False,
        "SaveJobs": False,
        "HttpThreadsCount": 4,
        "ConcurrentJobs": 1,
        "Plugins": [str(plugin)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Ssl": False,
        },
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = folder / "orthanc.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, str(config_path)], stdout=sink, stderr=sink)
    server = Orthanc(process=process, port=port, log=log)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Orthanc exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if requests.get(f"{server.dicomweb}/studies", auth=(USER, PASSWORD), timeout=2).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(
        f"Orthanc did not answer within {START_SECONDS:.0f} s: {log.read_text()[-2000:]}"
    )
