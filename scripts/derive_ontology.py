"""Derive the PadChest ontology JSON from the PadChest label table shipped with torchxrayvision.

Usage::

    python scripts/derive_ontology.py [--table PATH] [--out PATH]

Reads ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz`` (160,861 images) and writes
``explainmyxray/report/data/padchest_ontology.json``: every label of the ``Labels`` column
(findings and differential diagnoses) and of the ``Localizations`` column (anatomic locations),
each with its image count, kind, English synonyms and parents, plus the map to the 14 CheXpert
labels.

What comes from the table: the label sets and their counts. What is curated here by hand: the
split of the 193 labels into 174 findings and 19 differential diagnoses (the table does not say
which is which; the 19 are the diagnoses of the PadChest paper's label tree), the synonyms, the
parents that are not lexical, and the CheXpert map. Lexical parents (``loculated pleural
effusion`` -> ``pleural effusion``) are derived: a term's parents are the largest other terms of
the same table whose words are a proper subset of its words.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from explainmyxray.report.ontology import (  # noqa: E402
    CHEXPERT_LABELS,
    LOCATION_PREFIX,
    lookup_key,
    normalize_text,
)

TABLE_NAME = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
OUT = REPO / "explainmyxray" / "report" / "data" / "padchest_ontology.json"
PUBLISHED = {"findings": 174, "diagnoses": 19, "locations": 104}

# The differential diagnoses of the PadChest label tree (Bustos et al., Medical Image Analysis
# 2020, "differential diagnosis" branch).
DIAGNOSES = (
    "pneumonia",
    "atypical pneumonia",
    "tuberculosis",
    "tuberculosis sequelae",
    "lung metastasis",
    "lymphangitis carcinomatosa",
    "lepidic adenocarcinoma",
    "pulmonary fibrosis",
    "post radiotherapy changes",
    "asbestosis signs",
    "emphysema",
    "copd signs",
    "heart insufficiency",
    "respiratory distress",
    "pulmonary hypertension",
    "pulmonary artery hypertension",
    "pulmonary venous hypertension",
    "pulmonary edema",
    "bone metastasis",
)

# Labels that describe the study rather than the chest.
STUDY_LEVEL = ("normal", "unchanged", "exclude", "suboptimal study")

SYNONYMS: dict[str, tuple[str, ...]] = {
    # study level
    "normal": (
        "no finding",
        "no findings",
        "no acute findings",
        "no abnormality",
        "no acute cardiopulmonary abnormality",
        "no acute cardiopulmonary process",
        "unremarkable",
        "normal study",
        "normal chest",
        "normal chest radiograph",
        "within normal limits",
    ),
    "unchanged": ("stable", "no change", "no interval change", "unchanged appearance"),
    "exclude": ("excluded", "non diagnostic"),
    "suboptimal study": (
        "suboptimal",
        "limited study",
        "suboptimal technique",
        "poor inspiration",
        "rotated",
        "rotated study",
        "poor quality",
        "underpenetrated",
    ),
    "chronic changes": ("chronic lung changes", "chronic pulmonary changes"),
    # heart and mediastinum
    "cardiomegaly": (
        "enlarged heart",
        "enlarged cardiac silhouette",
        "cardiac enlargement",
        "heart enlargement",
        "increased cardiothoracic ratio",
        "large heart",
        "enlarged heart size",
        "cardiac silhouette enlargement",
    ),
    "mediastinal enlargement": (
        "widened mediastinum",
        "mediastinal widening",
        "enlarged mediastinum",
        "enlarged cardiomediastinum",
        "enlarged cardiomediastinal silhouette",
        "widening of the mediastinum",
    ),
    "superior mediastinal enlargement": (
        "widened superior mediastinum",
        "superior mediastinal widening",
        "upper mediastinal widening",
    ),
    "mediastinal mass": ("mediastinal tumor", "mediastinal tumour", "mediastinal lesion"),
    "mediastinal shift": ("shift of the mediastinum", "mediastinal deviation"),
    "tracheal shift": ("tracheal deviation", "deviated trachea", "trachea deviation"),
    "pericardial effusion": ("pericardial fluid",),
    "aortic elongation": (
        "elongated aorta",
        "tortuous aorta",
        "aortic tortuosity",
        "unfolded aorta",
        "unfolding of the aorta",
        "aortic unfolding",
        "ectatic aorta",
    ),
    "descendent aortic elongation": (
        "descending aortic elongation",
        "elongated descending aorta",
        "tortuous descending aorta",
    ),
    "ascendent aortic elongation": (
        "ascending aortic elongation",
        "elongated ascending aorta",
        "tortuous ascending aorta",
    ),
    "supra aortic elongation": ("supraaortic elongation", "elongated supra aortic vessels"),
    "aortic button enlargement": (
        "prominent aortic knob",
        "enlarged aortic knob",
        "aortic knob enlargement",
        "prominent aortic arch",
    ),
    "aortic atheromatosis": (
        "aortic atherosclerosis",
        "atherosclerotic aorta",
        "aortic calcification",
        "calcified aorta",
        "calcified aortic knob",
        "aortic arch calcification",
        "atheromatous aorta",
    ),
    "aortic aneurysm": ("aneurysm of the aorta", "aortic dilatation"),
    "right sided aortic arch": ("right aortic arch", "right-sided aortic arch"),
    "heart valve calcified": (
        "valvular calcification",
        "calcified heart valve",
        "mitral annular calcification",
    ),
    "mediastinic lipomatosis": ("mediastinal lipomatosis", "mediastinal fat"),
    "goiter": ("goitre", "thyroid enlargement", "enlarged thyroid", "intrathoracic goiter"),
    "dextrocardia": ("right sided heart",),
    "esophagic dilatation": (
        "esophageal dilatation",
        "dilated esophagus",
        "oesophageal dilatation",
    ),
    "hiatal hernia": ("hiatus hernia", "hiatal hernia"),
    "pneumomediastinum": ("mediastinal emphysema",),
    "azygoesophageal recess shift": ("azygo-oesophageal recess displacement",),
    "azygos lobe": ("azygos fissure",),
    # hila and vessels
    "hilar enlargement": (
        "enlarged hilum",
        "enlarged hila",
        "hilar prominence",
        "prominent hila",
        "hilar fullness",
        "prominent hilum",
    ),
    "vascular hilar enlargement": ("enlarged pulmonary hila", "vascular hilar prominence"),
    "hilar congestion": (
        "vascular congestion",
        "pulmonary vascular congestion",
        "pulmonary venous congestion",
        "hilar vascular congestion",
    ),
    "pulmonary artery enlargement": (
        "enlarged pulmonary artery",
        "dilated pulmonary artery",
        "prominent pulmonary artery",
    ),
    "vascular redistribution": (
        "cephalization",
        "upper lobe diversion",
        "pulmonary vascular redistribution",
    ),
    "central vascular redistribution": ("central redistribution",),
    "lung vascular paucity": (
        "oligemia",
        "reduced vascular markings",
        "paucity of vascular markings",
    ),
    "bronchovascular markings": (
        "increased bronchovascular markings",
        "prominent bronchovascular markings",
        "accentuated bronchovascular markings",
        "increased lung markings",
    ),
    "adenopathy": (
        "lymphadenopathy",
        "enlarged lymph nodes",
        "enlarged lymph node",
        "hilar adenopathy",
        "mediastinal adenopathy",
    ),
    "calcified adenopathy": ("calcified lymph nodes", "calcified lymph node", "calcified nodes"),
    "calcified mediastinal adenopathy": ("calcified mediastinal lymph nodes",),
    "end on vessel": ("vessel seen end on", "end-on vessel"),
    # lungs: opacities
    "infiltrates": (
        "infiltrate",
        "infiltration",
        "pulmonary infiltrate",
        "lung infiltrate",
        "opacity",
        "lung opacity",
        "pulmonary opacity",
        "opacities",
        "airspace opacity",
        "parenchymal opacity",
    ),
    "alveolar pattern": (
        "alveolar opacity",
        "airspace disease",
        "alveolar infiltrate",
        "air space disease",
        "alveolar filling",
    ),
    "interstitial pattern": (
        "interstitial opacity",
        "interstitial markings",
        "interstitial infiltrate",
        "increased interstitial markings",
        "interstitial disease",
        "interstitial changes",
    ),
    "reticular interstitial pattern": ("reticular pattern", "reticular opacities", "reticulation"),
    "reticulonodular interstitial pattern": (
        "reticulonodular pattern",
        "reticulonodular opacities",
    ),
    "ground glass pattern": (
        "ground glass opacity",
        "ground glass opacities",
        "ggo",
        "ground glass",
        "hazy opacity",
    ),
    "miliary opacities": ("miliary pattern", "miliary nodules"),
    "consolidation": (
        "airspace consolidation",
        "lung consolidation",
        "pulmonary consolidation",
        "consolidations",
        "dense consolidation",
    ),
    "air bronchogram": ("air bronchograms",),
    "increased density": (
        "density",
        "increased opacity",
        "hyperdensity",
        "area of increased density",
    ),
    "kerley lines": ("septal lines", "kerley b lines", "interlobular septal thickening"),
    "fibrotic band": (
        "fibrous band",
        "fibrotic bands",
        "linear scarring",
        "scarring",
        "scar",
        "parenchymal band",
        "linear fibrosis",
    ),
    "pseudonodule": ("pseudo nodule",),
    "nodule": ("lung nodule", "pulmonary nodule", "nodular opacity", "solitary pulmonary nodule"),
    "multiple nodules": ("several nodules", "numerous nodules"),
    "pulmonary mass": ("lung mass", "lung tumor", "lung tumour", "pulmonary lesion"),
    "mass": ("mass lesion", "tumor", "tumour"),
    "granuloma": ("granulomas",),
    "calcified granuloma": (
        "calcified nodule",
        "calcified granulomas",
        "calcified pulmonary nodule",
    ),
    "calcified densities": ("calcifications", "calcification", "calcified density"),
    "cavitation": ("cavity", "cavitary lesion", "cavitated lesion", "cavitating lesion"),
    "abscess": ("lung abscess", "pulmonary abscess"),
    "cyst": ("lung cyst", "pulmonary cyst"),
    "air fluid level": ("air-fluid level", "fluid level"),
    # lungs: volume and aeration
    "atelectasis": ("collapse", "lung collapse", "atelectatic changes", "atelectases"),
    "laminar atelectasis": (
        "plate atelectasis",
        "discoid atelectasis",
        "linear atelectasis",
        "platelike atelectasis",
        "plate like atelectasis",
        "subsegmental atelectasis",
        "bibasilar atelectasis",
    ),
    "lobar atelectasis": ("lobar collapse", "lobe collapse"),
    "segmental atelectasis": ("segmental collapse",),
    "total atelectasis": ("complete lung collapse", "total lung collapse", "whole lung collapse"),
    "round atelectasis": ("rounded atelectasis",),
    "atelectasis basal": ("basal atelectasis", "basilar atelectasis", "bibasal atelectasis"),
    "volume loss": ("loss of volume", "lung volume loss", "volume reduction"),
    "hypoexpansion": (
        "low lung volumes",
        "poor inspiration effort",
        "hypoinflation",
        "low volumes",
        "underinflation",
        "decreased lung volumes",
    ),
    "hypoexpansion basal": ("basal hypoexpansion", "basal hypoventilation"),
    "air trapping": ("trapped air",),
    "hyperinflated lung": (
        "hyperinflation",
        "hyperinflated lungs",
        "hyperexpansion",
        "hyperexpanded lungs",
        "overinflation",
    ),
    "flattened diaphragm": (
        "diaphragmatic flattening",
        "flat diaphragm",
        "flattening of the diaphragm",
        "flattened hemidiaphragms",
    ),
    "bullas": ("bulla", "bullae", "bullous disease", "emphysematous bulla"),
    "bronchiectasis": ("bronchiectases", "bronchial dilatation"),
    # pleura
    "pleural effusion": (
        "effusion",
        "pleural fluid",
        "hydrothorax",
        "pleural effusions",
        "fluid in the pleural space",
        "effusions",
    ),
    "loculated pleural effusion": (
        "loculated effusion",
        "encapsulated pleural effusion",
        "loculated fluid",
    ),
    "loculated fissural effusion": (
        "fissural effusion",
        "pseudotumor",
        "vanishing tumor",
        "interlobar effusion",
    ),
    "costophrenic angle blunting": (
        "blunting of the costophrenic angle",
        "blunted costophrenic angle",
        "costophrenic blunting",
        "blunted costophrenic angles",
        "blunting of costophrenic angles",
        "cp angle blunting",
    ),
    "pleural thickening": ("pleural scarring", "thickened pleura", "pleural thickenings"),
    "apical pleural thickening": (
        "apical cap",
        "apical pleural cap",
        "pleural cap",
        "apical pleural scarring",
    ),
    "calcified pleural thickening": ("pleural calcification", "calcified pleura"),
    "pleural plaques": ("pleural plaque",),
    "calcified pleural plaques": ("calcified pleural plaque",),
    "pleural mass": ("pleural tumor", "pleural tumour", "pleural lesion"),
    "fissure thickening": ("fissural thickening", "thickened fissure"),
    "minor fissure thickening": ("thickened minor fissure", "horizontal fissure thickening"),
    "major fissure thickening": ("thickened major fissure", "oblique fissure thickening"),
    "pneumothorax": ("ptx", "collapsed lung air", "pleural air", "air in the pleural space"),
    "hydropneumothorax": ("hydro pneumothorax", "pneumohydrothorax"),
    "empyema": ("pleural empyema", "pyothorax"),
    # diaphragm and abdomen
    "hemidiaphragm elevation": (
        "elevated hemidiaphragm",
        "raised hemidiaphragm",
        "elevation of the hemidiaphragm",
        "diaphragmatic elevation",
        "elevated diaphragm",
    ),
    "diaphragmatic eventration": ("eventration", "eventration of the diaphragm"),
    "pneumoperitoneo": (
        "pneumoperitoneum",
        "free air under the diaphragm",
        "free intraperitoneal air",
        "subdiaphragmatic free air",
    ),
    "chilaiditi sign": ("chilaiditi", "interposition of colon"),
    # bones
    "scoliosis": ("spinal curvature", "scoliotic curvature"),
    "kyphosis": ("thoracic kyphosis", "kyphotic deformity"),
    "thoracic cage deformation": ("chest wall deformity", "thoracic deformity"),
    "pectum excavatum": ("pectus excavatum", "funnel chest"),
    "pectum carinatum": ("pectus carinatum", "pigeon chest"),
    "vertebral degenerative changes": (
        "spondylosis",
        "degenerative spine",
        "spinal degenerative changes",
        "degenerative changes of the spine",
        "degenerative changes of the thoracic spine",
        "osteophytes",
        "spondylotic changes",
    ),
    "non axial articular degenerative changes": (
        "degenerative joint disease",
        "osteoarthritis",
        "shoulder arthrosis",
    ),
    "axial hyperostosis": ("dish", "diffuse idiopathic skeletal hyperostosis"),
    "osteopenia": ("demineralization", "low bone density", "bone demineralization"),
    "osteoporosis": ("osteoporotic bones",),
    "fracture": ("fractures", "bone fracture", "broken bone"),
    "rib fracture": ("rib fractures", "fractured rib", "broken rib"),
    "callus rib fracture": (
        "healed rib fracture",
        "old rib fracture",
        "healing rib fracture",
        "rib fracture callus",
        "healed rib fractures",
        "old rib fractures",
    ),
    "vertebral fracture": ("spine fracture", "spinal fracture", "fractured vertebra"),
    "vertebral compression": (
        "compression fracture",
        "vertebral compression fracture",
        "vertebral collapse",
    ),
    "vertebral anterior compression": (
        "vertebral wedging",
        "wedge compression",
        "anterior wedging",
        "wedge fracture",
        "vertebral body wedging",
    ),
    "clavicle fracture": ("clavicular fracture", "fractured clavicle", "broken clavicle"),
    "humeral fracture": ("humerus fracture", "fractured humerus"),
    "sclerotic bone lesion": ("sclerotic lesion", "bone island", "sclerotic bone lesions"),
    "lytic bone lesion": ("lytic lesion", "osteolytic lesion", "lytic bone lesions"),
    "blastic bone lesion": ("blastic lesion", "osteoblastic lesion"),
    "bone metastasis": (
        "bone metastases",
        "skeletal metastases",
        "osseous metastases",
        "osseous metastasis",
    ),
    "cervical rib": ("cervical ribs",),
    "costochondral junction hypertrophy": (
        "costochondral calcification",
        "costal cartilage calcification",
    ),
    "sternoclavicular junction hypertrophy": ("sternoclavicular hypertrophy",),
    "subacromial space narrowing": ("narrowed subacromial space",),
    # soft tissues
    "subcutaneous emphysema": ("surgical emphysema", "subcutaneous air", "soft tissue emphysema"),
    "soft tissue mass": ("soft-tissue mass",),
    "nipple shadow": ("nipple shadows", "nipple marker"),
    "gynecomastia": ("gynaecomastia",),
    "mastectomy": ("mastectomy changes", "post mastectomy"),
    "breast mass": ("breast lesion",),
    "calcified fibroadenoma": ("breast calcification",),
    "obesity": ("obese habitus", "large body habitus"),
    # devices and surgery
    "nsg tube": (
        "nasogastric tube",
        "ng tube",
        "feeding tube",
        "nasogastric",
        "orogastric tube",
        "og tube",
        "enteric tube",
    ),
    "endotracheal tube": ("ett", "et tube", "intubation", "endotracheal intubation"),
    "tracheostomy tube": ("tracheostomy", "tracheostomy cannula", "trach tube"),
    "central venous catheter": ("central line", "cvc", "central venous line", "venous catheter"),
    "central venous catheter via jugular vein": (
        "jugular central venous catheter",
        "internal jugular catheter",
        "ij line",
        "jugular line",
        "internal jugular line",
    ),
    "central venous catheter via subclavian vein": (
        "subclavian central venous catheter",
        "subclavian line",
        "subclavian catheter",
    ),
    "central venous catheter via umbilical vein": (
        "umbilical venous catheter",
        "uvc",
        "umbilical catheter",
    ),
    "reservoir central venous catheter": (
        "port a cath",
        "portacath",
        "port-a-cath",
        "implanted port",
        "venous port",
        "chest port",
    ),
    "catheter": ("line",),
    "chest drain tube": (
        "chest tube",
        "chest drain",
        "pleural drain",
        "thoracostomy tube",
        "pleural catheter",
    ),
    "ventriculoperitoneal drain tube": ("ventriculoperitoneal shunt", "vp shunt"),
    "gastrostomy tube": ("gastrostomy", "peg tube", "peg"),
    "nephrostomy tube": ("nephrostomy",),
    "double j stent": ("double j catheter", "ureteral stent", "jj stent"),
    "pacemaker": ("cardiac pacemaker", "pacemaker device", "pacer", "pacing device"),
    "dual chamber device": ("dual chamber pacemaker", "dual lead pacemaker"),
    "single chamber device": ("single chamber pacemaker", "single lead pacemaker"),
    "dai": (
        "icd",
        "implantable cardioverter defibrillator",
        "defibrillator",
        "aicd",
        "implantable defibrillator",
    ),
    "electrical device": (
        "cardiac device",
        "implanted electronic device",
        "cardiac implantable device",
    ),
    "artificial heart valve": (
        "prosthetic heart valve",
        "valve replacement",
        "prosthetic valve",
        "heart valve prosthesis",
        "valve prosthesis",
    ),
    "artificial mitral heart valve": (
        "prosthetic mitral valve",
        "mitral valve replacement",
        "mitral valve prosthesis",
    ),
    "artificial aortic heart valve": (
        "prosthetic aortic valve",
        "aortic valve replacement",
        "aortic valve prosthesis",
        "tavi",
        "tavr",
    ),
    "aortic endoprosthesis": (
        "aortic stent graft",
        "aortic stent",
        "endovascular aortic graft",
        "evar",
    ),
    "endoprosthesis": ("stent", "vascular stent"),
    "prosthesis": ("prosthetic device",),
    "mammary prosthesis": ("breast implant", "breast implants", "breast prosthesis"),
    "humeral prosthesis": (
        "shoulder prosthesis",
        "shoulder arthroplasty",
        "humeral head prosthesis",
    ),
    "sternotomy": (
        "median sternotomy",
        "sternotomy wires",
        "sternal wires",
        "sternal sutures",
        "post sternotomy",
    ),
    "suture material": (
        "surgical clips",
        "surgical sutures",
        "suture",
        "staples",
        "surgical staples",
        "clips",
    ),
    "osteosynthesis material": (
        "orthopedic hardware",
        "fixation hardware",
        "internal fixation",
        "osteosynthesis",
        "fixation plate",
        "orthopaedic hardware",
    ),
    "bone cement": ("vertebroplasty", "kyphoplasty", "cement"),
    "metal": ("metallic material", "metallic density", "metallic object"),
    "abnormal foreign body": ("foreign body", "intrathoracic foreign body"),
    "external foreign body": ("external object", "external artifact", "overlying artifact"),
    "surgery": (
        "postoperative changes",
        "postsurgical changes",
        "post surgical changes",
        "surgical changes",
    ),
    "surgery lung": (
        "lung resection",
        "lobectomy",
        "pneumonectomy",
        "wedge resection",
        "postoperative lung",
    ),
    "surgery heart": ("cardiac surgery", "heart surgery", "cabg", "coronary artery bypass graft"),
    "surgery breast": ("breast surgery",),
    "surgery neck": ("neck surgery", "thyroidectomy"),
    "surgery humeral": ("humeral surgery", "shoulder surgery"),
    "post radiotherapy changes": (
        "radiation changes",
        "post radiation changes",
        "radiation fibrosis",
        "radiotherapy changes",
        "radiation pneumonitis",
    ),
    # diagnoses
    "pneumonia": (
        "bronchopneumonia",
        "lobar pneumonia",
        "infection",
        "pneumonic consolidation",
        "infectious process",
        "lung infection",
        "pulmonary infection",
        "aspiration pneumonia",
    ),
    "atypical pneumonia": (
        "viral pneumonia",
        "interstitial pneumonia",
        "covid pneumonia",
        "covid 19 pneumonia",
    ),
    "tuberculosis": ("tb", "pulmonary tuberculosis", "active tuberculosis", "miliary tuberculosis"),
    "tuberculosis sequelae": (
        "old tuberculosis",
        "post tuberculous changes",
        "healed tuberculosis",
        "prior tuberculosis",
        "old tb",
        "tuberculous sequelae",
    ),
    "lung metastasis": (
        "lung metastases",
        "pulmonary metastases",
        "pulmonary metastasis",
        "metastatic disease",
        "metastases",
    ),
    "lymphangitis carcinomatosa": (
        "lymphangitic carcinomatosis",
        "lymphangitic spread",
        "carcinomatous lymphangitis",
    ),
    "lepidic adenocarcinoma": (
        "bronchioloalveolar carcinoma",
        "bronchoalveolar carcinoma",
        "adenocarcinoma",
    ),
    "pulmonary fibrosis": (
        "fibrosis",
        "lung fibrosis",
        "interstitial fibrosis",
        "fibrotic changes",
        "interstitial lung disease",
        "ild",
        "honeycombing",
        "usual interstitial pneumonia",
    ),
    "asbestosis signs": ("asbestosis", "asbestos exposure", "asbestos related pleural disease"),
    "emphysema": (
        "emphysematous changes",
        "pulmonary emphysema",
        "centrilobular emphysema",
        "panlobular emphysema",
        "paraseptal emphysema",
    ),
    "copd signs": (
        "copd",
        "chronic obstructive pulmonary disease",
        "signs of copd",
        "chronic obstructive lung disease",
        "copd changes",
    ),
    "heart insufficiency": (
        "heart failure",
        "congestive heart failure",
        "chf",
        "cardiac failure",
        "cardiac insufficiency",
        "cardiac decompensation",
        "fluid overload",
    ),
    "respiratory distress": (
        "ards",
        "acute respiratory distress syndrome",
        "respiratory distress syndrome",
        "hyaline membrane disease",
    ),
    "pulmonary hypertension": ("pulmonary arterial hypertension pattern",),
    "pulmonary artery hypertension": ("pulmonary arterial hypertension", "pah"),
    "pulmonary venous hypertension": (
        "venous hypertension",
        "postcapillary pulmonary hypertension",
    ),
    "pulmonary edema": (
        "edema",
        "oedema",
        "pulmonary oedema",
        "interstitial edema",
        "alveolar edema",
        "lung edema",
        "fluid in the lungs",
        "interstitial oedema",
    ),
}

LOCATION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "loc left": ("left side", "left sided", "left hemithorax side", "on the left"),
    "loc right": ("right side", "right sided", "on the right"),
    "loc bilateral": ("both sides", "bilaterally", "both lungs", "both", "bilateral lungs"),
    "loc cardiac": ("heart", "cardiac silhouette", "cardiac region"),
    "loc pleural": ("pleura", "pleural space"),
    "loc aortic": ("aorta",),
    "loc basal": (
        "base",
        "lung base",
        "lung bases",
        "basilar",
        "bases",
        "lower zone",
        "lower zones",
    ),
    "loc basal bilateral": (
        "bibasal",
        "bibasilar",
        "both bases",
        "bilateral bases",
        "bilateral basal",
    ),
    "loc hilar": ("hilum", "hila", "hilar region", "hilar regions"),
    "loc costophrenic angle": (
        "costophrenic angles",
        "cp angle",
        "costophrenic sinus",
        "costophrenic recess",
    ),
    "loc hemithorax": ("hemithoraces", "hemithorax region"),
    "loc apical": ("apex", "apices", "lung apex", "lung apices", "apical region"),
    "loc rib": ("ribs", "costal"),
    "loc tracheal": ("trachea",),
    "loc diaphragm": ("diaphragm", "hemidiaphragm", "hemidiaphragms", "diaphragmatic"),
    "loc central": ("centrally", "central region"),
    "loc bronchi": ("bronchus", "bronchial"),
    "loc right upper lobe": ("rul", "right upper lung lobe"),
    "loc perihilar": ("parahilar", "perihilar region"),
    "loc mediastinum": ("mediastinal",),
    "loc lobar": ("lobe", "lobes", "lobar distribution"),
    "loc superior cave vein": (
        "superior vena cava",
        "svc",
        "cavoatrial junction",
        "superior cava vein",
    ),
    "loc dorsal vertebrae": (
        "thoracic spine",
        "thoracic vertebrae",
        "dorsal spine",
        "thoracic vertebra",
        "dorsal vertebra",
    ),
    "loc retrocardiac": ("retrocardiac region", "behind the heart"),
    "loc left lower lobe": ("lll", "left lower lung lobe"),
    "loc left costophrenic angle": ("left cp angle", "left costophrenic sinus"),
    "loc middle lobe": ("right middle lobe", "rml", "middle lobe right"),
    "loc subsegmental": ("subsegmental region",),
    "loc infradiaphragm": (
        "infradiaphragmatic",
        "below the diaphragm",
        "subdiaphragmatic",
        "upper abdomen",
    ),
    "loc column": ("spine", "spinal column", "vertebral column", "vertebrae", "spinal"),
    "loc subclavian vein": ("subclavian",),
    "loc left upper lobe": ("lul", "left upper lung lobe"),
    "loc bone": ("bones", "osseous", "skeleton", "bony thorax"),
    "loc right lower lobe": ("rll", "right lower lung lobe"),
    "loc right costophrenic angle": ("right cp angle", "right costophrenic sinus"),
    "loc middle lung field": (
        "mid zone",
        "middle zone",
        "mid lung",
        "mid lung zone",
        "middle lung zone",
        "mid lung field",
    ),
    "loc diffuse bilateral": ("diffuse", "diffusely", "widespread", "diffuse bilateral lungs"),
    "loc upper lobe": ("upper lobes",),
    "loc lower lung field": ("lower lung zone", "lower lung", "lower lungs"),
    "loc pectoral": ("pectoral region", "chest wall pectoral"),
    "loc lingula": ("lingular", "lingular segment"),
    "loc supra aortic": ("supraaortic", "supra aortic vessels"),
    "loc axilar": ("axilla", "axillary", "axillary region"),
    "loc humerus": ("humeral", "humeri"),
    "loc lower lobe": ("lower lobes",),
    "loc nipple": ("nipples",),
    "loc cervical": ("neck", "cervical region"),
    "loc fissure": ("fissures", "interlobar fissure", "fissural"),
    "loc lung field": ("lung", "lungs", "lung fields", "lung parenchyma", "parenchyma"),
    "loc posterior rib": ("posterior ribs", "posterior arch of rib"),
    "loc infrahilar": ("infrahilar region",),
    "loc hilar bilateral": ("bihilar", "both hila", "bilateral hila", "bilateral hilar"),
    "loc superior mediastinum": ("upper mediastinum",),
    "loc gastric chamber": ("stomach", "gastric bubble", "gastric air bubble", "gastric fundus"),
    "loc minor fissure": ("horizontal fissure",),
    "loc paratracheal": ("paratracheal region", "right paratracheal stripe"),
    "loc soft tissue": ("soft tissues", "soft tissue of chest wall"),
    "loc upper lung field": (
        "upper zone",
        "upper zones",
        "upper lung zone",
        "upper lung",
        "upper lungs",
    ),
    "loc humeral head": ("head of humerus", "humeral heads"),
    "loc clavicle": ("clavicles", "clavicular"),
    "loc anterior rib": ("anterior ribs", "anterior arch of rib"),
    "loc aortic button": ("aortic knob", "aortic arch", "aortic knuckle"),
    "loc cardiophrenic angle": ("cardiophrenic angles", "cardiophrenic recess"),
    "loc subcutaneous": ("subcutaneous tissue", "subcutaneous tissues"),
    "loc paravertebral": ("paraspinal", "paravertebral region"),
    "loc shoulder": ("shoulders", "shoulder joint"),
    "loc suprahilar": ("suprahilar region",),
    "loc lower mediastinum": ("inferior mediastinum",),
    "loc pulmonary artery": ("pulmonary arteries", "pulmonary trunk", "main pulmonary artery"),
    "loc paracardiac": ("paracardiac region", "heart border", "cardiac border"),
    "loc hypochondrium": ("hypochondria",),
    "loc esophageal": ("esophagus", "oesophagus", "oesophageal"),
    "loc lumbar vertebrae": ("lumbar spine", "lumbar vertebra"),
    "loc scapula": ("scapulae", "scapular", "shoulder blade"),
    "loc brachiocephalic veins": ("brachiocephalic vein", "innominate vein", "brachiocephalic"),
    "loc peribronchi": ("peribronchial",),
    "loc major fissure": ("oblique fissure",),
    "loc subpleural": ("subpleural region", "peripheral subpleural"),
    "loc aortopulmonary window": ("ap window", "aorto pulmonary window"),
    "loc right hypochondrium": ("right upper quadrant", "ruq"),
    "loc cervical vertebrae": ("cervical spine", "cervical vertebra"),
    "loc gallbladder": ("gall bladder",),
    "loc glenohumeral joint": ("glenohumeral", "shoulder glenohumeral joint"),
    "loc thymus": ("thymic",),
    "loc extrapleural": ("extrapleural space",),
    "loc anterior mediastinum": ("prevascular mediastinum",),
    "loc intersomatic space": ("intervertebral space", "disc space", "intervertebral disc space"),
    "loc paramediastinum": ("paramediastinal",),
    "loc humeral neck": ("neck of humerus", "surgical neck of humerus"),
    "loc left hypochondrium": ("left upper quadrant", "luq"),
    "loc rotator cuff": ("rotator cuff tendons",),
    "loc bilateral costophrenic angle": (
        "both costophrenic angles",
        "bilateral costophrenic angles",
        "both cp angles",
    ),
    "loc acromioclavicular joint": ("ac joint", "acromioclavicular"),
    "loc coronary": ("coronary arteries", "coronary artery"),
    "loc extrapulmonary": ("extrapulmonary region",),
    "loc epigastric": ("epigastrium",),
    "loc costoesternal": ("costosternal", "costosternal junction"),
    "loc supraspisnous": ("supraspinous", "supraspinatus"),
    "loc rib cartilage": ("costal cartilage", "costal cartilages"),
    "loc middle mediastinum": ("visceral mediastinum",),
    "loc posterior mediastinum": ("paravertebral mediastinum",),
    "loc airways": ("airway", "central airways"),
    "loc supradiaphragm": ("supradiaphragmatic", "above the diaphragm"),
    "loc carotid artery": ("carotid", "carotid arteries"),
}

# Parents that the lexical rule cannot see (or that it would get wrong: EXCLUDED_PARENTS).
CURATED_PARENTS: dict[str, tuple[str, ...]] = {
    "alveolar pattern": ("infiltrates",),
    "interstitial pattern": ("infiltrates",),
    "consolidation": ("alveolar pattern",),
    "air bronchogram": ("alveolar pattern",),
    "ground glass pattern": ("interstitial pattern",),
    "miliary opacities": ("interstitial pattern",),
    "kerley lines": ("interstitial pattern",),
    "vertebral compression": ("vertebral fracture",),
    "pleural plaques": ("pleural thickening",),
    "loculated fissural effusion": ("pleural effusion",),
    "empyema": ("pleural effusion",),
    "hydropneumothorax": ("pneumothorax", "pleural effusion"),
    "bullas": ("emphysema",),
    "pectum excavatum": ("thoracic cage deformation",),
    "pectum carinatum": ("thoracic cage deformation",),
    "scoliosis": ("thoracic cage deformation",),
    "kyphosis": ("thoracic cage deformation",),
    "osteoporosis": ("osteopenia",),
    "abscess": ("cavitation",),
    "mastectomy": ("surgery breast",),
    "sternotomy": ("surgery",),
    "endoprosthesis": ("prosthesis",),
    "artificial heart valve": ("prosthesis",),
    "pacemaker": ("electrical device",),
    "dai": ("electrical device",),
    "dual chamber device": ("pacemaker",),
    "single chamber device": ("pacemaker",),
    "nipple shadow": ("pseudonodule",),
    "end on vessel": ("pseudonodule",),
    "diaphragmatic eventration": ("hemidiaphragm elevation",),
    "asbestosis signs": ("pulmonary fibrosis",),
    "goiter": ("superior mediastinal enlargement",),
    # locations
    "loc upper lobe": ("loc lobar",),
    "loc lower lobe": ("loc lobar",),
    "loc middle lobe": ("loc lobar", "loc right"),
    "loc lingula": ("loc left upper lobe",),
    "loc humeral head": ("loc humerus",),
    "loc humeral neck": ("loc humerus",),
    "loc rotator cuff": ("loc shoulder",),
    "loc glenohumeral joint": ("loc shoulder",),
    "loc acromioclavicular joint": ("loc shoulder",),
    "loc supraspisnous": ("loc shoulder",),
    "loc dorsal vertebrae": ("loc column",),
    "loc cervical vertebrae": ("loc column",),
    "loc lumbar vertebrae": ("loc column",),
    "loc intersomatic space": ("loc column",),
    "loc column": ("loc bone",),
    "loc rib": ("loc bone",),
    "loc clavicle": ("loc bone",),
    "loc scapula": ("loc bone",),
    "loc humerus": ("loc bone",),
    "loc suprahilar": ("loc hilar",),
    "loc infrahilar": ("loc hilar",),
    "loc perihilar": ("loc hilar",),
    "loc retrocardiac": ("loc cardiac",),
    "loc paracardiac": ("loc cardiac",),
    "loc cardiophrenic angle": ("loc cardiac",),
    "loc coronary": ("loc cardiac",),
    "loc subpleural": ("loc pleural",),
    "loc extrapleural": ("loc pleural",),
    "loc costophrenic angle": ("loc pleural",),
    "loc fissure": ("loc pleural",),
    "loc gastric chamber": ("loc infradiaphragm",),
    "loc gallbladder": ("loc infradiaphragm",),
    "loc hypochondrium": ("loc infradiaphragm",),
    "loc epigastric": ("loc infradiaphragm",),
    "loc thymus": ("loc anterior mediastinum",),
    "loc paratracheal": ("loc tracheal",),
    "loc tracheal": ("loc airways",),
    "loc bronchi": ("loc airways",),
    "loc peribronchi": ("loc bronchi",),
    "loc aortic button": ("loc aortic",),
    "loc aortopulmonary window": ("loc mediastinum",),
    "loc paramediastinum": ("loc mediastinum",),
    "loc esophageal": ("loc mediastinum",),
    "loc superior cave vein": ("loc mediastinum",),
    "loc subcutaneous": ("loc soft tissue",),
    "loc pectoral": ("loc soft tissue",),
    "loc nipple": ("loc soft tissue",),
    "loc axilar": ("loc soft tissue",),
    "loc costoesternal": ("loc rib cartilage",),
    "loc lobar": ("loc lung field",),
    "loc upper lung field": ("loc lung field",),
    "loc middle lung field": ("loc lung field",),
    "loc lower lung field": ("loc lung field",),
    "loc apical": ("loc lung field",),
    "loc basal": ("loc lung field",),
}

# (child, parent) pairs the word-subset rule proposes but that are not a hierarchy.
EXCLUDED_PARENTS: set[tuple[str, str]] = {
    ("subcutaneous emphysema", "emphysema"),
    ("supra aortic elongation", "aortic elongation"),
    ("loc supra aortic", "loc aortic"),
    ("loc pulmonary artery", "loc aortic"),
}

# CheXpert label -> PadChest labels that count as a mention of it, following the mention and
# unmention lists of the CheXpert labeler (stanfordmlgroup/chexpert-labeler, phrases/); the choices
# are documented label by label in docs/chexpert_mapping.md.
CHEXPERT: dict[str, tuple[str, ...]] = {
    "No Finding": ("normal",),
    "Enlarged Cardiomediastinum": (
        "mediastinal enlargement",
        "superior mediastinal enlargement",
    ),
    "Cardiomegaly": ("cardiomegaly",),
    "Lung Opacity": (
        "infiltrates",
        "alveolar pattern",
        "interstitial pattern",
        "reticular interstitial pattern",
        "reticulonodular interstitial pattern",
        "ground glass pattern",
        "miliary opacities",
        "increased density",
        "kerley lines",
        "lymphangitis carcinomatosa",
        "fibrotic band",
    ),
    "Lung Lesion": (
        "nodule",
        "multiple nodules",
        "pulmonary mass",
        "mass",
        "mediastinal mass",
        "pleural mass",
        "cavitation",
        "abscess",
        "cyst",
        "lepidic adenocarcinoma",
    ),
    "Edema": (
        "pulmonary edema",
        "heart insufficiency",
        "hilar congestion",
    ),
    "Consolidation": (
        "consolidation",
        "air bronchogram",
    ),
    "Pneumonia": (
        "pneumonia",
        "atypical pneumonia",
    ),
    "Atelectasis": (
        "atelectasis",
        "laminar atelectasis",
        "lobar atelectasis",
        "segmental atelectasis",
        "total atelectasis",
        "round atelectasis",
        "atelectasis basal",
    ),
    "Pneumothorax": (
        "pneumothorax",
        "hydropneumothorax",
    ),
    "Pleural Effusion": (
        "pleural effusion",
        "loculated pleural effusion",
        "loculated fissural effusion",
        "hydropneumothorax",
        "empyema",
    ),
    "Pleural Other": (
        "pleural thickening",
        "apical pleural thickening",
        "calcified pleural thickening",
        "pulmonary fibrosis",
    ),
    "Fracture": (
        "fracture",
        "rib fracture",
        "callus rib fracture",
        "vertebral fracture",
        "vertebral compression",
        "vertebral anterior compression",
        "clavicle fracture",
        "humeral fracture",
    ),
    "Support Devices": (
        "nsg tube",
        "endotracheal tube",
        "tracheostomy tube",
        "central venous catheter",
        "central venous catheter via jugular vein",
        "central venous catheter via subclavian vein",
        "central venous catheter via umbilical vein",
        "reservoir central venous catheter",
        "catheter",
        "chest drain tube",
        "pacemaker",
        "dual chamber device",
        "single chamber device",
        "dai",
        "electrical device",
        "artificial heart valve",
        "artificial mitral heart valve",
        "artificial aortic heart valve",
        "ventriculoperitoneal drain tube",
        "gastrostomy tube",
        "nephrostomy tube",
        "double j stent",
        "aortic endoprosthesis",
        "endoprosthesis",
        "osteosynthesis material",
        "humeral prosthesis",
    ),
}


def _parse_list(cell: object) -> list[str] | None:
    if not isinstance(cell, str):
        return None
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return None
    return [normalize_text(v) for v in value if isinstance(v, str)]


def count_labels(table: Path) -> tuple[Counter[str], Counter[str], dict[str, int]]:
    """Image counts of every label and every location (each counted once per image)."""
    import pandas as pd

    frame = pd.read_csv(table, usecols=["ImageID", "Labels", "Localizations"], low_memory=False)
    labels: Counter[str] = Counter()
    locations: Counter[str] = Counter()
    unparsable = 0
    for cell in frame["Labels"]:
        parsed = _parse_list(cell)
        if parsed is None:
            unparsable += 1
            continue
        labels.update({label for label in parsed if label})
    for cell in frame["Localizations"]:
        parsed = _parse_list(cell)
        if parsed:
            locations.update({label for label in parsed if label})
    stats = {"images": len(frame), "unparsable_label_cells": unparsable}
    return labels, locations, stats


def lexical_parents(labels: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each label's largest other labels whose (singular) words are a proper subset of its own."""
    words = {label: frozenset(lookup_key(label).split()) for label in labels}
    parents: dict[str, tuple[str, ...]] = {}
    for label, own in words.items():
        candidates = [o for o, w in words.items() if o != label and w < own]
        maximal = [c for c in candidates if not any(words[c] < words[d] for d in candidates)]
        parents[label] = tuple(sorted(p for p in maximal if (label, p) not in EXCLUDED_PARENTS))
    return parents


