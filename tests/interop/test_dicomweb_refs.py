from __future__ import annotations

import pytest

from explainmyxray.core.errors import UsageError
from explainmyxray.interop.dicomweb import (
    PASSWORD_ENV,
    TOKEN_ENV,
    DicomWebAuth,
    _is_radiograph,
    parse_ref,
)

BASE = "http://pacs.example:8042/dicom-web"
STUDY = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"


def test_study_and_series_references():
    ref = parse_ref(f"dicomweb:{BASE}/studies/{STUDY}")
    assert (ref.base, ref.study, ref.series, ref.is_query) == (BASE, STUDY, None, False)
    ref = parse_ref(f"dicomweb:{BASE}/studies/{STUDY}/series/1.2.3.4")
    assert (ref.study, ref.series) == (STUDY, "1.2.3.4")
    assert parse_ref(f"dicomweb:{BASE}/").base == BASE


def test_qido_search_with_short_forms():
    ref = parse_ref(f"dicomweb:{BASE}/studies?modality=CR,DX&since=2024-01-31&limit=20")
    assert ref.is_query and ref.limit == 20 and ref.base == BASE
    assert set(ref.filters) == {("ModalitiesInStudy", "CR,DX"), ("StudyDate", "20240131-")}
    ref = parse_ref(f"dicomweb:{BASE}/studies?ModalitiesInStudy=DX&StudyDate=20240101-20240201")
    assert set(ref.filters) == {("ModalitiesInStudy", "DX"), ("StudyDate", "20240101-20240201")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dicomweb:ftp://host/x", "expected dicomweb:http"),
        (f"dicomweb:http://me:secret@pacs/dicom-web/studies/{STUDY}", "credentials in the URL"),
        (f"dicomweb:{BASE}/studies/not-a-uid", "not a valid DICOM UID"),
        (f"dicomweb:{BASE}/studies", "needs at least one filter"),
        (f"dicomweb:{BASE}/studies?since=yesterday", "is not a date"),
        (f"dicomweb:{BASE}/studies?modality=CR&limit=0", "limit must be"),
        (f"dicomweb:{BASE}/studies/{STUDY}/instances", "expected .../studies/<StudyInstanceUID>"),
    ],
)
def test_bad_references_say_what_is_wrong(text, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_ref(text)
    assert "secret" not in str(info.value)


def test_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(UsageError, match=PASSWORD_ENV):
        DicomWebAuth.from_options("alice")
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    assert DicomWebAuth.from_options("alice") == DicomWebAuth("alice", "pw", None)
    assert DicomWebAuth.from_options(None) == DicomWebAuth()
    monkeypatch.setenv(TOKEN_ENV, "tok")
    assert DicomWebAuth.from_options(None) == DicomWebAuth(token="tok")
    with pytest.raises(UsageError, match="not both"):
        DicomWebAuth.from_options("alice")


def test_only_radiograph_images_are_inputs():
    assert _is_radiograph("1.2.840.10008.5.1.4.1.1.1", None)  # CR
    assert _is_radiograph("1.2.840.10008.5.1.4.1.1.7", "CR")  # a CR kept as Secondary Capture
    assert not _is_radiograph("1.2.840.10008.5.1.4.1.1.7", "OT")  # our own SC
    assert not _is_radiograph("1.2.840.10008.5.1.4.1.1.88.34", "SR")  # Comprehensive 3D SR
    assert not _is_radiograph("1.2.840.10008.5.1.4.1.1.66.4", "SEG")
    assert not _is_radiograph("1.2.840.10008.5.1.4.1.1.2", "CT")
