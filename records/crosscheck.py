"""Checks across requests: the same study (by StudyInstanceUID) in more than one case. (The
images' own date against the exam date the patient gave is `Study.far_from_exam_date`.)"""

from requests_app.models import Case

from .models import Study


def cases_with_the_same_studies(
    case: Case, *, upload_id: int | None = None, same_patient: bool = True
) -> list[int]:
    """The ids of other cases holding a study of this case (same StudyInstanceUID), or of one
    of its uploads; by default only the same patient's cases."""
    mine = Study.objects.filter(case=case).exclude(study_instance_uid="")
    if upload_id is not None:
        mine = mine.filter(upload_id=upload_id)
    others = Study.objects.filter(study_instance_uid__in=mine.values("study_instance_uid"))
    others = others.exclude(case=case)
    if same_patient:
        others = others.filter(case__patient_id=case.patient_id)
    return sorted(set(others.values_list("case_id", flat=True)))
