"""A page checked in Debian's headless chromium: errors while loading, resources fetched, plot pixels.

Each check loads a copy of the page with a recorder script put first in <head>: it records error events
(script errors and failed loads, captured), console.error calls, every resource fetched or named (src, link
href) that is not a data: URI, and the plots' boxes, into a <pre> that --dump-dom prints. The screenshot is
of the page as written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

INSTALL = "chromium is not installed: `apt-get install -y chromium` (Debian; .ci/run does it in CI)"
WIDTH = 1200
RECORDER = """<script>
window.__seen = [];
window.addEventListener("error", function (e) {
  var target = e.target && (e.target.src || e.target.href);
  window.__seen.push("error: " + (e.message || ("failed to load " + target)));
}, true);
var consoleError = console.error;
console.error = function () {
  window.__seen.push("console.error: " + Array.prototype.join.call(arguments, " "));
  consoleError.apply(console, arguments);
};
window.addEventListener("load", function () {
  var named = Array.prototype.map.call(document.querySelectorAll("[src],link[href]"), function (e) {
    return e.getAttribute("src") || e.getAttribute("href");
  });
  var fetched = performance.getEntriesByType("resource").map(function (r) { return r.name; })
    .concat(named).filter(function (name) { return name.indexOf("data:") !== 0; });
  var plots = Array.prototype.map.call(document.querySelectorAll("img.plot"), function (img) {
    var box = img.getBoundingClientRect();
    return {id: img.id, x: box.left + scrollX, y: box.top + scrollY, w: box.width, h: box.height,
            loaded: img.complete && img.naturalWidth > 0};
  });
  var out = document.createElement("pre");
  out.id = "orchard-browser-check";
  out.textContent = JSON.stringify({errors: window.__seen, fetched: fetched, plots: plots,
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""


@dataclass(frozen=True)
class Loaded:
    errors: list[str]
    fetched: list[str]
    plots: list[dict]
    height: int


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(INSTALL)
    return found


def _run(*args: str) -> str:
    flags = [
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]
    done = subprocess.run(
        [chromium(), *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def load(page: Path, work: Path) -> Loaded:
    html = page.read_text(encoding="utf-8")
    head = html.index("<head>") + len("<head>")
    probe = work / "probe.html"
    probe.write_text(html[:head] + RECORDER + html[head:], encoding="utf-8")
    dom = _run("--virtual-time-budget=5000", f"--window-size={WIDTH},900", "--dump-dom", probe.as_uri())
    start = dom.index('id="orchard-browser-check">') + len('id="orchard-browser-check">')
    record = json.loads(_unescape(dom[start : dom.index("</pre>", start)]))
    return Loaded(record["errors"], record["fetched"], record["plots"], int(record["height"]))


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def screenshot(page: Path, target: Path, height: int) -> Image.Image:
    _run(f"--window-size={WIDTH},{height}", f"--screenshot={target}", page.as_uri())
    return Image.open(target).convert("RGB")


def drawn_share(picture: Image.Image, box: dict) -> float:
    """The share of the box's pixels that are not (near) white: a plot shows lines, points and text."""
    x, y, w, h = (round(box[key]) for key in ("x", "y", "w", "h"))
    pixels = np.asarray(picture.crop((x, y, x + w, y + h)), dtype=np.int16)
    return float((pixels.min(axis=2) < 230).mean()) if pixels.size else 0.0
