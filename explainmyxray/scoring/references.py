"""Reference sets: what the radiologist (or the data set) says about each image.

Every format is read into one model, :class:`Reference`: a key, the findings (label, status,
locations), the reference boxes (label, box in original-image pixels) and the report text.
``findings is None`` means the source says nothing about findings (a box-only table), which is
not the same as ``()`` (a normal study).

Formats (``format=`` name, what the file looks like):

``padchest``
    The PadChest label table (``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv[.gz]``):
    key = ``ImageID`` without its suffix; findings = the ``Labels`` column (leading spaces
    trimmed), each with the ``loc ...`` terms of the sentences of ``LabelsLocalizationsBySentence``
    it occurs in; text = ``Report`` (stemmed Spanish). Rows whose labels are missing or include
    ``exclude`` (report excluded by the PadChest annotators) are skipped.
``iuxray``
    The Indiana University / OpenI report XML (``NLMCXR_reports.tgz``, a folder of ``*.xml``, or
    one ``.xml`` file): each report is keyed by its ``uId`` (``CXR1``, the key of the cases
    ``explainmyxray label`` writes) and by each of its images (``parentImage id``, the image
    file's stem, e.g. ``CXR1_1_IM-0001-3001``); findings = the MeSH ``major`` terms mapped to
    PadChest labels and locations by :mod:`explainmyxray.datasets.iu_xray` (``None`` for a report
    MeSH did not index: no terms, or ``No Indexing``); terms with no PadChest counterpart are listed
    in ``meta["unmapped"]``, all terms in ``meta["mesh"]`` (``; ``-separated); text =
    ``FINDINGS`` and ``IMPRESSION``.
``nih-bbox``
    NIH ChestX-ray14 ``BBox_List_2017.csv[.gz]`` (``Image Index, Finding Label, x, y, w, h``):
    key = image file stem; boxes with the NIH label mapped to PadChest (:data:`NIH_TO_PADCHEST`);
    ``findings`` is None (the table lists only the boxed findings); boxes are in the 1024 x 1024
    pixels of the released images (``image_size``), rescaled to a case's image size when scored.
``jsonl``
    One JSON object per line (``.jsonl``; a ``.json`` file holds one object or a list)::

        {"id": "patient1_view1",
         "findings": [{"label": "pleural effusion", "status": "present",
                       "locations": ["loc left costophrenic angle"]}],
         "boxes": [{"label": "nodule", "x0": 10, "y0": 20, "x1": 50, "y1": 60}],
         "image_size": [1024, 1024],
         "report": "Small left pleural effusion."}

    Only ``id`` is required; ``status`` defaults to ``present``; leave ``findings`` out for a
    box-only reference. Unknown fields are an error.

Matching cases to references
----------------------------
A case's key is its image file name without the image suffix (``/data/00003440_000.png`` →
``00003440_000``; a report-only case read from ``CXR1.txt`` → ``CXR1``); see :func:`case_key`.
:meth:`ReferenceSet.match` looks the key up ignoring case; failing that, it tries the parts of
the key after each ``_``, ``-`` or ``.`` (so a renamed ``nih_00003440_000.png`` still finds
``00003440_000``), longest first.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from explainmyxray.core.case import Box, Case, FindingStatus
from explainmyxray.core.errors import InputError, UsageError
from explainmyxray.core.inputs import IMAGE_SUFFIXES

from .boxes import ReferenceBox, box_from_xywh

if TYPE_CHECKING:
    from explainmyxray.datasets.iu_xray import IUReport, MeshMapping

ReferenceFormat = Literal["padchest", "iuxray", "nih-bbox", "jsonl"]
REFERENCE_FORMATS: tuple[str, ...] = ("padchest", "iuxray", "nih-bbox", "jsonl")

NIH_IMAGE_SIZE = (1024, 1024)
NIH_TO_PADCHEST: dict[str, str] = {
    "Atelectasis": "atelectasis",
    "Cardiomegaly": "cardiomegaly",
    "Effusion": "pleural effusion",
    "Infiltrate": "infiltrates",
    "Infiltration": "infiltrates",
    "Mass": "mass",
    "Nodule": "nodule",
    "Pneumonia": "pneumonia",
    "Pneumothorax": "pneumothorax",
}
_SKIPPED_PADCHEST = frozenset({"exclude"})
_KEY_SEPARATORS = re.compile(r"[_.\-]")
TEXT_SUFFIXES = frozenset({".txt"})


@dataclass(frozen=True)
class ReferenceFinding:
    label: str
    status: FindingStatus = "present"
    locations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reference:
    """What the reference says about one image."""

    case_key: str
    findings: tuple[ReferenceFinding, ...] | None = None
    boxes: tuple[ReferenceBox, ...] = ()
    text: str | None = None
    image_size: tuple[int, int] | None = None
    source: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)

    def present(self) -> list[ReferenceFinding]:
        """The present findings (none when the reference says nothing about findings)."""
        return [f for f in self.findings or () if f.status == "present"]


def candidate_keys(key: str) -> list[str]:
    """``key`` and its parts after each separator, longest first, lower case."""
    key = key.lower()
    out = [key]
    out.extend(key[m.end() :] for m in _KEY_SEPARATORS.finditer(key) if key[m.end() :])
    return out


def image_key(name: str) -> str:
    """A file name without its image suffix (``a.png`` → ``a``, ``b.dcm`` → ``b``) or report
    text suffix (``c.txt`` → ``c``, a sidecar ``d.png.txt`` → ``d``)."""
    path = Path(name)
    if path.suffix.lower() in TEXT_SUFFIXES:
        path = Path(path.stem)
    return path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name


def case_key(case: Case) -> str:
    """The key a case is matched to a reference with: its image file name without suffix."""
    return image_key(case.input_file.name) if case.source or case.file else case.id


class ReferenceSet:
    """References by key; see the module docstring for how cases are matched."""

    def __init__(self, references: Iterable[Reference], format: str, source: str = "") -> None:
        self.format = format
        self.source = source
        self._by_key: dict[str, Reference] = {}
        for ref in references:
            key = ref.case_key.lower()
            previous = self._by_key.get(key)
            self._by_key[key] = ref if previous is None else _merge(previous, ref)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Reference]:
        return iter(self._by_key.values())

    def get(self, key: str) -> Reference | None:
        return self._by_key.get(key.lower())

    def match(self, key: str) -> Reference | None:
        """The reference for a case key: exact (any case), else the longest matching tail."""
        for candidate in candidate_keys(key):
            ref = self._by_key.get(candidate)
            if ref is not None:
                return ref
        return None

    def for_case(self, case: Case) -> Reference | None:
        return self.match(case_key(case))


def _merge(a: Reference, b: Reference) -> Reference:
    """Two rows for one image (e.g. one NIH box per row): findings and boxes together."""
    if a.findings is None and b.findings is None:
        findings = None
    else:
        findings = tuple(dict.fromkeys([*(a.findings or ()), *(b.findings or ())]))
    return Reference(
        case_key=a.case_key,
        findings=findings,
        boxes=a.boxes + b.boxes,
        text=a.text or b.text,
        image_size=a.image_size or b.image_size,
        source=a.source,
        meta={**b.meta, **a.meta},
    )


# --- format detection ----------------------------------------------------------------------


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def detect_format(path: Path) -> str:
    """The reference format of ``path`` from its name and, for CSV tables, its header."""
    name = path.name.lower()
    if path.is_dir() or name.endswith((".tgz", ".tar.gz", ".xml")):
        return "iuxray"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".csv.gz")):
        with _open_text(path) as fh:
            header = next(csv.reader(fh), [])
        if "ImageID" in header and "Labels" in header:
            return "padchest"
        if "Image Index" in header and "Finding Label" in header:
            return "nih-bbox"
        raise InputError(
            f"{path}: a CSV table, but neither PadChest (ImageID, Labels) nor NIH "
            f"BBox_List (Image Index, Finding Label) columns; header is {header[:8]}"
        )
    raise InputError(
        f"{path}: cannot tell the reference format from the name; pass the format "
        f"explicitly (one of {', '.join(REFERENCE_FORMATS)})"
    )


def load_references(
    path: Path | str,
    format: str | None = None,
    *,
    keys: Collection[str] | None = None,
) -> ReferenceSet:
    """Read a reference set. ``format`` None detects it; ``keys`` keeps only references some of
    these case keys would match (a fast filter for the large tables)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"reference {path}: no such file or folder")
    fmt = format or detect_format(path)
    wanted = None if keys is None else {c for k in keys for c in candidate_keys(k)}
    if fmt == "padchest":
        refs: Iterable[Reference] = read_padchest(path, keys=wanted)
    elif fmt == "iuxray":
        refs = read_iu_xray(path)
    elif fmt == "nih-bbox":
        refs = read_nih_boxes(path)
    elif fmt == "jsonl":
        refs = read_jsonl(path)
    else:
        raise UsageError(
            f"unknown reference format {fmt!r}; expected one of {', '.join(REFERENCE_FORMATS)}"
        )
    if wanted is not None:
        refs = (r for r in refs if r.case_key.lower() in wanted)
    return ReferenceSet(refs, fmt, str(path))


