"""The IU X-ray (OpenI, Indiana University) report set, and its MeSH labels in PadChest terms.

torchxrayvision ships the 3,955 reports as ``torchxrayvision/data/NLMCXR_reports.tgz`` (XML, CC
BY-NC-ND 4.0; read here, never copied into this repository). Each report has FINDINGS and
IMPRESSION text and MeSH "major" terms written ``Term/qualifier/...`` (``Cardiomegaly/mild``,
``Pulmonary Atelectasis/base/left``) or ``normal``.

``data/iu_mesh_to_padchest.yaml`` maps MeSH terms onto *evaluation labels*: each evaluation label
names the MeSH patterns that make it true of a report and the PadChest labels whose presence in
the labeler's output counts as predicting it. Reports with numeric id < 2000 are the development
split; ids >= 2000 are held out.
"""

from __future__ import annotations

import importlib.util
import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ConfigError, InputError

HELD_OUT_FROM = 2000
ARCHIVE_NAME = "NLMCXR_reports.tgz"
_ID = re.compile(r"(\d+)\.xml$")


@dataclass(frozen=True)
class IUReport:
    """One IU X-ray report: id, FINDINGS and IMPRESSION text, MeSH major terms."""

    id: int
    findings: str
    impression: str
    mesh_major: tuple[str, ...]

    @property
    def text(self) -> str:
        """FINDINGS then IMPRESSION, as one text (empty sections left out)."""
        return "\n".join(part for part in (self.findings, self.impression) if part.strip())

    @property
    def held_out(self) -> bool:
        return self.id >= HELD_OUT_FROM


def default_archive() -> Path:
    """Where torchxrayvision keeps the report archive (found without importing torch)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the IU X-ray reports come with torchxrayvision (pip install torchxrayvision); "
            "pass the path of NLMCXR_reports.tgz instead"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / ARCHIVE_NAME
    if not path.is_file():
        raise InputError(f"{path} is missing from the torchxrayvision installation")
    return path


def parse_report_xml(data: bytes, report_id: int) -> IUReport:
    """One report from its XML document (the archive's own, trusted packaged data)."""
    root = ET.fromstring(data)
    sections = {
        (node.get("Label") or "").upper(): " ".join((node.text or "").split())
        for node in root.iter("AbstractText")
    }
    mesh = tuple(" ".join((m.text or "").split()) for m in root.iter("major") if m.text)
    return IUReport(report_id, sections.get("FINDINGS", ""), sections.get("IMPRESSION", ""), mesh)


def read_reports(archive: str | Path | None = None) -> list[IUReport]:
    """Every report of the archive, sorted by id."""
    path = Path(archive) if archive is not None else default_archive()
    if not path.is_file():
        raise InputError(f"IU X-ray report archive not found: {path}")
    reports = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            match = _ID.search(member.name)
            if not member.isfile() or match is None:
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            reports.append(parse_report_xml(handle.read(), int(match.group(1))))
    reports.sort(key=lambda r: r.id)
    return reports


def split_reports(reports: Iterable[IUReport]) -> tuple[list[IUReport], list[IUReport]]:
    """(development reports, held-out reports): ids below / from :data:`HELD_OUT_FROM`."""
    dev, held = [], []
    for report in reports:
        (held if report.held_out else dev).append(report)
    return dev, held


# --- MeSH → PadChest evaluation labels --------------------------------------------------------


@dataclass(frozen=True)
class EvalLabel:
    """An evaluation label: the MeSH patterns that make it true, the PadChest labels that hit it."""

    name: str
    mesh: tuple[tuple[str, tuple[str, ...]], ...]  # (term, required qualifiers)
    padchest: frozenset[str]

    def in_mesh(self, terms: Sequence[str]) -> bool:
        """Whether any MeSH major term of a report matches one of this label's patterns."""
        for term in terms:
            head, *qualifiers = [p.strip().lower() for p in term.split("/")]
            for pattern_head, required in self.mesh:
                if head == pattern_head and all(q in qualifiers for q in required):
                    return True
        return False

    def predicted(self, labels: Mapping[str, str], *, uncertain_as_present: bool) -> bool:
        """Whether the labeler's statuses predict this label."""
        accepted = {"present", "uncertain"} if uncertain_as_present else {"present"}
        return any(labels.get(label) in accepted for label in self.padchest)


@dataclass(frozen=True)
class MeshMapping:
    """The evaluation labels, and the reports to skip (MeSH ``No Indexing``)."""

    labels: tuple[EvalLabel, ...]
    skip_terms: frozenset[str]

    def gold(self, report: IUReport) -> set[str]:
        return {label.name for label in self.labels if label.in_mesh(report.mesh_major)}

    def usable(self, report: IUReport) -> bool:
        """Indexed and with some text: the reports an evaluation counts."""
        heads = {t.split("/")[0].strip().lower() for t in report.mesh_major}
        return bool(report.text.strip()) and bool(heads) and not heads & self.skip_terms


def mapping_from_dict(data: Mapping[str, Any], known_labels: Iterable[str] = ()) -> MeshMapping:
    """Build a mapping from the YAML document; unknown PadChest labels are an error."""
    known = set(known_labels)
    labels = []
    for name, entry in (data.get("labels") or {}).items():
        mesh = []
        for pattern in entry.get("mesh") or []:
            head, *qualifiers = [p.strip().lower() for p in str(pattern).split("/")]
            mesh.append((head, tuple(qualifiers)))
        padchest = frozenset(entry.get("padchest") or [])
        if not mesh or not padchest:
            raise ConfigError(f"iu_mesh_to_padchest.yaml/{name}: needs `mesh` and `padchest`")
        unknown = sorted(padchest - known) if known else []
        if unknown:
            raise ConfigError(f"iu_mesh_to_padchest.yaml/{name}: unknown PadChest labels {unknown}")
        labels.append(EvalLabel(str(name), tuple(mesh), padchest))
    skip = frozenset(str(t).strip().lower() for t in data.get("skip_reports_with") or [])
    return MeshMapping(tuple(labels), skip)


@cache
def load_mapping() -> MeshMapping:
    """The packaged MeSH → PadChest evaluation mapping, checked against the ontology."""
    from ..report.ontology import load_ontology

    text = resources.files("explainmyxray.labeler.data").joinpath("iu_mesh_to_padchest.yaml")
    data = yaml.safe_load(text.read_text(encoding="utf-8"))
    ontology = load_ontology()
    known = {t.label for t in ontology.terms()}
    return mapping_from_dict(data, known)
