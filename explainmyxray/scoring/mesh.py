"""IU X-ray MeSH "major" terms → PadChest labels and locations.

An IU X-ray (OpenI) report is indexed with terms such as
``Opacity/lung/base/left/streaky`` or ``Diaphragm/right/elevated/mild``: a heading, then
qualifiers (anatomy, side, descriptors, severity). :func:`map_mesh_term` turns one into a PadChest
finding label with PadChest locations:

1. **Qualified rules** first (:data:`QUALIFIED`): a heading whose meaning depends on a qualifier
   (``Lung/hypoinflation`` → ``hypoexpansion``, ``Aorta/tortuous`` → ``aortic elongation``,
   ``Fractures, Bone/ribs/healed`` → ``callus rib fracture``). The first rule of the heading whose
   qualifiers are all present wins.
2. Else the **heading table** (:data:`HEADINGS`): ``Cicatrix`` → ``fibrotic band``,
   ``Airspace Disease`` → ``alveolar pattern``...
3. Else the term is **unmapped** (``label`` None): headings with no PadChest counterpart
   (``Epicardial Fat``, ``Sarcoidosis``...) or anatomy with no finding qualifier.

``normal`` maps to ``normal``; ``No Indexing`` to nothing. Locations: the anatomical qualifiers
(``upper lobe``, ``base``, ``hilum``, ``ribs``...) become the PadChest site, combined with the side
(``right``/``left``/``bilateral``) into one PadChest location where PadChest has the pair
(``loc right upper lobe``, ``loc basal bilateral``), else listed as separate locations. Severity
and shape words (``mild``, ``round``, ``streaky``) are dropped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

NORMAL = "normal"
NOT_INDEXED = "no indexing"

HEADINGS: dict[str, str] = {
    "normal": "normal",
    "opacity": "infiltrates",
    "cardiomegaly": "cardiomegaly",
    "calcinosis": "calcified densities",
    "pulmonary atelectasis": "atelectasis",
    "calcified granuloma": "calcified granuloma",
    "cicatrix": "fibrotic band",
    "pleural effusion": "pleural effusion",
    "airspace disease": "alveolar pattern",
    "atherosclerosis": "aortic atheromatosis",
    "density": "increased density",
    "catheters, indwelling": "catheter",
    "deformity": "thoracic cage deformation",
    "scoliosis": "scoliosis",
    "nodule": "nodule",
    "implanted medical device": "electrical device",
    "granulomatous disease": "granuloma",
    "surgical instruments": "suture material",
    "aorta, thoracic": "aortic elongation",
    "fractures, bone": "fracture",
    "technical quality of image unsatisfactory": "suboptimal study",
    "pulmonary congestion": "hilar congestion",
    "osteophyte": "vertebral degenerative changes",
    "infiltrate": "infiltrates",
    "spondylosis": "vertebral degenerative changes",
    "emphysema": "emphysema",
    "granuloma": "granuloma",
    "pulmonary disease, chronic obstructive": "copd signs",
    "hernia, hiatal": "hiatal hernia",
    "pulmonary edema": "pulmonary edema",
    "pneumonia": "pneumonia",
    "pulmonary emphysema": "emphysema",
    "kyphosis": "kyphosis",
    "foreign bodies": "abnormal foreign body",
    "arthritis": "non axial articular degenerative changes",
    "diaphragmatic eventration": "diaphragmatic eventration",
    "consolidation": "consolidation",
    "tube, inserted": "catheter",
    "bone diseases, metabolic": "osteopenia",
    "spinal fusion": "osteosynthesis material",
    "pneumothorax": "pneumothorax",
    "pulmonary fibrosis": "pulmonary fibrosis",
    "stents": "endoprosthesis",
    "mass": "mass",
    "lung diseases, interstitial": "interstitial pattern",
    "heart failure": "heart insufficiency",
    "sclerosis": "sclerotic bone lesion",
    "volume loss": "volume loss",
    "hypertension, pulmonary": "pulmonary hypertension",
    "pericardial effusion": "pericardial effusion",
    "sutures": "suture material",
    "nipple shadow": "nipple shadow",
    "cavitation": "cavitation",
    "pneumonectomy": "surgery lung",
    "blister": "bullas",
    "mastectomy": "mastectomy",
    "bronchiectasis": "bronchiectasis",
    "hyperostosis, diffuse idiopathic skeletal": "axial hyperostosis",
    "breast implants": "mammary prosthesis",
    "cysts": "cyst",
    "subcutaneous emphysema": "subcutaneous emphysema",
    "pneumoperitoneum": "pneumoperitoneo",
    "funnel chest": "pectum excavatum",
    "hydropneumothorax": "hydropneumothorax",
    "aortic aneurysm": "aortic aneurysm",
    "bullous emphysema": "bullas",
    "pectus carinatum": "pectum carinatum",
    "lymph nodes": "adenopathy",
    "osteoporosis": "osteoporosis",
    "tuberculosis": "tuberculosis",
    "hemothorax": "pleural effusion",
    "fibrosis": "pulmonary fibrosis",
    "expansile bone lesions": "lytic bone lesion",
    "colonic interposition": "chilaiditi sign",
    "hemopneumothorax": "hydropneumothorax",
    "mediastinal emphysema": "pneumomediastinum",
    "heart ventricles": "cardiomegaly",
    "heart atria": "cardiomegaly",
}

# (heading, qualifiers that must all be present, label); first match per heading wins.
QUALIFIED: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("lung", ("hypoinflation",), "hypoexpansion"),
    ("lung", ("hyperdistention",), "hyperinflated lung"),
    ("lung", ("azygos lobe",), "azygos lobe"),
    ("lung", ("hilum", "lymph nodes", "enlarged"), "adenopathy"),
    ("lung", ("hilum", "enlarged"), "hilar enlargement"),
    ("lung", ("hilum", "prominent"), "hilar enlargement"),
    ("lung", ("interstitial",), "interstitial pattern"),
    ("lung", ("bronchovascular",), "bronchovascular markings"),
    ("markings", ("bronchovascular",), "bronchovascular markings"),
    ("markings", ("interstitial",), "interstitial pattern"),
    ("markings", (), "bronchovascular markings"),
    ("opacity", ("interstitial",), "interstitial pattern"),
    ("infiltrate", ("interstitial",), "interstitial pattern"),
    ("aorta", ("tortuous",), "aortic elongation"),
    ("aorta", ("enlarged",), "aortic button enlargement"),
    ("aorta", ("prominent",), "aortic button enlargement"),
    ("aorta", (), None),
    ("aorta, thoracic", ("tortuous",), "aortic elongation"),
    ("aorta, thoracic", ("enlarged",), "aortic button enlargement"),
    ("aorta, thoracic", ("prominent",), "aortic button enlargement"),
    ("diaphragm", ("elevated",), "hemidiaphragm elevation"),
    ("diaphragm", ("flattened",), "flattened diaphragm"),
    ("diaphragm", (), None),
    ("cardiac shadow", ("enlarged",), "cardiomegaly"),
    ("cardiac shadow", ("borderline",), "cardiomegaly"),
    ("cardiac shadow", (), None),
    ("heart ventricles", ("enlarged",), "cardiomegaly"),
    ("heart ventricles", ("prominent",), "cardiomegaly"),
    ("heart atria", ("enlarged",), "cardiomegaly"),
    ("heart atria", ("prominent",), "cardiomegaly"),
    ("mediastinum", ("lymph nodes",), "adenopathy"),
    ("mediastinum", ("enlarged",), "mediastinal enlargement"),
    ("mediastinum", ("prominent",), "mediastinal enlargement"),
    ("mediastinum", (), None),
    ("thickening", ("pleura", "apex"), "apical pleural thickening"),
    ("thickening", ("pleura",), "pleural thickening"),
    ("thickening", ("interstitial",), "interstitial pattern"),
    ("thickening", ("bronchovascular",), "bronchovascular markings"),
    ("thickening", ("bronchi",), "bronchovascular markings"),
    ("thickening", (), None),
    ("spine", ("degenerative",), "vertebral degenerative changes"),
    ("thoracic vertebrae", ("degenerative",), "vertebral degenerative changes"),
    ("lumbar vertebrae", ("degenerative",), "vertebral degenerative changes"),
    ("cervical vertebrae", ("degenerative",), "vertebral degenerative changes"),
    ("bone and bones", ("degenerative",), "vertebral degenerative changes"),
    ("spine", (), None),
    ("thoracic vertebrae", (), None),
    ("shoulder", ("degenerative",), "non axial articular degenerative changes"),
    ("humerus", ("degenerative",), "non axial articular degenerative changes"),
    ("ribs", ("degenerative",), "non axial articular degenerative changes"),
    ("arthritis", ("spine",), "vertebral degenerative changes"),
    ("arthritis", ("thoracic vertebrae",), "vertebral degenerative changes"),
    ("arthritis", ("cervical vertebrae",), "vertebral degenerative changes"),
    ("costophrenic angle", ("blunted",), "costophrenic angle blunting"),
    ("costophrenic angle", (), None),
    ("sulcus", ("blunted",), "costophrenic angle blunting"),
    ("sulcus", (), None),
    ("pleura", ("blunted",), "costophrenic angle blunting"),
    ("pleura", ("abnormal",), "pleural thickening"),
    ("shift", ("mediastinum",), "mediastinal shift"),
    ("shift", ("trachea",), "tracheal shift"),
    ("shift", ("heart",), "mediastinal shift"),
    ("pulmonary artery", ("enlarged",), "pulmonary artery enlargement"),
    ("pulmonary artery", ("prominent",), "pulmonary artery enlargement"),
    ("lymph nodes", ("enlarged",), "adenopathy"),
    ("calcinosis", ("lymph nodes",), "calcified adenopathy"),
    ("calcinosis", ("aorta",), "aortic atheromatosis"),
    ("calcinosis", ("aorta, thoracic",), "aortic atheromatosis"),
    ("calcinosis", ("hilum",), "calcified adenopathy"),
    ("calcinosis", ("pleura",), "calcified pleural thickening"),
    ("calcinosis", ("aortic valve",), "heart valve calcified"),
    ("calcinosis", ("mitral valve",), "heart valve calcified"),
    ("calcinosis", ("coronary vessels",), "calcified densities"),
    ("fractures, bone", ("ribs", "healed"), "callus rib fracture"),
    ("fractures, bone", ("ribs",), "rib fracture"),
    ("fractures, bone", ("thoracic vertebrae",), "vertebral fracture"),
    ("fractures, bone", ("lumbar vertebrae",), "vertebral fracture"),
    ("fractures, bone", ("spine",), "vertebral fracture"),
    ("fractures, bone", ("clavicle",), "clavicle fracture"),
    ("fractures, bone", ("humerus",), "humeral fracture"),
    ("deformity", ("thoracic vertebrae", "anterior"), "vertebral anterior compression"),
    ("deformity", ("thoracic vertebrae",), "vertebral compression"),
    ("deformity", ("lumbar vertebrae",), "vertebral compression"),
    ("implanted medical device", ("aortic valve",), "artificial aortic heart valve"),
    ("implanted medical device", ("mitral valve",), "artificial mitral heart valve"),
    ("implanted medical device", ("humerus",), "humeral prosthesis"),
    ("implanted medical device", ("shoulder",), "humeral prosthesis"),
    ("implanted medical device", ("cervical vertebrae",), "osteosynthesis material"),
    ("tube, inserted", ("trachea",), "endotracheal tube"),
    ("tube, inserted", ("trachea, carina",), "endotracheal tube"),
    ("tube, inserted", ("abdomen",), "nsg tube"),
    ("tube, inserted", ("thorax",), "chest drain tube"),
    ("sclerosis", ("pleura",), "pleural thickening"),
    ("cysts", ("humerus",), "lytic bone lesion"),
)

SIDES = ("right", "left", "bilateral")
SITES: dict[str, str] = {
    "upper lobe": "upper lobe",
    "lower lobe": "lower lobe",
    "middle lobe": "middle lobe",
    "base": "basal",
    "apex": "apical",
    "hilum": "hilar",
    "lingula": "lingula",
    "costophrenic angle": "costophrenic angle",
    "sulcus": "costophrenic angle",
    "cardiophrenic angle": "cardiophrenic angle",
    "retrocardiac": "retrocardiac",
    "paratracheal": "paratracheal",
    "mediastinum": "mediastinum",
    "ribs": "rib",
    "thoracic vertebrae": "dorsal vertebrae",
    "lumbar vertebrae": "lumbar vertebrae",
    "cervical vertebrae": "cervical vertebrae",
    "spine": "column",
    "clavicle": "clavicle",
    "humerus": "humerus",
    "shoulder": "shoulder",
    "aorta": "aortic",
    "aorta, thoracic": "aortic",
    "heart": "cardiac",
    "pleura": "pleural",
    "diaphragm": "diaphragm",
    "trachea": "tracheal",
    "trachea, carina": "tracheal",
    "bronchi": "bronchi",
    "pulmonary artery": "pulmonary artery",
    "abdomen": "infradiaphragm",
    "neck": "cervical",
}
# Sites a heading already implies (Diaphragm/right → loc diaphragm + loc right).
HEADING_SITES: dict[str, str] = {
    "diaphragm": "diaphragm",
    "costophrenic angle": "costophrenic angle",
    "sulcus": "costophrenic angle",
    "aorta": "aortic",
    "aorta, thoracic": "aortic",
    "mediastinum": "mediastinum",
    "thoracic vertebrae": "dorsal vertebrae",
    "spine": "column",
}


@dataclass(frozen=True)
class MeshMapping:
    """One MeSH major term read as a PadChest finding (``label`` None: no counterpart)."""

    term: str
    label: str | None
    locations: tuple[str, ...] = ()


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def mesh_label(heading: str, qualifiers: Collection[str]) -> str | None:
    """The PadChest label of a MeSH heading with its qualifiers (None: no counterpart)."""
    for rule_heading, needed, label in QUALIFIED:
        if rule_heading == heading and all(q in qualifiers for q in needed):
            return label
    return HEADINGS.get(heading)


def mesh_locations(
    heading: str, qualifiers: Collection[str], known: Collection[str] | None = None
) -> tuple[str, ...]:
    """PadChest ``loc ...`` labels of the qualifiers; ``known`` (the PadChest locations) decides
    which side-site pairs exist as one location (without it, every pair is kept whole)."""
    sites = [SITES[q] for q in qualifiers if q in SITES]
    if heading in HEADING_SITES and HEADING_SITES[heading] not in sites:
        sites.insert(0, HEADING_SITES[heading])
    sides = [q for q in qualifiers if q in SIDES]
    if "diffuse" in qualifiers and "bilateral" in sides:
        return ("loc diffuse bilateral",)
    out: list[str] = []
    side = sides[0] if sides else None
    side_used = side is None
    for site in sites:
        whole = None
        if side is not None:
            for candidate in (f"loc {side} {site}", f"loc {site} {side}"):
                if known is None or candidate in known:
                    whole = candidate
                    break
        if whole is not None:
            out.append(whole)
            side_used = True
        else:
            out.append(f"loc {site}")
    if not side_used and side is not None:
        out.append(f"loc {side}")
    if known is not None:
        out = [loc for loc in out if loc in known]
    return tuple(dict.fromkeys(out))


def map_mesh_term(term: str, known_locations: Collection[str] | None = None) -> MeshMapping:
    """Map one MeSH major term (``Heading/qualifier/...``); see the module docstring."""
    parts = [_normal(p) for p in term.split("/")]
    heading, qualifiers = parts[0], [p for p in parts[1:] if p]
    if heading == NOT_INDEXED:
        return MeshMapping(term, None)
    label = mesh_label(heading, qualifiers)
    if label is None or label == NORMAL:
        return MeshMapping(term, label)
    return MeshMapping(term, label, mesh_locations(heading, qualifiers, known_locations))