# --- PadChest ------------------------------------------------------------------------------

_NAN = re.compile(r"\bnan\b")


def _literal_list(text: str) -> list:
    """A Python-literal list from the PadChest table (``nan`` entries read as None)."""
    text = text.strip()
    if not text or text == "nan":
        return []
    value = ast.literal_eval(_NAN.sub("None", text))
    return value if isinstance(value, list) else []


def padchest_findings(labels_text: str, sentences_text: str) -> list[ReferenceFinding] | None:
    """Findings of one PadChest row, locations attached by sentence (None: no usable labels)."""
    labels = [x.strip() for x in _literal_list(labels_text) if isinstance(x, str) and x.strip()]
    if not labels or _SKIPPED_PADCHEST & set(labels):
        return None
    locations: dict[str, list[str]] = {label: [] for label in labels}
    for sentence in _literal_list(sentences_text):
        terms = [sentence] if isinstance(sentence, str) else (sentence or [])
        terms = [t.strip() for t in terms if isinstance(t, str) and t.strip()]
        locs = [t for t in terms if t.startswith("loc ")]
        for term in terms:
            if term in locations:
                locations[term].extend(x for x in locs if x not in locations[term])
    return [ReferenceFinding(label, "present", tuple(locs)) for label, locs in locations.items()]


