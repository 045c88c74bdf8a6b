"""A de-identified copy of a study, after DICOM PS3.15's Basic Application Level Confidentiality
Profile (Annex E) with the "Retain Longitudinal Temporal Information with Modified Dates" option.

Our own recipe, applied to every element at every depth (sequences included):

- private elements are removed;
- the attributes the profile lists as identifying are removed (X) or emptied (Z); a patient ID
  becomes a pseudonym, the same for the whole copy;
- every person name (PN) left is emptied, and any text element that still holds the patient's
  name, ID, birth date or an accession number seen in the study is removed;
- every UID that is not one of DICOM's own (classes, transfer syntaxes: "1.2.840.10008.") is
  replaced, the same way everywhere in the copy, so that references between files still hold;
- dates (DA, and the date part of DT) move by one number of days for the whole copy, so that
  intervals between studies and series are kept; the patient's birth date is removed;
- what cannot be cleaned is left out: series flagged as having burned-in annotation (unless the
  patient insists), and documents that are reports (encapsulated PDF, structured reports);
- a file that cannot be read whole and safely is left out with its reason (`deidentify_file`):
  not a Part-10 file, a deflated or unknown transfer syntax, damaged or truncated elements,
  sequences nested too deep; and a written copy in whose bytes an identifier seen in the study
  still turns up is not given out. The preamble is zeroed (it may hold an executable).

No Django here: the caller reads and writes the files.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from records.dicom.damage import Quiet

DICOM_ROOT = "1.2.840.10008."
# Document classes whose content is a report: encapsulated PDF/CDA, and structured reports.
REPORT_CLASSES = ("1.2.840.10008.5.1.4.1.1.104.", "1.2.840.10008.5.1.4.1.1.88.")
METHOD = "PS3.15 E.1 Basic Profile, dates modified (SecondOpinion)"

# Annex E, Table E.1-1: attributes removed (X) or emptied (Z) in the Basic Profile (those an
# image of ours may carry; UIDs and dates are handled by their VR below).
_REMOVED_NAMES = """
    AccessionNumber AcquisitionComments AcquisitionDeviceProcessingDescription
    AdditionalPatientHistory
    AdmissionID AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription Allergies
    AuthorObserverSequence BranchOfService ConsultingPhysicianName ContentCreatorName
    ContentSequence ContributionDescription CountryOfResidence CurrentPatientLocation
    CustodialOrganizationSequence DerivationDescription DeviceSerialNumber
    DischargeDiagnosisDescription EthnicGroup FillerOrderNumberImagingServiceRequest
    FrameComments GraphicAnnotationSequence IconImageSequence ImageComments
    ImagePresentationComments ImagingServiceRequestComments InstitutionAddress
    InstitutionName InstitutionalDepartmentName InsurancePlanIdentification
    IntendedRecipientsOfResultsIdentificationSequence IssuerOfAdmissionID IssuerOfPatientID
    MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence
    NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults Occupation
    OperatorIdentificationSequence OperatorsName OriginalAttributesSequence
    OtherPatientIDs OtherPatientIDsSequence OtherPatientNames ParticipantSequence
    PatientAddress PatientAge PatientBirthDate PatientBirthName PatientBirthTime PatientComments
    PatientInsurancePlanCodeSequence PatientMotherBirthName PatientName
    PatientPrimaryLanguageCodeSequence PatientReligiousPreference PatientSexNeutered
    PatientSize PatientState PatientTelephoneNumbers PatientTransportArrangements PatientWeight
    PerformedProcedureStepDescription PerformedProcedureStepID PerformingPhysicianName
    PerformingPhysicianIdentificationSequence PersonAddress PersonName
    PersonTelephoneNumbers PhysicianApprovingInterpretation PhysiciansOfRecord
    PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
    PlacerOrderNumberImagingServiceRequest PregnancyStatus ProtocolName ReasonForStudy
    ReasonForTheRequestedProcedure ReferencedPatientAliasSequence ReferencedPatientSequence
    ReferencedStudySequence ReferringPhysicianAddress ReferringPhysicianIdentificationSequence
    ReferringPhysicianName ReferringPhysicianTelephoneNumbers RegionOfResidence
    RequestAttributesSequence RequestedContrastAgent RequestedProcedureComments
    RequestedProcedureDescription RequestedProcedureID RequestingPhysician RequestingService
    ResponsibleOrganization ResponsiblePerson ResponsiblePersonRole ReviewerName
    ScheduledPerformingPhysicianName ScheduledProcedureStepDescription SeriesDescription
    ServiceEpisodeDescription ServiceEpisodeID SmokingStatus SpecialNeeds StationName
    StudyComments StudyDescription StudyID TextComments TextString TopicAuthor TopicKeywords
    TopicSubject TopicTitle VerifyingObserverName VerifyingObserverSequence VisitComments
    OverlayComments
