"""The IU X-ray (OpenI, Indiana University) report set, and its MeSH labels in PadChest terms.

torchxrayvision ships the 3,955 reports as ``torchxrayvision/data/NLMCXR_reports.tgz`` (XML, CC
BY-NC-ND 4.0; read here, never copied into this repository). Each report (``ecgen-radiology/1.xml``)
has an id (``uId``: ``CXR1``), the images it describes (``parentImage``: ``CXR1_1_IM-0001-3001``),
FINDINGS and IMPRESSION text and MeSH "major" terms written ``Heading/qualifier/...``
(``Cardiomegaly/mild``, ``Pulmonary Atelectasis/base/left``), ``normal`` or ``No Indexing``.
Reports numbered below :data:`HELD_OUT_FROM` are the development split; the rest are held out.

``data/iu_mesh_to_padchest.yaml`` is the one MeSH → PadChest mapping of the project (its header
says how it reads). :class:`MeshMapping` serves both of its users:

* the labeler benchmark scores *evaluation labels* (:class:`EvalLabel`, groups of PadChest labels):
  :meth:`MeshMapping.gold`, :meth:`EvalLabel.predicted`, :meth:`MeshMapping.usable`;
* ``explainmyxray eval --format iuxray`` turns each MeSH term into one PadChest finding with
  locations: :meth:`MeshMapping.map_term` (``Pulmonary Atelectasis/base/left`` → ``atelectasis``
  at ``loc basal`` and ``loc left``).
"""

from __future__ import annotations

import importlib.util
import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ConfigError, InputError

HELD_OUT_FROM = 2000
ARCHIVE_NAME = "NLMCXR_reports.tgz"
MAPPING_FILE = "iu_mesh_to_padchest.yaml"
TEXT_SECTIONS = ("FINDINGS", "IMPRESSION")
NORMAL = "normal"
_FILE_NUMBER = re.compile(r"(\d+)\.xml$", re.IGNORECASE)
_UID_NUMBER = re.compile(r"(\d+)$")


# --- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IUReport:
    """One IU X-ray report: number, FINDINGS and IMPRESSION text, MeSH major terms, images."""

    id: int | None
    findings: str
    impression: str
    mesh_major: tuple[str, ...]
    uid: str = ""
    images: tuple[str, ...] = ()
    where: str = ""

    @property
    def text(self) -> str:
        """FINDINGS then IMPRESSION, as one text (empty sections left out): what gets labeled."""
        return "\n".join(part for part in (self.findings, self.impression) if part.strip())

    @property
    def sectioned_text(self) -> str | None:
        """``FINDINGS: ...`` and ``IMPRESSION: ...`` lines (None when both are empty)."""
        parts = [
            f"{name}: {body}"
            for name, body in zip(TEXT_SECTIONS, (self.findings, self.impression), strict=True)
            if body.strip()
        ]
        return "\n".join(parts) or None

    @property
    def held_out(self) -> bool:
        return self.id is not None and self.id >= HELD_OUT_FROM

    @property
    def split(self) -> str | None:
        """``dev``, ``held-out`` or None (a report without a number)."""
        if self.id is None:
            return None
        return "held-out" if self.held_out else "dev"

    @property
    def key(self) -> str:
        """The id references and cases know the report by: the ``uId`` (else ``IU<number>``)."""
        return self.uid or (f"IU{self.id}" if self.id is not None else "")


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


def _tar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            if member.isfile() and member.name.lower().endswith(".xml"):
                handle = archive.extractfile(member)
                if handle is not None:
                    yield member.name, handle.read()


