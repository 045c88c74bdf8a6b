from pathlib import Path

import pytest

from tests.services import celery_worker

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # axe-core is injected as a script the page did not ask for; our CSP would rightly block it.
    return {**browser_context_args, "bypass_csp": True, "viewport": {"width": 1100, "height": 900}}


@pytest.fixture
def check_accessibility():
    """Run axe-core on the current page and fail on any serious or critical violation."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` in the project folder.")

    def check(page) -> None:
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{page.url}: " + "; ".join(serious)

    return check


@pytest.fixture
def page(page):
    page.set_default_timeout(10_000)
    return page


__all__ = ["celery_worker"]