def build(table: Path) -> dict[str, object]:
    labels, locations, stats = count_labels(table)
    missing = [d for d in DIAGNOSES if d not in labels]
    if missing:
        raise SystemExit(f"diagnoses not in the table: {missing}")
    bad_locations = [loc for loc in locations if not loc.startswith(LOCATION_PREFIX)]
    if bad_locations:
        raise SystemExit(f"location labels without the 'loc ' prefix: {bad_locations}")
    finding_labels = [label for label in labels if label not in DIAGNOSES]
    condition_parents = lexical_parents(labels)
    location_parents = lexical_parents(locations)

    def entries(names: Iterable[str], counts: Counter[str], kind: str) -> list[dict[str, object]]:
        synonyms = LOCATION_SYNONYMS if kind == "location" else SYNONYMS
        lexical = location_parents if kind == "location" else condition_parents
        out = []
        for name in sorted(names, key=lambda n: (-counts[n], n)):
            parents = dict.fromkeys([*lexical.get(name, ()), *CURATED_PARENTS.get(name, ())])
            own = {lookup_key(name)}
            if kind == "location":
                own.add(lookup_key(name[len(LOCATION_PREFIX) :]))
            out.append(
                {
                    "label": name,
                    "kind": kind,
                    "synonyms": [s for s in synonyms.get(name, ()) if lookup_key(s) not in own],
                    "parents": list(parents),
                    "count": counts[name],
                }
            )
        return out

    findings = entries(finding_labels, labels, "finding")
    diagnoses = entries(DIAGNOSES, labels, "diagnosis")
    location_entries = entries(locations, locations, "location")
    known = {e["label"] for e in [*findings, *diagnoses, *location_entries]}
    _check_references(known, labels, locations)
    _check_unique_names([*findings, *diagnoses], location_entries)

    counts = {
        "findings": len(findings),
        "diagnoses": len(diagnoses),
        "locations": len(location_entries),
    }
    return {
        "metadata": {
            "source": f"torchxrayvision/data/{TABLE_NAME}",
            "derived_by": "scripts/derive_ontology.py",
            "images": stats["images"],
            "unparsable_label_cells": stats["unparsable_label_cells"],
            "counts": counts,
            "published_counts": PUBLISHED,
            "count_meaning": "number of images whose Labels (or Localizations) list the term",
            "normalisation": "lower case; runs of non-alphanumeric characters become one space; "
            "the empty label is dropped",
            "method": (
                "The table's Labels column holds 193 distinct labels after normalisation "
                "(174 findings + 19 differential diagnoses, as published); it does not mark "
                "which are diagnoses, so the 19 diagnoses are the curated list of the PadChest "
                "paper's 'differential diagnosis' branch (DIAGNOSES in the script). The "
                "Localizations column holds the 104 'loc ...' labels as published. Parents: "
                "lexical (largest other labels whose words are a proper subset of the label's) "
                "plus a curated reconstruction of the PadChest tree; synonyms and the CheXpert "
                "map are hand-curated."
            ),
            "study_level": list(STUDY_LEVEL),
            "sentence_level_variants": "LabelsLocalizationsBySentence also writes side variants "
            "such as 'pleural effusion left side'; they are the same "
            "labels with a laterality and are not separate terms",
        },
        "findings": findings,
        "diagnoses": diagnoses,
        "locations": location_entries,
        "chexpert": {label: list(CHEXPERT[label]) for label in CHEXPERT_LABELS},
    }


