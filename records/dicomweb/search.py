"""QIDO-RS (PS3.18 10.6): searches for the studies, series and instances of one scope.

A scope holds one case: a few studies, a few series, some hundred instances. Their attributes
come from the rows the upload check wrote (and, for the study's patient and visit attributes
the rows do not keep, from the header of one of its files), and are matched here as PS3.4
C.2.2.2 says: single value (PN case-insensitively), wildcards `*` and `?` for text, ranges for
dates and times, lists of UIDs, an empty value matching anything and asking for the attribute.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from pydicom import Dataset, dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from ..models import Instance, Series, Study
from .read import open_stored

MAX_LIMIT = 1000


class BadQuery(ValueError):
    """A search parameter we cannot honour; its text is the reason sent with the 400."""


# Attributes each level returns and may be matched on, with their keyword.
STUDY = [
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
]
SERIES = [
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesInstanceUID",
    "BodyPartExamined",
    "NumberOfSeriesRelatedInstances",
]
INSTANCE = [
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "AvailableTransferSyntaxUID",
]
# Read from one file of the study: the rows keep none of these.
FROM_HEADER = [
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
]
LEVELS = {"study": STUDY, "series": STUDY + SERIES, "instance": STUDY + SERIES + INSTANCE}
# What each level returns when not asked for more (its own attributes; a search across the
# levels above, e.g. /series, also names the study).
DEFAULT = {
    "study": STUDY,
    "series": [*SERIES, "StudyInstanceUID"],
    "instance": [*INSTANCE, "SeriesInstanceUID", "StudyInstanceUID"],
}
TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}
RANGE_VRS = {"DA", "TM", "DT"}
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_DT = re.compile(r"^\d{4,14}(\.\d{1,6})?([+-]\d{4})?$")


@dataclass
class Query:
    matches: dict[str, str]
    include: set[str]
    include_all: bool
    limit: int | None
    offset: int


def _keyword(name: str) -> str:
    """A query key as a keyword: given as one (PatientName) or as a tag (00100010)."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        keyword = keyword_for_tag(int(name, 16))
    else:
        keyword = name if tag_for_keyword(name) is not None else ""
    if not keyword:
        raise BadQuery(f"{name[:40]} is not a DICOM attribute.")
    return keyword


def _validate(keyword: str, value: str) -> None:
    vr = dictionary_VR(keyword)
    if not value or value == "*":
        return
    if vr == "UI":
        for uid in re.split(r"[,\\]", value):
            if not _UID.match(uid) or len(uid) > 64:
                raise BadQuery(f"{keyword} is not a UID or a list of UIDs.")
    elif vr in RANGE_VRS:
        pattern = {"DA": _DA, "TM": _TM, "DT": _DT}[vr]
        start, dash, end = value.partition("-") if vr != "DT" else _dt_range(value)
        if not dash:
            end = start
        if (start and not pattern.match(start)) or (end and not pattern.match(end)):
            raise BadQuery(f"{keyword} is not a {vr} value or range.")
        if dash and not (start or end):
            raise BadQuery(f"{keyword} is a range without ends.")
        if start and end and start > end:
            raise BadQuery(f"{keyword} is a range that ends before it starts.")
    elif vr in ("IS", "US", "UL", "SS", "SL") and not re.fullmatch(r"-?\d+", value):
        raise BadQuery(f"{keyword} is not a number.")


def _dt_range(value: str) -> tuple[str, str, str]:
    # A DT may carry a "-hhmm" offset: the range's dash is the one followed by 4+ digits' value.
    match = re.fullmatch(r"([^-]*(?:-\d{4})?)?(-)(.*)", value)
    if match and match.group(2):
        return match.group(1) or "", "-", match.group(3)
    return value, "", ""


def parse(query_string: str, level: str) -> Query:
    """The search's parameters; a BadQuery for any the standard does not allow or we cannot do."""
    matches: dict[str, str] = {}
    include: set[str] = set()
    include_all = False
    limit, offset = None, 0
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name == "limit":
            limit = _count(name, value)
            if limit == 0 or limit > MAX_LIMIT:
                raise BadQuery(f"limit is from 1 to {MAX_LIMIT}.")
        elif name == "offset":
            offset = _count(name, value)
        elif name == "includefield":
            for item in value.split(","):
                item = item.strip()
                if item == "all":
                    include_all = True
                elif item:
                    include.add(_keyword(item))
        elif name == "fuzzymatching":
            if value not in ("true", "false"):
                raise BadQuery("fuzzymatching is true or false.")
        else:
            keyword = _keyword(name)
            if keyword not in LEVELS[level]:
                raise BadQuery(f"{keyword} cannot be searched on here.")
            if keyword in matches:
                raise BadQuery(f"{keyword} is given twice.")
            _validate(keyword, value)
            matches[keyword] = value
    return Query(matches, include, include_all, limit, offset)


def _count(name: str, value: str) -> int:
    if not re.fullmatch(r"\d{1,9}", value):
        raise BadQuery(f"{name} is a whole number.")
    return int(value)


# --- Matching ----------------------------------------------------------------------------------


