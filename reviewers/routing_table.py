"""The routing table SecondOpinion ships with: data, read without a database.

A data migration seeds the admin's `RoutingRule` table from it; `validate_study` routes with it
when no database (or no migrated one) is at hand, and the wizard's suggestion reads its rules on
the patient's answers (`routing.shipped_rules`, `routing.suggest_subspecialty`). Coordinators
refine the table in the admin, so a change here reaches existing sites only through a new data
migration.

Scan-based rules come first, most specific first (age, then modality, then anatomy); rules on the
patient's answers alone come last with lower confidence, because BodyPartExamined is missing or
wrong in a large share of real files and the answers are what is left.
"""

# CERVICAL alone is left out on purpose: it also means the cervix (pelvic MR); spine descriptions
# say SPINE or C-SPINE, which SPINE already matches.
NEURO = (
    "BRAIN, HEAD, SKULL, NECK, ORBIT, IAC, SELLA, PITUITARY, HIPPOCAMP, SPINE, CSPINE, TSPINE, "
    "LSPINE, SSPINE, CTSPINE, TLSPINE, LSSPINE, WHOLESPINE, LUMBAR"
)
MSK = (
    "KNEE, SHOULDER, SHLDR, HIP, ANKLE, FOOT, FEET, WRIST, HAND, ELBOW, EXTREMIT, UPPEREXTREMITY, "
    "LOWEREXTREMITY, JOINT, ARTHRO, FEMUR, TIBIA, HUMERUS, FOREARM"
)
CHEST = "CHEST, THORAX, THORAC, LUNG, PULMON, HEART, CARDIAC, CARDIO, CORONARY"
ABDOMEN = (
    "ABDOMEN, ABD, PELVIS, PELVIC, LIVER, HEPAT, KIDNEY, RENAL, ADRENAL, PROSTATE, PANCREAS, "
    "SPLEEN, BLADDER, GALLBLADDER, BOWEL, COLON, ENTERO, UROGRAM"
)

# (order, name, subspecialty, confidence, conditions)
RULES = [
    (10, "Pediatric: patient under 18", "pediatric", 90, {"max_age": 18}),
    (20, "Nuclear medicine: PET or NM", "nuclear_medicine", 95, {"modalities": "PT, NM"}),
    (30, "Breast: mammogram", "breast", 99, {"modalities": "MG"}),
    # CR/DX of the breast: some vendors label mammograms as plain radiographs (see records.dicom).
    (
        40,
        "Breast: MR, ultrasound or radiograph of the breast",
        "breast",
        90,
        {
            "modalities": "MR, US, CR, DX",
            "body_part_keywords": "BREAST",
            "description_keywords": "BREAST",
        },
    ),
    # Neuro before musculoskeletal so HIPPOCAMPUS is read as brain, not as HIP.
    (
        50,
        "Neuroradiology: brain, head, neck, spine",
        "neuroradiology",
        85,
        {"body_part_keywords": NEURO, "description_keywords": NEURO},
    ),
    (
        60,
        "Musculoskeletal: joints and limbs",
        "musculoskeletal",
        85,
        {"body_part_keywords": MSK, "description_keywords": MSK},
    ),
    (
        70,
        "Cardiothoracic: chest and heart",
        "cardiothoracic",
        85,
        {"body_part_keywords": CHEST, "description_keywords": CHEST},
    ),
    (
        80,
        "Abdominal: abdomen and pelvis",
        "abdominal",
        85,
        {"body_part_keywords": ABDOMEN, "description_keywords": ABDOMEN},
    ),
    (110, "Patient said: PET scan", "nuclear_medicine", 60, {"declared_exam_types": "pet"}),
    (120, "Patient said: mammogram", "breast", 60, {"declared_exam_types": "mammogram"}),
    (
        130,
        "Patient said: brain, head, neck or spine",
        "neuroradiology",
        60,
        {"declared_regions": "brain, head_neck, spine"},
    ),
    (140, "Patient said: breast", "breast", 60, {"declared_regions": "breast"}),
    (
        150,
        "Patient said: chest or heart",
        "cardiothoracic",
        60,
        {"declared_regions": "chest, heart"},
    ),
    (
        160,
        "Patient said: abdomen or pelvis",
        "abdominal",
        60,
        {"declared_regions": "abdomen, pelvis"},
    ),
    (
        170,
        "Patient said: joint or bone",
        "musculoskeletal",
        60,
        {"declared_regions": "shoulder, arm, hip, knee, foot, bone"},
    ),
]