def _check_references(known: set[str], labels: Counter[str], locations: Counter[str]) -> None:
    unknown = [n for n in [*SYNONYMS, *CURATED_PARENTS] if n not in known]
    unknown += [n for n in LOCATION_SYNONYMS if n not in locations]
    unknown += [p for ps in CURATED_PARENTS.values() for p in ps if p not in known]
    unknown += [n for ns in CHEXPERT.values() for n in ns if n not in labels]
    if unknown:
        raise SystemExit(f"curated tables name labels that are not in the table: {unknown}")
    if set(CHEXPERT) != set(CHEXPERT_LABELS):
        raise SystemExit("the CheXpert map must cover exactly the 14 CheXpert labels")


def _check_unique_names(conditions: list[dict], locations: list[dict]) -> None:
    """No spelling may name two terms of one table (findings+diagnoses, or locations)."""
    for group in (conditions, locations):
        owner: dict[str, str] = {}
        for entry in group:
            names = [entry["label"], *entry["synonyms"]]
            if entry["kind"] == "location":
                names.append(entry["label"][len(LOCATION_PREFIX) :])
            for name in names:
                key = lookup_key(name)
                if owner.setdefault(key, entry["label"]) != entry["label"]:
                    raise SystemExit(f"{name!r} names both {owner[key]!r} and {entry['label']!r}")


def default_table() -> Path:
    import torchxrayvision

    return Path(torchxrayvision.__file__).parent / "data" / TABLE_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=None, help="PadChest label table (.csv.gz)")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the JSON")
    args = parser.parse_args(argv)
    document = build(args.table or default_table())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = document["metadata"]["counts"]  # type: ignore[index]
    print(f"wrote {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