"""
REMOVED = frozenset(_REMOVED_NAMES.split())
# Text VRs searched for identifiers left over in free text.
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE", "DS", "IS"})
_IDENTIFYING = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "OtherPatientIDs",
)


@dataclass
class Recipe:
    """One de-identified copy: the same secret, pseudonym and date shift for all its files."""

    secret: bytes
    shift_days: int
    pseudonym: str
    keep_burned_in: bool = False
    # Identifiers seen in the files so far, removed from any text they turn up in.
    seen: set[str] = field(default_factory=set)

    def uid(self, value: str) -> str:
        if not value or value.startswith(DICOM_ROOT):
            return value
        digest = hashlib.sha256(self.secret + b"uid:" + value.encode()).digest()
        return "2.25." + str(int.from_bytes(digest[:16], "big"))  # PS3.5 B.2, a UUID-derived UID

    def day(self, value: str) -> str:
        try:
            moved = date(int(value[:4]), int(value[4:6]), int(value[6:8])) + timedelta(
                days=self.shift_days
            )
        except ValueError:
            return ""
        return moved.strftime("%Y%m%d") + value[8:]


class Unreadable(Exception):
    """A file whose dataset cannot be cleaned with confidence; its message is the reason."""


# Deeper sequences than any image needs: a hostile file nests thousands to exhaust the stack.
MAX_DEPTH = 16
# Control characters no text value holds; found in one, the file was misread (a damaged length
# or VR swallowed the elements after it, identifiers included, unseen by `_collect`).
_CONTROL = frozenset(bytes(range(0x20)) + b"\x7f") - frozenset(b"\t\n\r\x0c\x1b")
# The longest value each text VR allows (PS3.5 table 6.2-1), per value. Vendors overrun them
# a little (a long DS, a long UID, which is replaced anyway); four times over, the value has
# swallowed the elements after it.
_OVERRUN = 4
_MAX_LENGTH = {"AE": 16, "CS": 16, "DS": 16, "IS": 12, "LO": 64, "SH": 16, "PN": 324, "UI": 64}


def left_out(ds: Dataset, recipe: Recipe) -> str:
    """Why this file is not copied ("" if it is)."""
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(REPORT_CLASSES):
        return "a report"
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES" and not recipe.keep_burned_in:
        return "burned-in annotation"
    return ""


def _collect(ds: Dataset, recipe: Recipe) -> None:
    for element in ds.iterall():
        if element.keyword in _IDENTIFYING and element.value not in (None, ""):
            values = element.value if element.VM > 1 else [element.value]
            for value in values:
                text = str(value).strip()
                if len(text) >= 3:
                    recipe.seen.add(text.upper())
                    if element.VR == "PN":
                        recipe.seen.update(p.upper() for p in text.split("^") if len(p) >= 3)


def _holds_identifier(element: DataElement, recipe: Recipe) -> bool:
    if element.VR not in _TEXT_VRS or element.value is None:
        return False
    text = str(element.value).upper()
    return any(seen in text for seen in recipe.seen)


def _curve_or_overlay(tag) -> bool:
    return tag.group & 0xFF00 in (0x5000, 0x6000) and tag.element >= 0x3000


def _check_readable(ds: Dataset, depth: int = 0) -> None:
    """Raise `Unreadable` if an element was misread: every value is decoded here, so a
    damaged one fails now rather than in the middle of `_clean`."""
    if depth > MAX_DEPTH:
        raise Unreadable("sequences nested too deeply")
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or ():
                _check_readable(item, depth + 1)
            continue
        if element.VR not in _TEXT_VRS | {"PN", "UI", "DA", "DT", "TM"}:
            continue
        values = element.value if element.VM > 1 else [element.value]
        for value in values:
            text = str(value if value is not None else "")
            if any(ord(c) < 0x80 and ord(c) in _CONTROL for c in text):
                raise Unreadable("a damaged element")
            if len(text) > _OVERRUN * _MAX_LENGTH.get(element.VR, 1 << 32):
                raise Unreadable("a damaged element")


def _clean(ds: Dataset, recipe: Recipe) -> None:
    for element in list(ds):
        tag = element.tag
        if tag.is_private:
            del ds[tag]
            continue
        # Listed as identifying; or of a VR unknown here, which could be anything.
        if element.keyword in REMOVED or element.VR == "UN":
            del ds[tag]
            continue
        if element.VR == "SQ":
            for item in element.value:
                _clean(item, recipe)
            continue
        if element.keyword == "PatientID":
            element.value = recipe.pseudonym
        elif element.VR == "UI":
            if element.VM > 1:
                element.value = [recipe.uid(str(v)) for v in element.value]
            else:
                element.value = recipe.uid(str(element.value or ""))
        elif element.VR == "PN":
            element.value = ""
        elif element.VR in ("DA", "DT") and element.value:
            if element.VM > 1:
                element.value = [recipe.day(str(v)) for v in element.value]
            else:
                element.value = recipe.day(str(element.value))
        # Text still naming the patient; curve and overlay data (50xx, 60xx,3000), which may
        # draw text of their own.
        elif _holds_identifier(element, recipe) or _curve_or_overlay(tag):
            del ds[tag]


def deidentify(ds: Dataset, recipe: Recipe) -> Dataset | None:
    """De-identify one file's dataset in place; None if it is left out (`left_out`)."""
    if left_out(ds, recipe):
        return None
    _check_readable(ds)
    _collect(ds, recipe)
    _clean(ds, recipe)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        if "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = recipe.uid(str(meta.MediaStorageSOPInstanceUID))
        for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle"):
            if keyword in meta:
                del meta[keyword]
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = recipe.pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    codes = Sequence()
    for value, meaning in [
        ("113100", "Basic Application Confidentiality Profile"),
        ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ]:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "DCM", meaning
        codes.append(code)
    ds.DeidentificationMethodCodeSequence = codes
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    ds.preamble = bytes(128)
    return ds


