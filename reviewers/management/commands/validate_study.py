"""``manage.py validate_study PATH``: the worker's checks and routing, run on a folder, file or zip.

For a coordinator or an engineer holding a patient's CD: it answers "would this upload pass, and
which queue would it go to?" without a case, without storage and without writing to the
database. Validation is ``records.dicom.validate_path``, the same code the worker runs; routing is
``reviewers.routing.route`` with the admin's rules (one SELECT). Zips are unpacked into a
temporary folder that ``validate_path`` removes before returning.

Exit status: 0 valid, 1 not valid, 2 usage error (missing or unreadable PATH, bad option value).

Differences from the worker, on purpose:

* each study is routed on its own, where the worker routes a whole case from all its studies;
* without a database (or before ``migrate``) the admin's routing rules cannot be read: routing
  then uses the table SecondOpinion ships with (``reviewers.routing_table``), and says so in one
  line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, InterfaceError

from records import dicom
from requests_app.models import BodyRegion, ExamType
from reviewers.routing import (
    RoutingDecision,
    Rule,
    StudyFacts,
    load_rules,
    route,
    shipped_rules,
)

EXIT_INVALID = 1
EXIT_USAGE = 2


def _age(value: str) -> int:
    try:
        age = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of years: {value!r}") from None
    if not 0 <= age <= 150:
        raise argparse.ArgumentTypeError(f"not a plausible age: {age}")
    return age


def study_facts(study: dicom.StudySummary) -> StudyFacts:
    """The routing facts of one study, as ``records.validation.case_records`` gathers a case's."""
    descriptions = {study.description, *(series.description for series in study.series)}
    return StudyFacts(
        modalities=tuple(sorted(set(study.modalities))),
        body_parts=tuple(sorted(set(study.body_parts))),
        descriptions=tuple(sorted(d for d in descriptions if d)),
    )


class Command(BaseCommand):
    help = (
        "Validate a DICOM folder, file or zip as the upload worker does and suggest the "
        "subspecialty for each study, without writing to the database or to storage. "
        "Exit status: 0 valid, 1 not valid, 2 usage error."
    )
    # A read-only tool: the site's system checks would open every cache, and a file-based cache
    # makes its folder when opened, so the tool would leave folders behind it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", metavar="PATH", help="A folder (e.g. a CD), a file or a zip.")
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print one JSON object on stdout (anything else goes to stderr).",
        )
        parser.add_argument(
            "--exam-type",
            choices=ExamType.values,
            default="",
            help="The exam type the patient declared.",
        )
        parser.add_argument(
            "--region",
            choices=BodyRegion.values,
            default="",
            metavar="SLUG",
            help=f"The body region the patient declared: {', '.join(BodyRegion.values)}.",
        )
        parser.add_argument(
            "--age", type=_age, default=None, metavar="N", help="The patient's age in years."
        )
        parser.add_argument(
            "--no-pixels",
            action="store_false",
            dest="check_pixels",
            help="Skip decoding one frame per series (faster; misses undecodable pixel data).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.exists():
            raise CommandError(f"{path} does not exist.", returncode=EXIT_USAGE)
        exam_type: str = options["exam_type"]
        region: str = options["region"]
        # A library that prints instead of warning or logging must not break the one JSON
        # document a script reads from stdout; self.stdout still points at the real stdout.
        with contextlib.redirect_stdout(sys.stderr):
            try:
                report = dicom.validate_path(
                    path,
                    declared_modality=exam_type or None,
                    declared_region=region or None,
                    check_pixels=options["check_pixels"],
                )
            except OSError as exc:
                # validate_path re-raises only errors of this machine (permissions, I/O), never
                # a damaged file: there is no verdict on the study to report.
                raise CommandError(
                    f"Could not read {path}: {exc.strerror or exc}", returncode=EXIT_USAGE
                ) from exc
            rules = self._routing_rules() if report.studies else []
            decisions = [
                route(
                    facts=study_facts(study),
                    declared_exam_type=exam_type,
                    declared_region=region,
                    age=options["age"],
                    rules=rules,
                )
                for study in report.studies
            ]
        if options["as_json"]:
            self.stdout.write(json.dumps(_as_json(report, decisions), indent=2))
        else:
            self.stdout.write(_as_text(report, decisions))
        if not report.valid:
            raise SystemExit(EXIT_INVALID)

    def _routing_rules(self) -> list[Rule]:
        try:
            return load_rules()
        except (DatabaseError, InterfaceError) as exc:
            # No database here, or one not migrated yet: route as a fresh site would, with the
            # table the migration seeds, rather than give a wrong answer with exit status 0.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.stderr.write(
                f"Routing rules could not be read from the database ({reason}); routing with "
                "the rules shipped with SecondOpinion, not the admin's routing table."
            )
            return shipped_rules()


def _as_json(report: dicom.Report, decisions: list[RoutingDecision]) -> dict[str, Any]:
    data = report.to_dict()
    for entry, decision in zip(data["studies"], decisions, strict=True):
        entry["subspecialty"] = decision.subspecialty
        entry["routing_confidence"] = decision.confidence
    return data


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _shown(text: str) -> str:
    """A file name or a header value, safe for a terminal: control characters escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _as_text(report: dicom.Report, decisions: list[RoutingDecision]) -> str:
    """A summary for a person. No patient name or ID: it ends up in terminals and tickets."""
    errors = sum(problem.is_error for problem in report.problems)
    warnings = len(report.problems) - errors
    files = report.files
    lines = [
        f"{'VALID' if report.valid else 'NOT VALID'}: {_plural(errors, 'error')}, "
        f"{_plural(warnings, 'warning')}.",
        f"Files: {_plural(files['dicom'], 'DICOM image')}, {files['ignored']} ignored, "
        f"{files['rejected']} rejected.",
    ]
    for number, (study, decision) in enumerate(zip(report.studies, decisions, strict=True), 1):
        lines += [
            "",
            f"Study {number} of {len(report.studies)}: "
            f"{_shown(study.description) or '(no description)'}",
            f"  Modalities: {_shown(', '.join(study.modalities)) or '-'}",
            f"  Body parts: {_shown(', '.join(study.body_parts)) or '-'}",
            f"  {_plural(study.series_count, 'series', 'series')}, "
            f"{_plural(study.instance_count, 'image')}:",
        ]
        for series in study.series:
            number_shown = "?" if series.series_number is None else series.series_number
            lines.append(
                f"    #{number_shown} {_shown(series.modality) or '-'} "
                f"{_shown(series.description) or '(no description)'}: "
                f"{_plural(series.instance_count, 'image')}"
            )
        coordinator = " (a coordinator would check first)" if decision.needs_coordinator else ""
        lines.append(
            f"  Suggested subspecialty: {decision.subspecialty}, "
            f"confidence {decision.confidence}{coordinator}"
        )
        lines += [f"    - {reason}" for reason in decision.reasons]
    if report.problems:
        lines += ["", "Problems:"]
        for problem in report.problems:
            shown = _shown(problem.path) or "(upload)"
            lines += [
                f"  {problem.severity.upper():<7} {problem.code}  {shown}",
                f"          {problem.message}",
            ]
    return "\n".join(lines)
