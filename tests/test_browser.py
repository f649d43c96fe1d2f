"""The published book in a real browser, with the network off.

Every page of the HTML book is served from localhost and loaded in headless Chromium,
which can reach nothing else: no console error, every image loaded, every formula
typeset by the local MathJax and no raw TeX left, nothing requested from outside. The
chapters' explorables are there and their sliders change the figure; search works.

The HTML is ``_build/html`` when it is newer than every source (``.ci/run`` builds the
book first), else the book is built into a temporary folder (several minutes). The test
skips, saying why, where Chromium, chromedriver or selenium is missing.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "_build" / "html"
SOURCES = ["_config.yml", "_toc.yml", "book", "optlib"]
#: The chapters whose explorables the HTML must offer, and how many players each has.
EXPLORABLES = {"book/01_gradient_descent.html": 2,
               "book/02_learning_rate_schedules.html": 1,
               "book/03_momentum.html": 1,
               "book/04_gradient_clipping.html": 1,
               "book/05_adaptive_methods.html": 3,
               "book/06_second_order.html": 1,
               "book/07_putting_it_together.html": 1}
#: Pages that open with a diagram drawn at build time (a hide-input cell's figure).
DIAGRAMS = [*EXPLORABLES, "book/appendix_modern_optimizers.html"]
#: Size budget of one page's HTML (figures are separate files, explorables are inline).
PAGE_BUDGET_BYTES = 3_000_000
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--no-first-run", "--window-size=1280,1000",
    # the network is off: no name resolves but localhost, and everything not on the
    # loopback goes to a proxy on a port where nothing listens
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)


def newest_source_mtime():
    files = [p for name in SOURCES for p in ([ROOT / name] if (ROOT / name).is_file()
                                            else (ROOT / name).rglob("*"))]
    return max(p.stat().st_mtime for p in files if p.is_file()
               and not any(part.startswith((".", "__pycache__"))
                           for part in p.relative_to(ROOT).parts)
               and p.suffix not in (".pyc", ".nbi", ".nbc"))


def book_pages(html):
    """The pages of a built book, relative to ``html`` (not the theme's own files)."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_"))


def fresh_build():
    """``_build/html`` if every page in it was written after the last source change."""
    if not (BUILT / "index.html").exists():
        return None
    written = min((BUILT / page).stat().st_mtime for page in book_pages(BUILT))
    return BUILT if written > newest_source_mtime() else None


def build_book(out):
    exe = Path(sys.executable).with_name("jupyter-book")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("MPLBACKEND", None)        # with Agg, the kernels would show no figure
    command = [str(exe), "build", str(ROOT), "--path-output", str(out), "-W", "-n",
               "--keep-going"]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        pytest.fail("the book did not build:\n" + done.stdout[-3000:])
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def chrome():
    """Paths to Chromium and chromedriver, or a skip saying what is missing."""
    required = os.environ.get("OPTLIB_REQUIRE_BROWSER") == "1"  # set by .ci/run
    try:
        import selenium
    except ImportError:
        why = "selenium is not installed (pip install -r requirements.txt)"
        pytest.fail(why) if required else pytest.skip(why)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_exe = shutil.which("chromedriver")
    if chromium is None or driver_exe is None:
        why = ("needs Chromium and chromedriver on PATH (Debian: apt-get install "
               f"chromium chromium-driver); found chromium={chromium}, "
               f"chromedriver={driver_exe}, selenium {selenium.__version__}")
        pytest.fail(why) if required else pytest.skip(why)
    return chromium, driver_exe


@pytest.fixture(scope="module")
def site(chrome, tmp_path_factory):
    """The built book served on localhost: (its folder, URL, failed requests)."""
    html = fresh_build() or build_book(tmp_path_factory.mktemp("book"))
    failed = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send_error(self, code, *args, **kwargs):
            failed.append(f"{code} {self.path}")
            super().send_error(code, *args, **kwargs)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html, f"http://127.0.0.1:{server.server_port}/", failed
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(chrome, tmp_path_factory):
    from selenium import webdriver as wd
    from selenium.webdriver.chrome.service import Service

    chromium, driver_exe = chrome
    options = wd.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = wd.Chrome(options=options, service=Service(executable_path=driver_exe))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def wait_for(driver, script, timeout=30):
    """Poll ``script`` (JavaScript returning a value) until it is truthy; return it."""
    end = time.monotonic() + timeout
    while not (value := driver.execute_script(script)) and time.monotonic() < end:
        time.sleep(0.1)
    return value


MATH_DONE = """
const done = arguments[arguments.length - 1];
const maths = [...document.querySelectorAll('.math')];
if (!maths.length) { done({maths: 0, untypeset: [], errors: []}); return; }
if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
  done({maths: maths.length, untypeset: ['MathJax did not load'], errors: []}); return;
}
MathJax.startup.promise.then(() => done({
  maths: maths.length,
  untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                  .map(m => m.textContent.slice(0, 80)),
  errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent)}));
"""
IMAGES_LOADED = """
const imgs = [...document.images];
imgs.forEach(i => { i.loading = 'eager'; });
return imgs.every(i => i.complete && i.naturalWidth > 0);
"""
BROKEN_IMAGES = """
return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                           .map(i => (i.id || i.alt || i.src).slice(0, 80));
"""
# The page's prose: everything but code, scripts and typeset math.
PROSE = """
const copy = document.body.cloneNode(true);
copy.querySelectorAll('pre, code, script, style, textarea, mjx-container, .math')
    .forEach(e => e.remove());
return copy.textContent;
"""
OUTSIDE_REQUESTS = """
return performance.getEntriesByType('resource').map(r => r.name)
  .filter(n => !n.startsWith(location.origin) && !n.startsWith('data:'));
"""
RAW_TEX = re.compile(r"\$\$|\\[()\[\]]|\\[A-Za-z]{2,}|\$[^$\n]{1,60}\$")


def page_problems(driver, url, failed):
    """Load ``url``; return the list of what is wrong with it."""
    driver.get_log("browser")                               # forget earlier pages
    del failed[:]
    driver.get(url)
    wait_for(driver, "return document.readyState === 'complete'")
    math = driver.execute_async_script(MATH_DONE)
    wait_for(driver, IMAGES_LOADED)
    problems = [f"math not typeset: {m!r}" for m in math["untypeset"]]
    problems += [f"TeX error: {e!r}" for e in math["errors"]]
    problems += [f"image not loaded: {i}"
                 for i in driver.execute_script(BROKEN_IMAGES)]
    prose = driver.execute_script(PROSE)
    problems += [f"raw TeX in the text: {prose[max(0, m.start() - 30):m.end() + 30]!r}"
                 for m in RAW_TEX.finditer(prose)]
    problems += [f"requested from outside: {u}"
                 for u in driver.execute_script(OUTSIDE_REQUESTS)]
    problems += [f"console {e['level']}: {e['message']}"
                 for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    problems += [f"server answered {f}" for f in failed]
    return problems, math["maths"]


def test_every_page_renders_offline(site, browser):
    html, base, failed = site
    pages = book_pages(html)
    assert set(EXPLORABLES) <= set(pages) and "search.html" in pages
    report, typeset = {}, {}
    for page in pages:
        problems, typeset[page] = page_problems(browser, base + page, failed)
        if problems:
            report[page] = problems
    assert not report, json.dumps(report, indent=1)
    assert all(typeset[p] > 10 for p in EXPLORABLES), typeset    # chapters have math
    sizes = {p: (html / p).stat().st_size for p in pages}
    assert max(sizes.values()) < PAGE_BUDGET_BYTES, sizes


def test_equations_and_exercises_are_numbered_within_their_chapter(site):
    html = site[0]
    for page in EXPLORABLES:  # the seven chapters
        text = (html / page).read_text()
        chapter = int(Path(page).name[:2])
        eqs = re.findall(r'class="eqno">\(([0-9.]+)\)', text)
        exercises = set(re.findall(r"Exercise ([0-9.]+)", text))
        assert eqs and exercises, page
        assert eqs == [f"{chapter}.{k}" for k in range(1, len(eqs) + 1)], (page, eqs)
        assert all(e.startswith(f"{chapter}.") for e in exercises), (page, exercises)


def test_chapters_show_their_figures_and_diagrams(site, browser):
    _, base, _ = site
    for page in DIAGRAMS:
        browser.get(base + page)
        wait_for(browser, IMAGES_LOADED)
        figures, diagrams = browser.execute_script("""
            const fig = '.cell_output img:not([id^="_anim_img"])';
            return [document.querySelectorAll(fig).length,
                    document.querySelectorAll('.tag_hide-input ' + fig).length];""")
        assert figures >= 2 and diagrams >= 1, (page, figures, diagrams)


def players(driver):
    return driver.execute_script("""
        return [...document.querySelectorAll('div.animation')].map(a => ({
          slider: a.querySelector('input[type=range]').id,
          img: a.querySelector('img').id,
          frames: Number(a.querySelector('input[type=range]').max) + 1}));""")


@pytest.mark.parametrize("page", sorted(EXPLORABLES))
def test_explorable_sliders_change_the_figure(site, browser, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _, base, _ = site
    browser.get(base + page)
    wait_for(browser, IMAGES_LOADED)
    found = players(browser)
    assert len(found) == EXPLORABLES[page]
    for player in found:
        assert player["frames"] >= 2
        src = browser.find_element(By.ID, player["img"]).get_attribute
        before = src("src")
        assert before.startswith("data:image/png;base64,")
        slider = browser.find_element(By.ID, player["slider"])
        browser.execute_script("arguments[0].scrollIntoView()", slider)
        slider.send_keys(Keys.END)                          # as a reader would
        assert slider.get_attribute("value") == str(player["frames"] - 1)
        after = src("src")
        assert after != before and after.startswith("data:image/png;base64,")
        assert browser.execute_script(
            "const i = document.getElementById(arguments[0]);"
            "return i.complete && i.naturalWidth > 0;", player["img"])
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_a_solution_opens_from_its_title_and_its_exercise_link_is_followed(site, browser):
    """The title of a solution dropdown toggles it; the link inside the title goes to
    the exercise, with no error in the console (solution_links.js)."""
    from selenium.webdriver.common.by import By

    _, base, _ = site
    page = base + "book/04_gradient_clipping.html"
    browser.get(page)
    wait_for(browser, "return document.readyState === 'complete'")
    browser.get_log("browser")
    title = browser.find_element(By.CSS_SELECTOR, ".solution.dropdown .admonition-title")
    body = "return document.querySelector('.solution.dropdown section').offsetHeight;"
    assert browser.execute_script(body) == 0                 # closed at first
    browser.execute_script("arguments[0].scrollIntoView()", title)
    link = title.find_element(By.TAG_NAME, "a")
    target = link.get_attribute("href").split("#")[1]
    browser.execute_script("arguments[0].click()", link)     # before any other click
    assert wait_for(browser, f"return location.hash === '#{target}';")
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert browser.execute_script(body) == 0                 # the link only navigates
    browser.execute_script("arguments[0].click()", title)
    assert wait_for(browser, body.replace(";", " > 0;"))    # the title opens it


def test_search_finds_a_chapter_offline(site, browser):
    _, base, _ = site
    browser.get(base + "search.html?q=nesterov")
    hits = wait_for(browser, """
        return [...document.querySelectorAll('#search-results li a')]
               .map(a => a.getAttribute('href'));""")
    assert hits and any("03_momentum" in h for h in hits), hits


def test_chapters_offer_launch_and_download_buttons(site, browser):
    _, base, _ = site
    for page in EXPLORABLES:
        browser.get(base + page)
        links = browser.execute_script(
            "return [...document.querySelectorAll('a')].map(a => a.href);")
        assert any("mybinder.org" in u for u in links), page
        assert any("colab.research.google.com" in u for u in links), page
        notebook = [u for u in links if u.startswith(base + "_sources/")
                    and u.endswith(".ipynb")]
        assert len(notebook) == 1, notebook
        local = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with local.open(notebook[0]) as answer:                  # the download works
            cells = json.load(answer)["cells"]
        assert cells[0]["cell_type"] == "markdown"