def iter_report_xml(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """``(where, xml bytes)`` of each report in a tar archive, a folder of XML or one XML file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.xml"))
        if not files:
            raise InputError(f"{path}: no *.xml report files in this folder")
        for file in files:
            yield str(file), file.read_bytes()
    elif not path.exists():
        raise InputError(f"IU X-ray reports not found: {path}")
    elif path.name.lower().endswith(".xml"):
        yield str(path), path.read_bytes()
    else:
        try:
            for name, data in _tar_members(path):
                yield f"{path}:{name}", data
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise InputError(f"{path}: not a readable tar archive of report XML: {exc}") from exc


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def parse_report_xml(data: bytes, where: str = "") -> IUReport:
    """One report from its XML document; ``where`` (``…/1.xml``) names it in errors and gives
    its number when the ``uId`` has none."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(f"{where or 'report'}: not well-formed XML: {exc}") from exc
    sections = {
        (node.get("Label") or "").upper(): _clean(node.text) for node in root.iter("AbstractText")
    }
    mesh = tuple(_clean(m.text) for m in root.iter("major") if _clean(m.text))
    uid_node = root.find("uId")
    uid = (uid_node.get("id") or "").strip() if uid_node is not None else ""
    number = _UID_NUMBER.search(uid) or _FILE_NUMBER.search(where)
    images = tuple(img.get("id") or "" for img in root.iter("parentImage") if img.get("id"))
    return IUReport(
        id=int(number.group(1)) if number else None,
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        mesh_major=mesh,
        uid=uid,
        images=images,
        where=where,
    )


def read_reports(source: str | Path | None = None) -> list[IUReport]:
    """Every report of an archive (default: torchxrayvision's), folder or file, sorted by number."""
    path = Path(source) if source is not None else default_archive()
    reports = [parse_report_xml(data, where) for where, data in iter_report_xml(path)]
    reports.sort(key=lambda r: (r.id is None, r.id or 0, r.uid))
    return reports


def split_reports(reports: Iterable[IUReport]) -> tuple[list[IUReport], list[IUReport]]:
    """(development reports, held-out reports): numbers below / from :data:`HELD_OUT_FROM`."""
    dev, held = [], []
    for report in reports:
        if report.id is None:
            raise InputError(
                f"{report.where or report.uid}: the report has no number (uId CXR<n> or file "
                "<n>.xml), so it belongs to neither split"
            )
        (held if report.held_out else dev).append(report)
    return dev, held


# --- MeSH patterns ----------------------------------------------------------------------------

Pattern = tuple[str, tuple[str, ...]]  # (heading, required qualifiers), lower case


def split_term(term: str) -> tuple[str, list[str]]:
    """``'Opacity/lung/base/left'`` → ``('opacity', ['lung', 'base', 'left'])`` (lower case)."""
    head, *qualifiers = [" ".join(part.lower().split()) for part in term.split("/")]
    return head, [q for q in qualifiers if q]


def parse_pattern(text: str) -> Pattern:
    head, qualifiers = split_term(str(text))
    return head, tuple(qualifiers)


def pattern_matches(pattern: Pattern, head: str, qualifiers: Collection[str]) -> bool:
    return head == pattern[0] and all(q in qualifiers for q in pattern[1])


# --- the mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalLabel:
    """An evaluation label: the MeSH patterns that make it true, the PadChest labels that hit it,
    and what eval references call it (``reference``, refined by qualifiers)."""

    name: str
    mesh: tuple[Pattern, ...]
    padchest: frozenset[str]
    reference: str | None = None
    refine: tuple[tuple[Pattern, str], ...] = ()

    def matches(self, head: str, qualifiers: Collection[str]) -> bool:
        return any(pattern_matches(p, head, qualifiers) for p in self.mesh)

    def in_mesh(self, terms: Sequence[str]) -> bool:
        """Whether any MeSH major term of a report matches one of this label's patterns."""
        return any(self.matches(*split_term(term)) for term in terms)

    def predicted(self, labels: Mapping[str, str], *, uncertain_as_present: bool) -> bool:
        """Whether the labeler's statuses predict this label."""
        accepted = {"present", "uncertain"} if uncertain_as_present else {"present"}
        return any(labels.get(label) in accepted for label in self.padchest)

    def reference_label(self, head: str, qualifiers: Collection[str]) -> str | None:
        """The PadChest label a reference gets for a term of this group."""
        for pattern, label in self.refine:
            if pattern_matches(pattern, head, qualifiers):
                return label
        return self.reference


@dataclass(frozen=True)
class MeshTerm:
    """One MeSH major term read as a PadChest finding (``label`` None: no counterpart)."""

    term: str
    label: str | None
    locations: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocationRules:
    """How MeSH qualifiers become PadChest locations (the mapping's ``locations`` section)."""

    sides: tuple[str, ...] = ()
    sites: Mapping[str, str] = field(default_factory=dict)
    heading_sites: Mapping[str, str] = field(default_factory=dict)
    known: frozenset[str] | None = None  # PadChest locations; None keeps every side-site pair

    def locations(self, head: str, qualifiers: Sequence[str]) -> tuple[str, ...]:
        """PadChest ``loc ...`` labels of a term's qualifiers (module docstring of the YAML)."""
        sites = [self.sites[q] for q in qualifiers if q in self.sites]
        if head in self.heading_sites and self.heading_sites[head] not in sites:
            sites.insert(0, self.heading_sites[head])
        sides = [q for q in qualifiers if q in self.sides]
        if "diffuse" in qualifiers and "bilateral" in sides:
            return ("loc diffuse bilateral",)
        side = sides[0] if sides else None
        side_used = side is None
        out: list[str] = []
        for site in sites:
            whole = None
            if side is not None:
                for candidate in (f"loc {side} {site}", f"loc {site} {side}"):
                    if self.known is None or candidate in self.known:
                        whole = candidate
                        break
            if whole is not None:
                out.append(whole)
                side_used = True
            else:
                out.append(f"loc {site}")
        if not side_used and side is not None:
            out.append(f"loc {side}")
        if self.known is not None:
            out = [loc for loc in out if loc in self.known]
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class MeshMapping:
    """The evaluation labels, the reference-only terms, the location rules, the skip list."""

    labels: tuple[EvalLabel, ...]
    skip_terms: frozenset[str]
    reference_only: tuple[tuple[Pattern, str], ...] = ()
    location_rules: LocationRules = field(default_factory=LocationRules)

    def gold(self, report: IUReport) -> set[str]:
        """The evaluation labels the report's MeSH terms make true."""
        return {label.name for label in self.labels if label.in_mesh(report.mesh_major)}

    def indexed(self, report: IUReport) -> bool:
        """Whether MeSH says anything about the report (some term, none of ``skip_terms``)."""
        heads = {split_term(t)[0] for t in report.mesh_major}
        return bool(heads) and not heads & self.skip_terms

    def usable(self, report: IUReport) -> bool:
        """Indexed and with some text: the reports an evaluation counts."""
        return bool(report.text.strip()) and self.indexed(report)

    def map_term(self, term: str) -> MeshTerm:
        """One MeSH term as a PadChest finding with locations.

        The label comes from the first group whose patterns match (its ``refine`` first, then its
        ``reference``), else from ``reference_only``; ``normal`` gets no locations.
        """
        head, qualifiers = split_term(term)
        groups = tuple(g.name for g in self.labels if g.matches(head, qualifiers))
        label = None
        for group in self.labels:
            if group.name in groups:
                label = group.reference_label(head, qualifiers)
                if label is not None:
                    break
        if label is None and not groups:
            label = next(
                (lab for p, lab in self.reference_only if pattern_matches(p, head, qualifiers)),
                None,
            )
        if label is None or label == NORMAL:
            return MeshTerm(term, label, (), groups)
        return MeshTerm(term, label, self.location_rules.locations(head, qualifiers), groups)


def _patterns(entry: Mapping[str, Any], key: str, where: str) -> list[tuple[Pattern, str]]:
    table = entry.get(key) or {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: `{key}` must map MeSH patterns to PadChest labels")
    return [(parse_pattern(p), str(label)) for p, label in table.items()]


def mapping_from_dict(
    data: Mapping[str, Any],
    known_labels: Iterable[str] = (),
    known_locations: Iterable[str] | None = None,
) -> MeshMapping:
    """Build a mapping from the YAML document; unknown PadChest labels are an error."""
    known = set(known_labels)

    def check(labels: Iterable[str], where: str) -> None:
        unknown = sorted(set(labels) - known) if known else []
        if unknown:
            raise ConfigError(f"{MAPPING_FILE}/{where}: unknown PadChest labels {unknown}")

    labels = []
    for name, entry in (data.get("labels") or {}).items():
        where = f"labels/{name}"
        mesh = tuple(parse_pattern(p) for p in entry.get("mesh") or [])
        padchest = list(entry.get("padchest") or [])
        if not mesh or not padchest:
            raise ConfigError(f"{MAPPING_FILE}/{where}: needs `mesh` and `padchest`")
        reference = entry["reference"] if "reference" in entry else padchest[0]
        refine = tuple(_patterns(entry, "refine", where))
        check([*padchest, *([reference] if reference else []), *(lab for _, lab in refine)], where)
        labels.append(EvalLabel(str(name), mesh, frozenset(padchest), reference, refine))
    reference_only = tuple(_patterns(data, "reference_only", "reference_only"))
    check((lab for _, lab in reference_only), "reference_only")
    rules = data.get("locations") or {}
    location_rules = LocationRules(
        sides=tuple(str(s).lower() for s in rules.get("sides") or ()),
        sites={str(k).lower(): str(v) for k, v in (rules.get("sites") or {}).items()},
        heading_sites={
            str(k).lower(): str(v) for k, v in (rules.get("heading_sites") or {}).items()
        },
        known=frozenset(known_locations) if known_locations is not None else None,
    )
    skip = frozenset(" ".join(str(t).lower().split()) for t in data.get("skip_reports_with") or [])
    return MeshMapping(tuple(labels), skip, reference_only, location_rules)


@cache
def load_mapping() -> MeshMapping:
    """The packaged MeSH → PadChest mapping, checked against the PadChest ontology."""
    from ..report.ontology import load_ontology

    text = resources.files("explainmyxray.datasets.data").joinpath(MAPPING_FILE)
    data = yaml.safe_load(text.read_text(encoding="utf-8"))
    ontology = load_ontology()
    return mapping_from_dict(data, {t.label for t in ontology.terms()}, ontology.locations)
