"""README's Security section states only what a test shows: each statement names its tests."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def security_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Security")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def statements() -> list[str]:
    return [item for item in security_section().split("\n- ")[1:] if item.strip()]


def test_every_security_statement_names_a_test():
    assert len(statements()) > 10
    unnamed = [s.split("\n")[0] for s in statements() if not REFERENCE.search(s)]
    assert unnamed == []


def test_every_named_test_exists():
    missing = []
    for path, name in REFERENCE.findall(security_section()):
        source = ROOT / path
        if not source.exists() or not re.search(rf"^def {name}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == []
