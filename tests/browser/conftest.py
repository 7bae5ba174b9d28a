"""A real ``pitmaster up`` (API, console and a worker on Docker) and Debian's Chromium driving it.

Chromium, the Docker engine and the demo image are installed or built when
missing; a missing one fails the tests, never skips them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import docker
import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from pitmaster.store.store import Store

from ..containers import remove_labelled
from ..credentials import ADMIN, ADMIN_TOKEN
from ..databases import ROOT
from ..processes import Deployment

DEMO_IMAGE = "pitmaster-demo:latest"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """``pitmaster up`` on a fresh SQLite file; its containers are removed afterwards."""
    subprocess.run([ROOT / "scripts" / "ensure-docker.sh"], check=True)
    subprocess.run([ROOT / "scripts" / "build-demo-image.sh", DEMO_IMAGE], check=True)
    directory = tmp_path_factory.mktemp("console")
    deployment = Deployment(directory)
    try:
        process = deployment.start(
            "up", "--port", str(deployment.port), env={"PITMASTER_HEARTBEAT_INTERVAL": "1"}
        )
        deployment.wait_healthy(process)
        yield deployment
    finally:
        deployment.stop_all()
    store = Store(deployment.env["PITMASTER_DATABASE_URL"])
    label = f"pitmaster.installation={store.installation_id()}"
    store.close()
    client = docker.from_env()
    remove_labelled(client, label)
    client.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    subprocess.run([ROOT / "scripts" / "ensure-chromium.sh"], check=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Reports each Content-Security-Policy violation to the console, where the tab collects them.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


class ConsolePage:
    """A browser tab on the console that records every dialog a page tries to open,
    and every Content-Security-Policy violation."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.dialogs: list[str] = []
        self.csp_violations: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.add_init_script(_REPORT_CSP_VIOLATIONS)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            self.csp_violations.append(f"{self.page.url}: {text}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base_url}{path}")

    def log_in(self, token: str = ADMIN_TOKEN) -> None:
        """Log in through the login form, as a person would."""
        self.goto("/login")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(lambda url: "/login" not in url)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def anonymous_tab(browser: Browser, console: Deployment) -> Iterator[ConsolePage]:
    """A fresh browser tab on the console, not logged in."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield ConsolePage(page, console.url)
    context.close()


@pytest.fixture
def tab(anonymous_tab: ConsolePage) -> ConsolePage:
    """A browser tab on the console, logged in as admin through the login form."""
    anonymous_tab.log_in()
    return anonymous_tab


@pytest.fixture
def api(console: Deployment) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, headers=ADMIN, timeout=10) as client:
        yield client


def define_job(api: httpx.Client, app: str, job: str, script: str, **policy: object) -> None:
    """An app on the demo image (once) and a job running ``sh -c SCRIPT``, through the API."""
    if api.get(f"/v1/apps/{app}").status_code == 404:
        assert api.post("/v1/apps", json={"name": app, "docker_image": DEMO_IMAGE}).is_success
    response = api.post(
        f"/v1/apps/{app}/job_definitions",
        json={"job": job, "command": ["sh", "-c", script], **policy},
    )
    assert response.status_code == 201, response.text


def enqueue(api: httpx.Client, app: str, job: str, message: object = None, delay: float = 0) -> str:
    response = api.post(
        "/v2/job_executions",
        json={
            "application": app,
            "job": job,
            "message": {} if message is None else message,
            "delay_seconds": delay,
        },
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["message_id"]
    return message_id
