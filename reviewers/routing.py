"""Which kind of specialist should read a case.

`suggest_subspecialty` answers from what the patient told us (exam, body region, age); it is what
the wizard proposes and what routing falls back on when the image headers say too little.
"""

from dataclasses import dataclass

PEDIATRIC_AGE = 18

REGION_SUBSPECIALTY = {
    "brain": "neuroradiology",
    "head_neck": "neuroradiology",
    "spine": "neuroradiology",
    "breast": "breast",
    "chest": "cardiothoracic",
    "heart": "cardiothoracic",
    "abdomen": "abdominal",
    "pelvis": "abdominal",
    "shoulder": "musculoskeletal",
    "arm": "musculoskeletal",
    "hip": "musculoskeletal",
    "knee": "musculoskeletal",
    "foot": "musculoskeletal",
    "bone": "musculoskeletal",
}

WHY = {
    "neuroradiology": "Brain, head, neck and spine scans are best read by a neuroradiologist.",
    "musculoskeletal": (
        "Joints, bones and muscles are best read by a musculoskeletal radiologist."
    ),
    "breast": "Breast imaging should be read by a board-certified breast imager.",
    "cardiothoracic": "Chest and heart scans are best read by a cardiothoracic radiologist.",
    "abdominal": "Abdomen and pelvis scans are best read by an abdominal radiologist.",
    "nuclear_medicine": "PET and nuclear scans are read by a nuclear medicine specialist.",
    "pediatric": "Children's scans are best read by a pediatric radiologist.",
    "general": "A care coordinator will choose the right specialist for this scan.",
}


@dataclass(frozen=True)
class Suggestion:
    slug: str
    why: str


def suggest_subspecialty(*, exam_type: str, body_region: str, age: int | None) -> Suggestion:
    """The subspecialty a patient's own answers point to, with the reason in plain words."""
    if age is not None and age < PEDIATRIC_AGE:
        slug = "pediatric"
    elif exam_type == "pet":
        slug = "nuclear_medicine"
    elif exam_type == "mammogram":
        slug = "breast"
    else:
        slug = REGION_SUBSPECIALTY.get(body_region, "general")
    return Suggestion(slug=slug, why=WHY[slug])
