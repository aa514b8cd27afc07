"""Shared machinery for the real-browser tests and ``benchmarks/browser_latency.py``.

Starts JupyterLab, Notebook 7 or Voila on loopback with project-local state and launches Debian's
chromium through Playwright (``lab_page`` drives the page). Kept free of pytest so the benchmark
can import it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = "127.0.0.1"
NOTEBOOK7_LAB_EXTENSION = "@jupyter-notebook/lab-extension"
# Jupyter refuses to run as root without this; CI containers and this machine run as root.
_ROOT_FLAG = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


class BrowserMissing(RuntimeError):
    """Raised when chromium is absent and cannot be installed here."""


def has_cjk_font() -> bool:
    """Whether fontconfig knows a font with Chinese glyphs (else lang="zh" pages show tofu boxes)."""
    try:
        found = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(found.stdout.strip())


def ensure_chromium() -> str:
    """Return the chromium path, installing it and a CJK font with ``scripts/ensure_browser.sh``
    when either is missing and that is possible.

    Raises ``BrowserMissing`` (never skips: CI must not pass by skipping) with the script's output.
    """
    if os.access(CHROMIUM, os.X_OK) and has_cjk_font():
        return CHROMIUM
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_browser.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    if proc.returncode != 0 or not os.access(CHROMIUM, os.X_OK) or not has_cjk_font():
        raise BrowserMissing(
            f"chromium at {CHROMIUM} or a CJK font missing (CI={os.environ.get('CI', '')!r}); "
            f"scripts/ensure_browser.sh said:\n{proc.stdout}\n{proc.stderr}"
        )
    return CHROMIUM


def launch_browser(playwright: Playwright) -> Browser:
    """Launch headless Debian chromium with the flags from DESIGN.md."""
    return playwright.chromium.launch(
        executable_path=ensure_chromium(), args=CHROMIUM_ARGS, headless=True
    )


def free_port() -> int:
    """Ask the OS for a free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def isolated_env(state: Path, code_root: Path = REPO) -> dict[str, str]:
    """Environment for a server whose config, runtime and settings live under ``state``.

    Kernelspecs and lab extensions still come from the venv (sys.prefix is on the Jupyter path);
    the user's ~/.jupyter, ~/.ipython and saved workspaces are kept out. Kernels import
    ``featviz_widgets`` from ``code_root`` (another tree: the latency benchmark's baseline).
    """
    env = dict(os.environ)
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        (state / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(state / sub)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["TORCH_HOME"] = os.environ.get("TORCH_HOME", str(REPO / ".torch_home"))
    # The kernel must import this checkout even when the venv lacks the editable install.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_root), env.get("PYTHONPATH")]))
    # Two cores: keep the kernel from oversubscribing them while the browser paints.
    env.setdefault("OMP_NUM_THREADS", "2")
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    return env


@dataclass
class Server:
    """A server process in its own process group, plus where its log goes."""

    url: str
    proc: subprocess.Popen
    log: Path
    extra: dict = field(default_factory=dict)

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        """Terminate the whole process group (server and kernels); kill it if it lingers."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _wait_ready(server: Server, path: str, any_status: bool, timeout: float) -> None:
    """Poll ``path`` on loopback until it answers 200 (or anything at all, with ``any_status``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"server exited early ({server.proc.returncode}):\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_status:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{server.url}{path} not ready after {timeout:.0f}s:\n{server.log_tail()}")


@contextlib.contextmanager
def _serve(
    cmd: list[str],
    cwd: Path,
    state: Path,
    port: int,
    ready: str,
    timeout: float,
    code_root: Path = REPO,
):
    state.mkdir(parents=True, exist_ok=True)
    log = state / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=isolated_env(state, code_root), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(url=f"http://{LOOPBACK}:{port}", proc=proc, log=log)
    try:
        _wait_ready(server, ready, ready != "/api", timeout)
        yield server
    finally:
        server.stop()


FRONT_ENDS = ("lab", "notebook7")  # the two front ends the notebook tests run in


def _jupyter_cmd(front_end: str, root: Path, port: int) -> list[str]:
    """``jupyter lab`` or ``jupyter notebook`` (Notebook 7) on loopback, no token or password."""
    app = {"lab": "LabApp", "notebook7": "JupyterNotebookApp"}[front_end]
    return [
        str(VENV_BIN / "jupyter"), "lab" if front_end == "lab" else "notebook", "--no-browser",
        f"--port={port}", f"--ServerApp.ip={LOOPBACK}", "--IdentityProvider.token=",
        "--ServerApp.password=", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
        # Nothing may reach the internet: no news feed, update check or PyPI extension listing.
        # Notebook 7 loads the jupyterlab server extension too, so these apply to both.
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # window.jupyterapp lets the tests read the kernel status instead of guessing from pixels.
        f"--{app}.expose_app_in_browser=True",
        *_ROOT_FLAG,
    ]  # fmt: skip


@contextlib.contextmanager
def jupyter_server(
    front_end: str, root: Path, state: Path, timeout: float = 90, code_root: Path = REPO
) -> Iterator[Server]:
    """Run JupyterLab (``"lab"``) or Notebook 7 (``"notebook7"``) serving ``root`` on loopback.

    ``server.extra["front_end"]`` says which, for the page driver (``lab_page.open_notebook``);
    kernels import ``featviz_widgets`` from ``code_root``.
    """
    port = free_port()
    _write_lab_settings(state / "lab-settings")  # Notebook 7 reads the same settings plugins
    cmd = _jupyter_cmd(front_end, root, port)
    with _serve(cmd, root, state, port, "/api", timeout, code_root) as server:
        server.extra["front_end"] = front_end
        yield server


def jupyter_lab(
    root: Path, state: Path, timeout: float = 90, code_root: Path = REPO
) -> contextlib.AbstractContextManager:
    """Run ``jupyter lab`` serving ``root`` on a free loopback port without token or password."""
    return jupyter_server("lab", root, state, timeout, code_root)


def _write_lab_settings(settings: Path) -> None:
    """User settings for a test lab.

    Every cell is rendered (no virtual scrolling), so widget outputs below the fold are in the DOM;
    no news/update toast is shown (it would cover the screenshots and asks the network).
    """
    for plugin, values in [
        ("notebook-extension/tracker", {"windowingMode": "none"}),
        ("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False}),
    ]:
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def voila(notebook: Path, state: Path, timeout: float = 90) -> Iterator[Server]:
    """Run ``voila notebook`` on a free loopback port (no token); the page URL is ``server.url``."""
    port = free_port()
    cmd = [
        str(VENV_BIN / "voila"), str(notebook.name), "--no-browser", f"--port={port}",
        f"--Voila.ip={LOOPBACK}", "--Voila.port_retries=0", "--Voila.token=",
        # Notebook 7's JupyterLab extension (its "Open in..." buttons) is installed with notebook>=7
        # and Voila loads every lab extension; that one needs @jupyterlab/docregistry, which Voila
        # does not share, and throws at start-up (module federation RUNTIME-012). A Voila app has
        # no use for it; deployments want the same line in voila.json.
        f"--VoilaConfiguration.extension_denylist={NOTEBOOK7_LAB_EXTENSION}",
    ]  # fmt: skip
    # Voila routes every other path to the notebook (a GET would execute it): a 404 from its file
    # handler proves the server is up without starting a kernel.
    with _serve(cmd, notebook.parent, state, port, "/voila/files/.ready-probe", timeout) as server:
        yield server


def copy_notebooks(dest: Path, names: list[str]) -> Path:
    """Copy notebooks (output-free in the repo) into ``dest`` so running them dirties no tracked file."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(REPO / "notebooks" / name, dest / name)
    return dest
