"""What the patient declared (the exam, the body region) against the images' modality and body
part: the vocabularies, and the clear contradictions worth telling the patient about."""

from __future__ import annotations

import re
from typing import Final

from records.dicom.results import FileResult, words
from records.problems import Problem, make

DECLARED_MODALITIES: Final[dict[str, frozenset[str]]] = {
    "mri": frozenset({"MR"}),
    "mammogram": frozenset({"MG"}),
    "ct": frozenset({"CT"}),
    "ultrasound": frozenset({"US"}),
    "xray": frozenset({"CR", "DX", "RG", "RF", "XA", "PX", "IO"}),
    "pet": frozenset({"PT", "NM"}),
}
_DECLARED_ALIASES: Final = {
    "mr": "mri",
    "mammography": "mammogram",
    "mammo": "mammogram",
    "us": "ultrasound",
    "x-ray": "xray",
    "x_ray": "xray",
    "radiograph": "xray",
    "pet-ct": "pet",
    "pet_ct": "pet",
    "nuclear": "pet",
}
_FRIENDLY_DECLARED: Final = {
    "mri": "an MRI",
    "mammogram": "a mammogram",
    "ct": "a CT scan",
    "ultrasound": "an ultrasound",
    "xray": "an X-ray",
    "pet": "a PET or nuclear medicine scan",
}
_FRIENDLY_MODALITY: Final = {
    "MR": "an MRI",
    "MG": "a mammogram",
    "CT": "a CT scan",
    "US": "an ultrasound",
    "CR": "an X-ray",
    "DX": "an X-ray",
    "RG": "an X-ray",
    "RF": "an X-ray (fluoroscopy)",
    "XA": "an angiogram",
    "PT": "a PET scan",
    "NM": "a nuclear medicine scan",
    "PX": "a dental X-ray",
    "IO": "a dental X-ray",
}
# Objects that ride along with images and say nothing about the exam type.
_NON_IMAGE_MODALITIES: Final = frozenset({"SR", "PR", "KO", "DOC", "OT", "REG", "SEG", "AU", ""})

_BODY_PART_REGIONS: Final[dict[str, str]] = {
    **dict.fromkeys(
        words(
            "BRAIN HEAD SKULL ORBIT IAC SELLA PITUITARY SINUS FACE JAW TMJ MANDIBLE MAXILLA NOSE "
            "EAR TEMPORALBONE CEREBRUM CEREBELLUM BRAINSTEM HEADNECK NECK THYROID LARYNX PHARYNX "
            "PAROTID CAROTID CIRCLEOFWILLIS KOPF SCHAEDEL SCHADEL CRANE CABEZA CRANIUM"
        ),
        "head",
    ),
    **dict.fromkeys(
        words(
            "SPINE CSPINE TSPINE LSPINE SSPINE LSSPINE CTSPINE TLSPINE WHOLESPINE SACRUM COCCYX "
            "SPINALCORD HWS BWS LWS WIRBELSAEULE RACHIS COLUMNA"
        ),
        "spine",
    ),
    **dict.fromkeys(
        words("CHEST THORAX LUNG LUNGS HEART CARDIAC CORONARY MEDIASTINUM RIB RIBS STERNUM"),
        "chest",
    ),
    **dict.fromkeys(words("BREAST MAMMA MAMMAE SEIN"), "breast"),
    **dict.fromkeys(
        words(
            "ABDOMEN PELVIS ABDOMENPELVIS ABDPELVIS LIVER KIDNEY KIDNEYS PANCREAS SPLEEN BLADDER "
            "PROSTATE UTERUS OVARY RECTUM COLON STOMACH BOWEL ADRENAL GALLBLADDER BILIARY BECKEN "
            "BASSIN"
        ),
        "abdomen",
    ),
    **dict.fromkeys(
        words(
            "SHOULDER ARM HUMERUS ELBOW FOREARM WRIST HAND FINGER THUMB CLAVICLE SCAPULA "
            "UPPEREXTREMITY UPPERLIMB SCHULTER EPAULE HOMBRO"
        ),
        "upper_limb",
    ),
    **dict.fromkeys(
        words(
            "HIP FEMUR THIGH KNEE LEG TIBIA FIBULA ANKLE FOOT TOE HEEL CALCANEUS LOWEREXTREMITY "
            "LOWERLIMB KNIE GENOU RODILLA"
        ),
        "lower_limb",
    ),
    **dict.fromkeys(words("WHOLEBODY CHESTABDOMEN CHESTABDPELVIS CAP TAP"), "whole_body"),
    "EXTREMITY": "limb",
}
_DECLARED_REGIONS: Final[dict[str, str]] = {
    **dict.fromkeys(words("brain head neck head_neck face sinus"), "head"),
    **dict.fromkeys(words("spine back cervical_spine lumbar_spine thoracic_spine"), "spine"),
    **dict.fromkeys(words("chest heart lung lungs cardiac thorax"), "chest"),
    "breast": "breast",
    **dict.fromkeys(
        words("abdomen pelvis liver kidney prostate bladder uterus pancreas bowel"), "abdomen"
    ),
    **dict.fromkeys(words("shoulder elbow wrist hand arm"), "upper_limb"),
    **dict.fromkeys(words("knee hip ankle foot leg thigh"), "lower_limb"),
}
_ADJACENT_REGIONS: Final = frozenset(
    frozenset(pair)
    for pair in (
        ("head", "spine"),
        ("spine", "chest"),
        ("spine", "abdomen"),
        ("chest", "abdomen"),
        ("chest", "breast"),
        ("chest", "upper_limb"),
        ("abdomen", "lower_limb"),
        ("limb", "upper_limb"),
        ("limb", "lower_limb"),
    )
)


