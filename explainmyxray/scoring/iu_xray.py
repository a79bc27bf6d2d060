"""Reading IU X-ray (OpenI ``ecgen-radiology``) report XML into references.

One XML file is one report; its ``parentImage`` elements name the report's images (the image
files' stems, e.g. ``CXR1_1_IM-0001-3001``), and every image gets the report's reference. A report
without images is keyed by its ``uId`` (``CXR1``). Findings are the MeSH ``major`` terms mapped by
:mod:`.mesh`; terms with no PadChest counterpart are left out and listed in the reference's
``meta["unmapped"]`` (``; ``-separated). The text is the ``FINDINGS`` and ``IMPRESSION`` sections.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from explainmyxray.core.errors import InputError

from .mesh import map_mesh_term
from .references import Reference, ReferenceFinding, iter_tar_members

TEXT_SECTIONS = ("FINDINGS", "IMPRESSION")


def _known_locations() -> frozenset[str]:
    from explainmyxray.report.ontology import load_ontology

    return frozenset(load_ontology().locations)


def iter_report_xml(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(where, xml bytes)`` for each report in a tar archive, a folder or one XML file."""
    if path.is_dir():
        files = sorted(path.rglob("*.xml"))
        if not files:
            raise InputError(f"{path}: no *.xml report files in this folder")
        for file in files:
            yield str(file), file.read_bytes()
    elif path.name.lower().endswith(".xml"):
        yield str(path), path.read_bytes()
    else:
        try:
            for name, data in iter_tar_members(path, ".xml"):
                yield f"{path}:{name}", data
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: not a readable tar archive of report XML: {exc}") from exc


def report_text(root: ET.Element) -> str | None:
    parts = []
    for node in root.iter("AbstractText"):
        label = (node.get("Label") or "").upper()
        text = (node.text or "").strip()
        if label in TEXT_SECTIONS and text:
            parts.append(f"{label}: {text}")
    return "\n".join(parts) or None


def references_from_report(data: bytes, where: str) -> list[Reference]:
    """The references of one report XML document (one per image)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(f"{where}: not well-formed XML: {exc}") from exc
    known = _known_locations()
    findings: dict[str, ReferenceFinding] = {}
    unmapped: list[str] = []
    for node in root.iter("major"):
        term = " ".join((node.text or "").split())
        if not term:
            continue
        mapping = map_mesh_term(term, known)
        if mapping.label is None:
            if term.lower() != "no indexing":
                unmapped.append(term)
            continue
        previous = findings.get(mapping.label)
        locations = mapping.locations
        if previous is not None:
            locations = tuple(dict.fromkeys(previous.locations + locations))
        findings[mapping.label] = ReferenceFinding(mapping.label, "present", locations)
    uid = root.find("uId")
    report_id = uid.get("id", "") if uid is not None else ""
    image_ids = [img.get("id") for img in root.iter("parentImage") if img.get("id")]
    keys = image_ids or ([report_id] if report_id else [])
    if not keys:
        raise InputError(f"{where}: the report names neither images (parentImage) nor a uId")
    text = report_text(root)
    meta = {"report": report_id, "unmapped": "; ".join(unmapped)}
    return [
        Reference(
            case_key=key,
            findings=tuple(findings.values()),
            text=text,
            source="iuxray",
            meta=meta,
        )
        for key in keys
    ]
