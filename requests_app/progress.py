"""What the patient should expect next, in plain words, for each point of the case's life."""

from .models import Case

NEXT_STEPS = {
    Case.Status.DRAFT: [
        "Finish the steps of your request; your answers are saved as you go.",
        "Submit when you are ready. Nothing is shared with anyone before you do.",
    ],
    Case.Status.SUBMITTED: [
        "We check that your images are complete and readable. This usually takes minutes.",
        "A care coordinator then confirms your insurance and finds the right specialist.",
    ],
    Case.Status.NEEDS_RECORDS: [
        "Some records are missing or could not be read. See what is missing below, add it, "
        "and submit again.",
    ],
    Case.Status.AWAITING_INSURANCE: [
        "We are waiting for your insurer (for example a prior authorization). We will tell you "
        "as soon as they answer.",
    ],
    Case.Status.QUEUED: [
        "Your case is waiting for the next available specialist of the right kind.",
    ],
    Case.Status.IN_REVIEW: [
        "A specialist is reading your images now. You will get an e-mail when the report is ready.",
    ],
    Case.Status.REPORT_READY: [
        "Your report is ready: read it below, and share it with your doctor.",
    ],
    Case.Status.CLOSED: ["This request is closed."],
}


def next_steps_for(case: Case, *, chosen_name: str = "") -> list[str]:
    """`chosen_name`: the specialist the patient picked, named while the case waits for them."""
    if case.status == Case.Status.QUEUED and chosen_name and not case.assigned_reviewer_id:
        return [f"Your case is waiting for {chosen_name} to accept it."]
    return NEXT_STEPS[Case.Status(case.status)]
