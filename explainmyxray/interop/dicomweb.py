"""DICOMweb in and out: radiographs from a PACS (QIDO-RS, WADO-RS), results back (STOW-RS).

Input references (``explainmyxray run PIPELINE REF``):

- ``dicomweb:BASE/studies/<StudyInstanceUID>``: every CR and DX image of one study;
- ``dicomweb:BASE/studies/<StudyInstanceUID>/series/<SeriesInstanceUID>``: of one series;
- ``dicomweb:BASE/studies?<QIDO filters>``: a QIDO-RS study search, then every CR and DX image of
  each study found. Filters are QIDO-RS attribute filters (``ModalitiesInStudy=CR,DX``,
  ``StudyDate=20240101-``, ``PatientID=...``) plus two short forms: ``since=2024-01-01``
  (``StudyDate=20240101-``) and ``modality=CR,DX``; several modalities are searched one by one
  and merged. ``limit`` caps the number of studies (default and maximum 1000).

``BASE`` is the DICOMweb root, e.g. ``http://pacs:8042/dicom-web``. Only CR and DX image
instances are retrieved (by SOP class, or by a CR/DX modality; never SR, SEG or presentation
states, so results stored back are not read again), as stored
(``transfer-syntax=*``), one at a time, each written to the run's work folder under a name made
from a hash of its SOP Instance UID (never from identifiers).

Output: ``--store dicomweb:BASE`` sends each case's ``sc.dcm``, ``sr.dcm`` and ``seg.dcm`` with
STOW-RS. Authentication for both: HTTP basic (``user`` plus ``password``) or a bearer token.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pydicom

from ..core.errors import ExplainMyXrayError, InputError, UsageError
from .case_writer import DICOM_FILES, encode

PREFIX = "dicomweb:"
PASSWORD_ENV = "EXPLAINMYXRAY_DICOMWEB_PASSWORD"
TOKEN_ENV = "EXPLAINMYXRAY_DICOMWEB_TOKEN"
MAX_STUDIES = 1000
RADIOGRAPH_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
        "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
        "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image Storage - For Processing
    }
)
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})
NON_IMAGE_SOP_CLASS_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, key object selections
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.66",  # segmentations, registrations, fiducials
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated documents
)
AS_STORED = (("application/dicom", "*"),)
_SHORT_FILTERS = {"modality": "ModalitiesInStudy"}
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


class DicomWebError(ExplainMyXrayError):
    """A DICOMweb request failed; the message names the URL (without credentials) and why."""


@dataclass(frozen=True)
class DicomWebAuth:
    """HTTP basic (``user``, ``password``) or bearer (``token``) authentication, or none."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    @classmethod
    def from_options(cls, user: str | None = None) -> DicomWebAuth:
        """``user`` from the command line; the secrets only from the environment
        (``EXPLAINMYXRAY_DICOMWEB_PASSWORD``, ``EXPLAINMYXRAY_DICOMWEB_TOKEN``), never from
        arguments a process listing shows."""
        password, token = os.environ.get(PASSWORD_ENV), os.environ.get(TOKEN_ENV)
        if user and not password:
            raise UsageError(f"--dicomweb-user {user}: set the password in ${PASSWORD_ENV}")
        if user and token:
            raise UsageError(f"give either --dicomweb-user or ${TOKEN_ENV}, not both")
        return cls(user=user or None, password=password if user else None, token=token or None)


@dataclass(frozen=True)
class DicomWebRef:
    """A parsed ``dicomweb:`` reference."""

    base: str
    study: str | None = None
    series: str | None = None
    filters: tuple[tuple[str, str], ...] | None = None
    limit: int = MAX_STUDIES

    @property
    def is_query(self) -> bool:
        return self.filters is not None


def is_dicomweb(text: str) -> bool:
    return str(text).startswith(PREFIX)