def _wildcard(pattern: str, *, fold: bool) -> Callable[[str], bool]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    compiled = re.compile(regex, re.DOTALL | (re.IGNORECASE if fold else 0))
    return lambda value: compiled.fullmatch(value) is not None


def _matcher(keyword: str, key: str) -> Callable[[list[str]], bool]:
    """A test of an attribute's values (as strings) against one matching key."""
    vr = dictionary_VR(keyword)
    if key in ("", "*"):
        return lambda values: True
    if vr == "UI":
        uids = set(re.split(r"[,\\]", key))
        return lambda values: any(v in uids for v in values)
    if vr in RANGE_VRS:
        start, dash, end = key.partition("-") if vr != "DT" else _dt_range(key)
        if not dash:
            end = start

        def in_range(values: list[str]) -> bool:
            for value in values:
                cut = value[: max(len(start), len(end))] if vr != "DA" else value
                if value and (not start or cut >= start) and (not end or cut[: len(end)] <= end):
                    return True
            return False

        return in_range
    if vr in TEXT_VRS:
        fold = vr == "PN"
        if "*" in key or "?" in key:
            test = _wildcard(key, fold=fold)
        else:
            test = (lambda v: v.lower() == key.lower()) if fold else (lambda v: v == key)
        return lambda values: any(test(v) for v in values)
    return lambda values: any(v == key for v in values)


def _strings(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _filter(rows: list[dict], query: Query) -> list[dict]:
    tests = [(keyword, _matcher(keyword, key)) for keyword, key in query.matches.items()]
    return [row for row in rows if all(test(_strings(row.get(k))) for k, test in tests)]


# --- The rows ----------------------------------------------------------------------------------


def _header_fields(study: Study) -> dict:
    instance = Instance.objects.filter(series__study=study).select_related("file__upload").first()
    if instance is None:
        return {}
    try:
        with open_stored(instance.file.key) as handle:
            ds = dcmread(handle, stop_before_pixels=True, specific_tags=FROM_HEADER)
    except (OSError, ValueError):
        return {}
    found = {}
    for keyword in FROM_HEADER:
        value = ds.get(keyword)
        if value is not None and value != "":
            found[keyword] = str(value)
    return found


def study_rows(studies: Iterable[Study], *, headers: bool) -> list[dict]:
    rows = []
    for study in studies:
        series = list(study.series.all())
        row = {
            "_study": study,
            "StudyInstanceUID": study.study_instance_uid,
            "StudyDate": study.study_date,
            "StudyDescription": study.description,
            "ModalitiesInStudy": [m for m in study.modalities.split(",") if m],
            "NumberOfStudyRelatedSeries": len(series),
            "NumberOfStudyRelatedInstances": sum(s.instance_count for s in series),
        }
        if headers:
            row.update(_header_fields(study))
        rows.append(row)
    return rows


def series_rows(study_row: dict, series: Iterable[Series]) -> list[dict]:
    return [
        {
            **study_row,
            "_series": s,
            "SeriesInstanceUID": s.series_instance_uid,
            "Modality": s.modality,
            "SeriesDescription": s.description,
            "SeriesNumber": s.series_number,
            "BodyPartExamined": s.body_part,
            "NumberOfSeriesRelatedInstances": s.instance_count,
        }
        for s in series
    ]


def instance_rows(series_row: dict, instances: Iterable[Instance]) -> list[dict]:
    return [
        {
            **series_row,
            "SOPClassUID": i.sop_class_uid,
            "SOPInstanceUID": i.sop_instance_uid,
            "InstanceNumber": i.instance_number,
            "Rows": i.rows,
            "Columns": i.columns,
            "NumberOfFrames": i.frames,
            "AvailableTransferSyntaxUID": i.transfer_syntax_uid,
        }
        for i in instances
    ]


def _needs_headers(query: Query, level: str) -> bool:
    wanted = set(query.matches) | query.include | (set(DEFAULT[level]))
    return query.include_all or bool(wanted & set(FROM_HEADER))


def search(studies: list[Study], level: str, query: Query, *, series=None) -> list[dict]:
    """The matching rows of `level` among `studies` (one study's `series` if given), as DICOM
    JSON objects, in order, cut by offset and limit."""
    rows = study_rows(studies, headers=_needs_headers(query, level))
    if level in ("series", "instance"):
        rows = [
            r
            for study_row in rows
            for r in series_rows(
                study_row,
                [s for s in study_row["_study"].series.all() if series is None or s in series],
            )
        ]
    if level == "instance":
        rows = [
            r
            for series_row in rows
            for r in instance_rows(series_row, series_row["_series"].instances.all())
        ]
    found = _filter(rows, query)
    end = None if query.limit is None else query.offset + query.limit
    return [_json(row, level, query) for row in found[query.offset : end]]


def _json(row: dict, level: str, query: Query) -> dict:
    if query.include_all:
        keywords = set(LEVELS[level])
    else:
        keywords = set(DEFAULT[level]) | set(query.matches) | (query.include & set(LEVELS[level]))
    ds = Dataset()
    for keyword in sorted(keywords, key=tag_for_keyword):
        value = row.get(keyword)
        if value is None or value == "" or value == []:
            setattr(ds, keyword, None)
        else:
            setattr(ds, keyword, value)
    return ds.to_json_dict()