class Outcome(NamedTuple):
    """One file through the recipe: its de-identified bytes, or why it is left out."""

    data: bytes | None
    reason: str = ""


# What `deidentify_file` reads: the transfer syntaxes a copy keeps as they are. Deflated is not
# among them: pydicom inflates it whole, and a small file can inflate to gigabytes.
_READABLE_SYNTAXES = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})
_ENCAPSULATED_PREFIX = "1.2.840.10008.1.2.4."


def _syntax_reason(syntax: str) -> str:
    if syntax == DeflatedExplicitVRLittleEndian:
        return "a deflated file"
    if syntax in _READABLE_SYNTAXES or syntax.startswith(_ENCAPSULATED_PREFIX):
        return ""
    return "an unknown transfer syntax"


def deidentify_file(data: bytes, recipe: Recipe) -> Outcome:
    """One stored file de-identified as `deidentify` does, written back as a Part-10 file; or
    the reason it is left out. Never raises on what the file holds: whatever cannot be read
    whole and safely is left out rather than copied half-cleaned."""
    stream = io.BytesIO(data)
    with Quiet():  # pydicom's warnings and log lines quote odd values: a name, an ID
        try:
            if read_preamble(stream, False) is None:
                return Outcome(None, "not a DICOM file")
            meta = _read_file_meta_info(stream)
            reason = _syntax_reason(str(meta.get("TransferSyntaxUID", "")))
            if reason:
                return Outcome(None, reason)
            ds = pydicom.dcmread(io.BytesIO(data))
            if not ds.get("SOPInstanceUID") or not ds.get("SOPClassUID"):
                return Outcome(None, "not an image: no SOP instance")
            why = left_out(ds, recipe)
            if why:
                return Outcome(None, why)
            deidentify(ds, recipe)
            # The header searched for identifiers left anywhere in its bytes: not the pixels,
            # whose random bytes would match a short name now and then.
            pixels = ds.pop(0x7FE00010, None)
            header = _written(ds).upper()
            if any(seen.encode("utf-8", "replace") in header for seen in recipe.seen):
                return Outcome(None, "identifiers could not be removed")
            if pixels is not None:
                ds[0x7FE00010] = pixels
            written = _written(ds)
        except InvalidDicomError:
            return Outcome(None, "not a DICOM file")
        except Unreadable as refused:
            return Outcome(None, str(refused))
        except RecursionError:
            return Outcome(None, "sequences nested too deeply")
        except Exception:  # pydicom raises errors of every kind on damaged input
            return Outcome(None, "a damaged or truncated file")
    return Outcome(written)


def _written(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def new_recipe(secret: bytes, *, keep_burned_in: bool = False) -> Recipe:
    """A recipe for one copy: its date shift (30 to 365 days back) and pseudonym come from the
    secret, so the same secret gives the same copy."""
    digest = hashlib.sha256(secret + b"recipe").digest()
    shift = -(30 + int.from_bytes(digest[:4], "big") % 336)
    return Recipe(
        secret=secret,
        shift_days=shift,
        pseudonym="ANON" + digest[4:10].hex().upper(),
        keep_burned_in=keep_burned_in,
    )
