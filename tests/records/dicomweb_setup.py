"""A case read over DICOMweb: alice's brain MRI, read and signed by Nils, shared with Dr. Lee,
with a token for the share and one for Nils's assignment."""

import email.parser
import email.policy
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from records.dicomweb import tokens
from requests_app import shares
from requests_app.models import Case, Share
from reviewers import services as reviewer_services
from reviewers.models import ReviewerProfile
from tests.reviewers.conftest import make_reviewer, validated_case

# What the site's viewer asks a frame as: decoded on the server, whatever the file's compression.
FRAME_ACCEPT = (
    'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'
)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def parts(response) -> list[tuple[str, bytes]]:
    """The parts of a multipart/related answer, parsed by the standard library's MIME parser."""
    head = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head + body_of(response)
    )
    assert message.is_multipart()
    return [(p.get_content_type(), p.get_payload(decode=True)) for p in message.iter_parts()]


def viewer_frame(client, url: str):
    """The viewer's request for one frame, with the client's session and no token: the
    response, and the frame's bytes when it is a 200."""
    response = client.get(url, headers={"Accept": FRAME_ACCEPT})
    if response.status_code != 200:
        return response, None
    [(_, frame)] = parts(response)
    return response, frame


@dataclass
class Scoped:
    case: Case
    files: list[Path]
    reviewer: ReviewerProfile
    share: Share
    share_token: str
    reviewer_token: str

    @property
    def study_uid(self) -> str:
        return dcmread(self.files[0], stop_before_pixels=True).StudyInstanceUID

    def by_sop(self) -> dict[str, tuple[str, Path]]:
        """SOP Instance UID -> (Series Instance UID, the file as written)."""
        found = {}
        for path in self.files:
            ds = dcmread(path, stop_before_pixels=True)
            found[ds.SOPInstanceUID] = (ds.SeriesInstanceUID, path)
        return found


def reported_and_shared(patient, folder: Path, *, reviewer_email="nils@example.com") -> Scoped:
    reviewer = make_reviewer(reviewer_email, "Dr. Nils Berg")
    case, files = validated_case(patient, folder)
    reviewer_services.claim_case(case, reviewer=reviewer, by=reviewer.user)
    opinion = reviewer_services.open_opinion(case, reviewer)
    reviewer_services.file_blind_read(opinion, by=reviewer.user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(
        opinion, by=reviewer.user, radpeer="1", patient_summary="Reassuring."
    )
    reviewer_services.sign_report(opinion, by=reviewer.user, signed_name="Dr. Nils Berg")
    case.refresh_from_db()
    share = shares.create_share(case, by=patient, recipient_name="Dr. Lee").share
    return Scoped(
        case=case,
        files=files,
        reviewer=reviewer,
        share=share,
        share_token=tokens.issue_for_share(share).token,
        reviewer_token=tokens.issue_for_reviewer(case, reviewer.user).token,
    )
