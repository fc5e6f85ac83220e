"""The report pages in headless Chromium (Debian's `chromium`), served over HTTP from chDB data
of a simulated fault run: the rendered DOM shows the waterfall and the ranked candidates, and
the screenshots are real images of them (kept under the test's tmp dir)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from PIL import Image

from pipeline.api.server import serve_in_background
from pipeline.config import Settings
from pipeline.rca import rank_window
from tests import report_support

SIZE = (1400, 1000)
ERROR_RED = (220, 38, 38)  # the stylesheet's --err colour
TOKEN = "br0wser-token"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (Debian's package) is needed "
                    "for the report-page browser test")
    return path


def browse(url: str, tmp_path, shot: str | None = None) -> str:
    """Load `url` headless; return the DOM after scripts ran, or write a screenshot to `shot`.
    The virtual-time budget lets a page's own navigations (a form posting itself) finish first."""
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--virtual-time-budget=10000",
            "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={SIZE[0]},{SIZE[1]}"]
    args += [f"--screenshot={shot}"] if shot else ["--dump-dom"]
    done = subprocess.run(args + [url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def signed_in(base: str, page: str, tmp_path, token: str = TOKEN) -> str:
    """A local file that fills in the sign-in form as a person would and submits it: the
    browser posts the token (never in a URL), gets the cookie and is sent on to `page`.
    Returns the file's URL, to load with `browse`."""
    html = (f'<form method="post" action="{base}/report/login"><input name="token" value="{escape(token)}">'
            f'<input name="next" value="{escape(page)}"></form><script>document.forms[0].submit()</script>')
    path = tmp_path / "sign-in.html"
    path.write_text(html)
    return path.as_uri()


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def find(dom: str, tag: str, cls: str) -> list[dict]:
    p = _Dom()
    p.feed(dom)
    return [a for t, a in p.tags if t == tag and cls in (a.get("class") or "").split()]


def check_png(path, red_at_least: int) -> None:
    """The screenshot decodes, has the window's size, is not one flat colour, and shows at
    least `red_at_least` pixels of the error colour."""
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and im.size == SIZE
        rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    assert max(n for n, _ in colours) < 0.95 * SIZE[0] * SIZE[1]
    red = sum(n for n, c in colours if all(abs(a - b) <= 12 for a, b in zip(c, ERROR_RED)))
    assert red >= red_at_least, red


@pytest.fixture(scope="module")
def served(chdb_root):
    data, admin, db = report_support.build(chdb_root)
    mp = pytest.MonkeyPatch()
    mp.setenv("TELECORR_API_TOKEN", TOKEN)
    handle = serve_in_background(Settings(), data.client, "127.0.0.1", 0)
    mp.undo()
    yield data, f"http://127.0.0.1:{handle.port}"
    handle.stop()
    admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")


def test_trace_page_in_chromium(served, tmp_path):
    store, base = served
    url = signed_in(base, f"/report/trace/{store.failing_trace}", tmp_path)
    dom = browse(url, tmp_path)
    assert 'data-ready="1"' in dom  # the page's script ran
    rows = find(dom, "details", "span-row")
    spans = store.client.query("SELECT count() FROM (SELECT DISTINCT span_id FROM spans WHERE trace_id = {t:String})",
                               parameters={"t": store.failing_trace}).result_rows[0][0]
    assert len(rows) == spans > 1
    assert len(find(dom, "span", "bar")) == spans
    own = find(dom, "details", "span-own")
    assert own and find(dom, "details", "span-err") and any("open" in d for d in own)
    shot = tmp_path / "trace.png"
    browse(url, tmp_path, str(shot))
    check_png(shot, red_at_least=200)


def test_window_page_in_chromium(served, tmp_path):
    store, base = served
    lo, hi = store.fault["start_ns"], store.fault["end_ns"]
    ranking = rank_window(store.client, lo, hi)
    url = signed_in(base, f"/report/window?from={store.fault['start']}&to={store.fault['end']}", tmp_path)
    dom = browse(url, tmp_path)
    cands = find(dom, "li", "cand")
    assert ranking["candidates"] and [c["data-service"] for c in cands] == [c["service"] for c in ranking["candidates"]]
    assert find(dom, "li", "top")[0]["data-service"] == ranking["candidates"][0]["service"]
    assert find(dom, "g", "suspect") and find(dom, "div", "chart")
    shot = tmp_path / "window.png"
    browse(url, tmp_path, str(shot))
    check_png(shot, red_at_least=200)


def test_wrong_token_shows_no_page(served, tmp_path):
    store, base = served
    dom = browse(signed_in(base, f"/report/trace/{store.failing_trace}", tmp_path, token="wrong"), tmp_path)
    assert "not accepted" in dom and not find(dom, "details", "span-row")
    # Without signing in, a page opens the sign-in form instead.
    dom = browse(f"{base}/report/trace/{store.failing_trace}", tmp_path / "fresh")
    assert find(dom, "form", "") == [] and 'id="login-form"' in dom and not find(dom, "details", "span-row")
