"""Headless Chromium (Debian's /usr/bin/chromium through Playwright, no browser download)
on a loopback http.server, for the tests and screenshots of the report and the viewer."""
import contextlib
import functools
import http.server
import os
import shutil
import threading

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def missing() -> str:
    """Why a browser test cannot run here ('' when it can)."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"{CHROMIUM} is not installed (apt-get install chromium; scripts/install.sh does so as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return ""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """A loopback HTTP server on directory; yields its base URL ('http://127.0.0.1:PORT/')."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser_page(width=1280, height=900):
    """A Playwright page in headless Chromium; page.console_errors collects JavaScript errors."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.console_errors = []
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(f"pageerror: {e}"))
            yield page
        finally:
            browser.close()


def canvas_pixels_nonblank(png_path, min_fraction=0.02):
    """(non-blank, fraction): whether a screenshot holds enough pixels that differ from its
    most common (background) colour."""
    import numpy as np
    from PIL import Image
    img = np.asarray(Image.open(png_path).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    fraction = float(np.mean(np.any(np.abs(img.astype(int) - background) > 16, axis=1)))
    return fraction >= min_fraction, fraction