def read_padchest(path: Path, *, keys: Collection[str] | None = None) -> Iterator[Reference]:
    """References from the PadChest label table (see the module docstring)."""
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = {"ImageID", "Labels"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{path}: not a PadChest label table; missing {sorted(missing)}")
        for row in reader:
            key = image_key(row["ImageID"])
            if keys is not None and key.lower() not in keys:
                continue
            try:
                findings = padchest_findings(
                    row["Labels"], row.get("LabelsLocalizationsBySentence") or ""
                )
            except (ValueError, SyntaxError) as exc:
                raise InputError(
                    f"{path}: row {reader.line_num} ({row['ImageID']}): unreadable label list: "
                    f"{exc}"
                ) from exc
            if findings is None:
                continue
            yield Reference(
                case_key=key,
                findings=tuple(findings),
                text=(row.get("Report") or "").strip() or None,
                source="padchest",
                meta={
                    "method": row.get("MethodLabel") or "",
                    "projection": row.get("Projection") or "",
                },
            )


# --- NIH boxes -----------------------------------------------------------------------------


def read_nih_boxes(path: Path) -> Iterator[Reference]:
    """References from NIH ``BBox_List_2017`` (one box per row; rows of one image merge)."""
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if header[:2] != ["Image Index", "Finding Label"]:
            raise InputError(f"{path}: not an NIH BBox_List table; header is {header[:6]}")
        for row in reader:
            if not row or not row[0].strip():
                continue
            try:
                x, y, w, h = (float(v) for v in row[2:6])
            except ValueError as exc:
                raise InputError(
                    f"{path}: line {reader.line_num}: expected x, y, w, h numbers, got {row[2:6]}"
                ) from exc
            nih_label = row[1].strip()
            label = NIH_TO_PADCHEST.get(nih_label, nih_label.lower())
            yield Reference(
                case_key=image_key(row[0].strip()),
                boxes=(ReferenceBox(label, box_from_xywh(x, y, w, h)),),
                image_size=NIH_IMAGE_SIZE,
                source="nih-bbox",
            )


# --- JSONL ---------------------------------------------------------------------------------


class _JsonFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    status: FindingStatus = "present"
    locations: list[str] = Field(default_factory=list)


class _JsonBox(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    x0: float
    y0: float
    x1: float
    y1: float


class _JsonReference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    findings: list[_JsonFinding] | None = None
    boxes: list[_JsonBox] = Field(default_factory=list)
    image_size: tuple[int, int] | None = None
    report: str | None = None


def reference_from_json(document: object, where: str) -> Reference:
    """One reference from a parsed JSON object (``where`` names it in error messages)."""
    try:
        doc = _JsonReference.model_validate(document)
        boxes = tuple(
            ReferenceBox(b.label, Box(x0=b.x0, y0=b.y0, x1=b.x1, y1=b.y1)) for b in doc.boxes
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"{where}: not a valid reference: {problems}") from exc
    findings = (
        None
        if doc.findings is None
        else tuple(ReferenceFinding(f.label, f.status, tuple(f.locations)) for f in doc.findings)
    )
    return Reference(
        case_key=image_key(doc.id),
        findings=findings,
        boxes=boxes,
        text=doc.report,
        image_size=doc.image_size,
        source="jsonl",
    )


def read_jsonl(path: Path) -> Iterator[Reference]:
    """References from a JSONL file (or a ``.json`` object / list of objects)."""
    text = path.read_text(encoding="utf-8")
    if path.name.lower().endswith(".json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: invalid JSON: {exc}") from exc
        documents = document if isinstance(document, list) else [document]
        for i, doc in enumerate(documents):
            yield reference_from_json(doc, f"{path}: item {i}")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: invalid JSON: {exc}") from exc
        yield reference_from_json(document, f"{path}:{number}")


# --- IU X-ray ------------------------------------------------------------------------------


def read_iu_xray(path: Path) -> Iterator[Reference]:
    """References from IU X-ray report XML: a ``.tgz``, a folder of ``*.xml`` or one file."""
    from explainmyxray.datasets.iu_xray import iter_report_xml, load_mapping, parse_report_xml

    mapping = load_mapping()
    for where, data in iter_report_xml(path):
        yield from iu_xray_references(parse_report_xml(data, where), mapping)


def iu_xray_references(report: IUReport, mapping: MeshMapping) -> list[Reference]:
    """The references of one IU X-ray report: one per key (``uId`` and each image)."""
    findings: dict[str, ReferenceFinding] | None = None
    unmapped: list[str] = []
    if mapping.indexed(report):
        findings = {}
        for term in report.mesh_major:
            mapped = mapping.map_term(term)
            if mapped.label is None:
                unmapped.append(term)
                continue
            previous = findings.get(mapped.label)
            locations = mapped.locations
            if previous is not None:
                locations = tuple(dict.fromkeys(previous.locations + locations))
            findings[mapped.label] = ReferenceFinding(mapped.label, "present", locations)
    keys = list(dict.fromkeys([*report.images, *([report.key] if report.key else [])]))
    if not keys:
        raise InputError(f"{report.where}: the report names neither images (parentImage) nor a uId")
    meta = {
        "report": report.key,
        "split": report.split or "",
        "mesh": "; ".join(report.mesh_major),
        "unmapped": "; ".join(unmapped),
    }
    return [
        Reference(
            case_key=key,
            findings=None if findings is None else tuple(findings.values()),
            text=report.sectioned_text,
            source="iuxray",
            meta=meta,
        )
        for key in keys
    ]