def parse_ref(text: str) -> DicomWebRef:
    """Parse ``dicomweb:URL`` (see the module docstring); a clear error for anything else."""
    if not is_dicomweb(text):
        raise UsageError(f"{text}: a DICOMweb reference starts with '{PREFIX}'")
    url = text[len(PREFIX) :]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{text}: expected {PREFIX}http(s)://host[:port]/<dicomweb root>[...]")
    if parts.username or parts.password:
        raise UsageError(
            f"{PREFIX}{parts.scheme}://{parts.hostname}...: credentials in the URL would be "
            f"logged; use --dicomweb-user with ${PASSWORD_ENV}, or ${TOKEN_ENV}"
        )
    segments = [s for s in parts.path.split("/") if s]
    base_segments, tail = segments, []
    if "studies" in segments:
        at = segments.index("studies")
        base_segments, tail = segments[:at], segments[at + 1 :]
    base = urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(base_segments), "", ""))
    base = base.rstrip("/")
    if "studies" not in segments:
        if parts.query:
            raise UsageError(f"{text}: a QIDO search goes to .../studies?<filters>")
        return DicomWebRef(base=base)
    if not tail:
        return _query_ref(text, base, parts.query)
    study, series = tail[0], None
    if len(tail) == 3 and tail[1] == "series":
        series = tail[2]
    elif len(tail) != 1:
        raise UsageError(
            f"{text}: expected .../studies/<StudyInstanceUID>[/series/<SeriesInstanceUID>]"
        )
    for uid in (study, series):
        if uid is not None and (len(uid) > 64 or not _UID.fullmatch(uid)):
            raise UsageError(f"{text}: {uid!r} is not a valid DICOM UID")
    return DicomWebRef(base=base, study=study, series=series)


def _query_ref(text: str, base: str, query: str) -> DicomWebRef:
    filters: list[tuple[str, str]] = []
    limit = MAX_STUDIES
    for key, values in parse_qs(query, keep_blank_values=False, strict_parsing=False).items():
        for value in values:
            if key == "limit":
                if not value.isdigit() or not 1 <= int(value) <= MAX_STUDIES:
                    raise UsageError(f"{text}: limit must be 1 to {MAX_STUDIES}, not {value!r}")
                limit = int(value)
            elif key == "since":
                filters.append(("StudyDate", _dicom_date(text, value) + "-"))
            else:
                filters.append((_SHORT_FILTERS.get(key, key), value))
    if not filters:
        raise UsageError(
            f"{text}: a study search needs at least one filter, e.g. "
            "?ModalitiesInStudy=CR,DX&since=2024-01-01"
        )
    return DicomWebRef(base=base, filters=tuple(filters), limit=limit)


def _dicom_date(text: str, value: str) -> str:
    digits = value.replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        raise UsageError(f"{text}: since={value!r} is not a date (YYYY-MM-DD)")
    return digits


