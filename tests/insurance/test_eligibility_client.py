"""The eligibility adapters: our rules table (the default) and X12 270/271 files."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from insurance.client import (
    EligibilityInquiry,
    RulesEngineClient,
    Submitter,
    X12FileClient,
    apply_benefits,
    build_270,
    get_client,
    inquiry_trace,
    parse_271,
    plan_rules,
)
from insurance.models import Plan
from insurance.seeding import seed_insurance

ROOT = Path(__file__).resolve().parents[2]
CASE_CODE = "3f2b8c1e-5d7a-4e9b-9c61-0a1b2c3d4e5f"
SUBMITTER = Submitter(
    sender_id="SECONDOP", provider_name="SecondOpinion PC", provider_npi="1234567893"
)
NOW = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)


def inquiry(**values) -> EligibilityInquiry:
    defaults = {
        "case_code": CASE_CODE,
        "plan_id": None,
        "payer_name": "BlueHarbor Health",
        "payer_id": "BHH01",
        "member_id": "XJ*123~45",
        "group_number": "G-77",
        "first_name": "Alice",
        "last_name": "Moreau",
        "birth_date": date(1971, 4, 2),
    }
    return EligibilityInquiry(**{**defaults, **values})


def segments(x12: str) -> list[list[str]]:
    return [s.split("*") for s in x12.strip().split("~") if s]


def test_270_is_a_well_formed_inquiry_for_the_member():
    x12 = build_270(inquiry(), submitter=SUBMITTER, control_number=42, now=NOW)
    isa = x12.split("~")[0]
    assert len(isa) == 105 and isa[3] == "*" and isa[82] == "^" and isa[104] == ":"
    rows = segments(x12)
    tags = [row[0] for row in rows]
    assert tags == [
        "ISA", "GS", "ST", "BHT", "HL", "NM1", "HL", "NM1", "HL", "TRN", "NM1", "REF", "DMG",
        "DTP", "EQ", "SE", "GE", "IEA",
    ]  # fmt: skip
    by_tag = {row[0]: row for row in rows}
    assert by_tag["ST"][1:] == ["270", "0001", "005010X279A1"]
    assert int(by_tag["SE"][1]) == tags.index("SE") - tags.index("ST") + 1
    member = next(row for row in rows if row[:2] == ["NM1", "IL"])
    # Separators typed into a member ID must not break the interchange.
    assert member[3:5] == ["MOREAU", "ALICE"] and member[-2:] == ["MI", "XJ 123 45"]
    assert by_tag["DMG"] == ["DMG", "D8", "19710402"]
    assert by_tag["EQ"] == ["EQ", "4"]
    assert by_tag["TRN"][:2] == ["TRN", "1"] and by_tag["TRN"][2] == inquiry_trace(inquiry())
    assert by_tag["BHT"][3] == inquiry_trace(inquiry())
    assert by_tag["IEA"] == ["IEA", "1", "000000042"]


RESPONSE_271 = (
    "ISA*00*          *00*          *ZZ*BHH01          *ZZ*SECONDOP       *261123*1406*^*00501*"
    "000000042*0*T*:~"
    "GS*HB*BHH01*SECONDOP*20261123*1406*42*X*005010X279A1~"
    "ST*271*0001*005010X279A1~"
    "BHT*0022*11*3f2b8c1e5d7a4e9b9c610a1b2c3d4e*20261123*1406~"
    "HL*1**20*1~NM1*PR*2*BLUEHARBOR HEALTH*****PI*BHH01~"
    "HL*2*1*21*1~NM1*1P*2*SECONDOPINION PC*****XX*1234567893~"
    "HL*3*2*22*0~NM1*IL*1*MOREAU*ALICE****MI*XJ12345~"
    "EB*1*IND*30^4*C1*BLUEHARBOR PPO GOLD~"
    "EB*C*IND*30*C1**23*1500~"
    "EB*C*IND*30*C1**29*400~"
    "EB*B*IND*4*C1**27*35~"
    "EB*A*IND*4*C1****.2****Y~"
    "EB*A*IND*4*C1****.45****N~"
    "EB*A*IND*30*C1****.3****Y~"
    "EB*C*IND*4*C1**29*250~"
    "EB*B*IND*4*C1**27*35****Y*Y~"
    "EB*A*IND*33*C1****.9~"
    "MSG*Second opinion visits require prior authorization~"
    "SE*20*0001~GE*1*42~IEA*1*000000042~"
)


def test_271_benefits_for_the_service_type_win_over_plan_wide_ones():
    benefits = parse_271(RESPONSE_271, service_type="4")
    assert benefits.active is True
    assert benefits.copay == D("35")
    assert benefits.coinsurance_percent == D("20.0")  # service type 4 beats plan-wide 30%
    assert benefits.out_of_network_coinsurance_percent == D("45")
    assert benefits.deductible == D("1500")
    assert benefits.deductible_remaining == D("250")  # the diagnostic X-ray one beats 400
    assert benefits.prior_auth_required is True
    assert benefits.messages == ["Second opinion visits require prior authorization"]
    assert benefits.rejections == []


def test_271_rejection_is_explained():
    rejected = RESPONSE_271.replace("EB*1*IND*30^4*C1*BLUEHARBOR PPO GOLD~", "AAA*N**75*C~")
    assert parse_271(rejected).rejections == ["the insurer cannot find this member"]


def test_271_inactive_coverage():
    inactive = RESPONSE_271.replace("EB*1*IND*30^4", "EB*6*IND*30^4")
    assert parse_271(inactive).active is False


def test_not_x12_is_refused():
    with pytest.raises(ValueError, match="Not an X12 interchange"):
        parse_271("hello")


@pytest.fixture
def ppo(db) -> Plan:
    seed_insurance()
    return Plan.objects.get(name="BlueHarbor PPO Gold")


def test_rules_engine_answers_with_the_plan_from_the_table(ppo):
    answer = RulesEngineClient().check(inquiry(plan_id=ppo.pk))
    assert answer.source == "rules" and not answer.pending
    assert answer.rules == plan_rules(ppo)
    assert answer.rules.copay == D("50") and answer.rules.out_of_network_covered
    assert "lakeside university hospital" in answer.rules.in_network_facilities
    assert RulesEngineClient().check(inquiry(plan_id=None)).rules is None


def test_default_client_is_the_rules_engine(settings):
    assert isinstance(get_client(), RulesEngineClient)


def answer_to(asked: EligibilityInquiry, response: str = RESPONSE_271) -> str:
    """The clearinghouse's 271 to an inquiry: it returns the inquiry's trace number (TRN*2)."""
    return response.replace("HL*3*2*22*0~", f"HL*3*2*22*0~TRN*2*{inquiry_trace(asked)}*SECONDOP~")


@pytest.fixture
def x12(settings, tmp_path) -> X12FileClient:
    settings.INSURANCE_ELIGIBILITY_CLIENT = "insurance.client.X12FileClient"
    settings.INSURANCE_X12_OUTBOX = str(tmp_path / "out")
    settings.INSURANCE_X12_INBOX = str(tmp_path / "in")
    settings.INSURANCE_X12_SENDER_ID = "SECONDOP"
    settings.INSURANCE_X12_USAGE = "T"
    settings.INSURANCE_PROVIDER_NAME = "SecondOpinion PC"
    settings.INSURANCE_PROVIDER_NPI = "1234567893"
    (tmp_path / "in").mkdir()
    return get_client()


def test_x12_file_client_sends_a_270_then_reads_the_271(ppo, tmp_path, x12):
    client = x12
    assert isinstance(client, X12FileClient)

    asked = inquiry(plan_id=ppo.pk)
    first = client.check(asked)
    assert first.pending and first.rules == plan_rules(ppo)
    (sent,) = (tmp_path / "out").glob(f"{CASE_CODE}-*.270")
    assert sent.read_text().startswith("ISA*") and "EQ*4~" in sent.read_text()

    (tmp_path / "in" / f"{CASE_CODE}.271").write_text(answer_to(asked))
    second = client.check(inquiry(plan_id=ppo.pk))
    assert not second.pending and second.source == "x12-files"
    assert second.rules.copay == D("35") and second.rules.deductible_remaining == D("250")
    assert second.rules.prior_auth_required is True
    assert second.rules.in_network_facilities == plan_rules(ppo).in_network_facilities


def test_a_stored_271_answers_only_the_inquiry_it_was_for(ppo, tmp_path, x12):
    before = inquiry(plan_id=ppo.pk, member_id="OLD123")
    x12.check(before)
    (tmp_path / "in" / f"{CASE_CODE}.271").write_text(answer_to(before))
    assert not x12.check(before).pending

    # The patient changes plan (or corrects the member ID): the old answer is not this one's.
    after = inquiry(plan_id=ppo.pk, member_id="NEW456")
    answer = x12.check(after)
    assert answer.pending and answer.rules == plan_rules(ppo)
    assert len(list((tmp_path / "out").glob(f"{CASE_CODE}-*.270"))) == 2  # asked again

    (tmp_path / "in" / f"{CASE_CODE}-2.271").write_text(answer_to(after))
    assert not x12.check(after).pending


def test_a_271_without_the_inquirys_trace_number_is_not_applied(ppo, tmp_path, x12):
    asked = inquiry(plan_id=ppo.pk)
    x12.check(asked)
    (tmp_path / "in" / f"{CASE_CODE}.271").write_text(RESPONSE_271)  # answers no inquiry of ours
    assert x12.check(asked).pending


def test_traces_differ_per_inquiry_and_carry_no_phi():
    first, second = inquiry(), inquiry(member_id="OTHER")
    assert inquiry_trace(first) == inquiry_trace(inquiry())
    assert inquiry_trace(first) != inquiry_trace(second)
    assert inquiry_trace(inquiry(plan_id=1)) != inquiry_trace(inquiry(plan_id=2))
    assert inquiry_trace(inquiry(service_type="3")) != inquiry_trace(first)
    assert "MOREAU" not in inquiry_trace(first).upper()


def settings_in(tmp_path, **environment) -> subprocess.CompletedProcess:
    script = (
        "import django; django.setup(); from insurance.client import get_client; "
        "client = get_client(); print(type(client).__name__, client.submitter.usage)"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "secondopinion.settings",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


X12_ENVIRONMENT = {
    "INSURANCE_ELIGIBILITY": "x12-files",
    "INSURANCE_X12_SENDER_ID": "SECONDOP",
    "INSURANCE_X12_USAGE": "P",
    "INSURANCE_PROVIDER_NAME": "SecondOpinion PC",
    "INSURANCE_PROVIDER_NPI": "1234567893",
}


def test_the_x12_client_is_switched_on_from_the_environment(tmp_path):
    loaded = settings_in(
        tmp_path,
        **X12_ENVIRONMENT,
        INSURANCE_X12_OUTBOX=str(tmp_path / "out"),
        INSURANCE_X12_INBOX=str(tmp_path / "in"),
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["X12FileClient", "P"]


@pytest.mark.parametrize(
    "missing", ["INSURANCE_X12_SENDER_ID", "INSURANCE_PROVIDER_NAME", "INSURANCE_PROVIDER_NPI"]
)
def test_the_x12_client_does_not_start_half_configured(tmp_path, missing):
    loaded = settings_in(tmp_path, **{**X12_ENVIRONMENT, missing: ""})
    assert loaded.returncode != 0
    assert missing in loaded.stderr


def test_an_unknown_eligibility_client_stops_the_app(tmp_path):
    loaded = settings_in(tmp_path, INSURANCE_ELIGIBILITY="carrier-pigeon")
    assert loaded.returncode != 0
    assert "INSURANCE_ELIGIBILITY" in loaded.stderr


def test_benefits_refine_only_what_the_insurer_said(ppo):
    rules = plan_rules(ppo)
    refined = apply_benefits(rules, parse_271(RESPONSE_271.replace("EB*B*IND*4*C1**27*35~", "")))
    assert refined.plan == rules.plan and refined.has_network == rules.has_network
    assert refined.coinsurance_percent == D("20.0")