def region_for_body_part(body_part: str) -> str | None:
    """A coarse region ("head", "spine", "chest", "breast", "abdomen", "upper_limb",
    "lower_limb", "whole_body", "limb") for a BodyPartExamined value, or None if unknown.

    BodyPartExamined is often missing, local ("KOPF") or wrong, so routing should weigh it with
    the descriptions and what the patient said; this module only flags clear contradictions.
    """
    return _BODY_PART_REGIONS.get(re.sub(r"[^A-Z]", "", body_part.upper()))


def _regions_compatible(a: str, b: str) -> bool:
    return a == b or "whole_body" in (a, b) or frozenset((a, b)) in _ADJACENT_REGIONS


def declared_problems(
    kept: list[FileResult], declared_modality: str | None, declared_region: str | None
) -> list[Problem]:
    problems = []
    declared = (declared_modality or "").strip().lower()
    declared = _DECLARED_ALIASES.get(declared, declared)
    expected = DECLARED_MODALITIES.get(declared)
    found = {r.modality for r in kept} - _NON_IMAGE_MODALITIES
    if expected is not None and found and not any(_matches(r, declared, expected) for r in kept):
        friendly = sorted({_FRIENDLY_MODALITY.get(m, f"'{m}' images") for m in found})
        problems.append(
            make(
                "modality_mismatch",
                found=" and ".join(friendly),
                declared=_FRIENDLY_DECLARED[declared],
            )
        )
    region = _DECLARED_REGIONS.get((declared_region or "").strip().lower())
    if region is not None:
        seen = {region_for_body_part(r.body_part) for r in kept if r.body_part} - {None}
        if seen and not any(_regions_compatible(region, other) for other in seen):  # type: ignore[arg-type]
            problems.append(make("region_mismatch"))
    return problems


def _matches(result: FileResult, declared: str, expected: frozenset[str]) -> bool:
    if result.modality in expected:
        return True
    return declared == "mammogram" and is_breast_radiograph(result)


def is_breast_radiograph(result: FileResult) -> bool:
    return result.modality in ("CR", "DX") and region_for_body_part(result.body_part) == "breast"