class DicomWebClient:
    """One DICOMweb service, with authentication: search, retrieve, store."""

    def __init__(self, base: str, auth: DicomWebAuth | None = None) -> None:
        from dicomweb_client.api import DICOMwebClient
        from dicomweb_client.session_utils import create_session, create_session_from_user_pass

        auth = auth or DicomWebAuth()
        if auth.user:
            session = create_session_from_user_pass(auth.user, auth.password or "")
        else:
            session = create_session()
        if auth.token:
            session.headers["Authorization"] = f"Bearer {auth.token}"
        self.base = base
        self.client = DICOMwebClient(url=base, session=session)

    # --- input -------------------------------------------------------------------------------

    def study_uids(self, ref: DicomWebRef) -> list[str]:
        """The studies a reference names: one, or those a QIDO search finds (in its order)."""
        if not ref.is_query:
            return [ref.study] if ref.study else []
        assert ref.filters is not None
        plain = [(k, v) for k, v in ref.filters if k != "ModalitiesInStudy"]
        modalities = [
            m.strip()
            for k, v in ref.filters
            if k == "ModalitiesInStudy"
            for m in v.replace("\\", ",").split(",")
            if m.strip()
        ]
        found: dict[str, None] = {}
        for modality in modalities or [None]:
            filters = dict(plain)
            if modality:
                filters["ModalitiesInStudy"] = modality
            studies = self._call(
                "QIDO-RS study search",
                self.client.search_for_studies,
                search_filters=filters,
                limit=ref.limit,
                fields=["StudyInstanceUID"],
            )
            for study in studies:
                uid = _json_value(study, "0020000D")
                if uid:
                    found[uid] = None
        return list(found)[: ref.limit]

    def radiographs(self, study: str, series: str | None = None) -> list[tuple[str, str, str]]:
        """(study, series, instance) UIDs of the study's (or series') CR and DX images."""
        instances = self._call(
            "QIDO-RS instance search",
            self.client.search_for_instances,
            study_instance_uid=study,
            series_instance_uid=series,
            fields=["SOPClassUID", "SeriesInstanceUID", "Modality"],
        )
        found = []
        for item in instances:
            if _is_radiograph(_json_value(item, "00080016"), _json_value(item, "00080060")):
                series_uid = _json_value(item, "0020000E")
                instance_uid = _json_value(item, "00080018")
                if series_uid and instance_uid:
                    found.append((study, series_uid, instance_uid))
        return found

    def download(self, ref: DicomWebRef, folder: Path) -> list[Path]:
        """Retrieve every radiograph a reference names into ``folder``; the paths written."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for study in self.study_uids(ref):
            for study_uid, series_uid, instance_uid in self.radiographs(
                study, ref.series if not ref.is_query else None
            ):
                path = folder / f"{_pseudonym(instance_uid)}.dcm"
                if not path.is_file():
                    dataset = self._call(
                        "WADO-RS retrieve",
                        self.client.retrieve_instance,
                        study_uid,
                        series_uid,
                        instance_uid,
                        media_types=AS_STORED,
                    )
                    _write_new(path, encode(dataset))
                paths.append(path)
        return paths

    # --- output ------------------------------------------------------------------------------

    def store(self, paths: list[Path]) -> list[str]:
        """STOW-RS the files as they are on disk; the SOP Instance UIDs stored."""
        if not paths:
            return []
        datasets = [pydicom.dcmread(p) for p in paths]
        response = self._call("STOW-RS store", self.client.store_instances, datasets)
        failed = response.get("FailedSOPSequence") or []
        if failed:
            reasons = ", ".join(
                f"{item.get('ReferencedSOPInstanceUID', '?')} (reason {item.get('FailureReason')})"
                for item in failed
            )
            raise DicomWebError(
                f"{self.base}: STOW-RS refused {len(failed)} instance(s): {reasons}"
            )
        return [str(ds.SOPInstanceUID) for ds in datasets]

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        import requests

        try:
            return function(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            hint = " (check the DICOMweb credentials)" if status in (401, 403) else ""
            raise DicomWebError(f"{self.base}: {what} failed: HTTP {status}{hint}") from exc
        except requests.RequestException as exc:
            raise DicomWebError(f"{self.base}: {what} failed: {type(exc).__name__}") from exc


def store_case_writer(client: DicomWebClient) -> Any:
    """A case writer that sends the case's DICOM results (written before it) with STOW-RS."""

    def store_dicom_outputs(case: Any, case_dir: Path) -> list[str]:
        if case.failed:
            return []
        return client.store([p for name in DICOM_FILES if (p := Path(case_dir) / name).is_file()])

    return store_dicom_outputs


def download_inputs(refs: list[str], folder: Path, auth: DicomWebAuth) -> Iterator[Path]:
    """Every radiograph of every reference, retrieved into ``folder`` (see :func:`parse_ref`)."""
    for text in refs:
        ref = parse_ref(text)
        if ref.study is None and not ref.is_query:
            raise UsageError(f"{text}: name a study (.../studies/<uid>) or a search (?filters)")
        paths = DicomWebClient(ref.base, auth).download(ref, folder)
        if not paths:
            raise InputError(f"{text}: no CR or DX image found there")
        yield from paths


def _is_radiograph(sop_class: str | None, modality: str | None) -> bool:
    """A CR or DX image: by its SOP class, or a CR/DX-modality image of another class (a
    Secondary Capture of a radiograph, as some archives and challenge sets store them)."""
    if sop_class in RADIOGRAPH_SOP_CLASSES:
        return True
    if not sop_class or sop_class.startswith(NON_IMAGE_SOP_CLASS_PREFIXES):
        return False
    return (modality or "").upper() in RADIOGRAPH_MODALITIES


def _json_value(item: dict[str, Any], tag: str) -> str | None:
    values = (item.get(tag) or {}).get("Value") or []
    return str(values[0]) if values else None


def _pseudonym(uid: str) -> str:
    return "dicomweb-" + hashlib.sha256(uid.encode()).hexdigest()[:20]


def _write_new(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
