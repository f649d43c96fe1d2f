"""The book's structure: every chapter listed, committed without outputs, configured
so that a build can never publish stale results."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CHAPTERS = [nb for nb in NOTEBOOKS if re.match(r"\d\d_", nb.name)]
APPENDICES = [nb for nb in NOTEBOOKS if nb.name.startswith("appendix_")]


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    files += [c["file"] for c in toc.get("chapters", [])]
    return files


def test_there_are_chapters():
    assert CHAPTERS, "book/ holds no chapter notebooks"


def test_every_notebook_is_a_chapter_or_an_appendix():
    assert sorted(CHAPTERS + APPENDICES) == NOTEBOOKS, \
        "name notebooks NN_topic.ipynb (a chapter) or appendix_topic.ipynb"


def test_appendices_come_after_the_chapters():
    files = toc_files()
    for nb in APPENDICES:
        assert files.index(f"book/{nb.stem}") > max(files.index(f"book/{c.stem}")
                                                    for c in CHAPTERS)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_in_the_toc(nb):
    assert f"book/{nb.stem}" in toc_files()


def test_every_toc_entry_exists():
    for entry in toc_files():
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(nb):
    cells = json.loads(nb.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"cells {dirty} carry outputs; clear them before committing"
    ids = [c.get("id") for c in cells]
    missing = [i for i, cid in enumerate(ids) if not cid]
    assert not missing, f"cells {missing} have no id (nbformat 4.5 requires one)"
    assert len(set(ids)) == len(ids), "cell ids must be unique"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page_width(nb):
    """The HTML shows about 79 characters of a code line; the rest hides behind a
    scrollbar, so a longer line is wrapped in the notebook instead."""
    cells = json.loads(nb.read_text())["cells"]
    long = [f"{nb.name}, cell {i}, line {j + 1} ({len(line)} characters): {line}"
            for i, c in enumerate(cells) if c["cell_type"] == "code"
            for j, line in enumerate("".join(c["source"]).split("\n"))
            if len(line) > 79]
    assert not long, "code lines over 79 characters:\n" + "\n".join(long)


def chapter_text(nb):
    return [("".join(c["source"]), c["cell_type"], c.get("metadata", {}).get("tags", []))
            for c in json.loads(nb.read_text())["cells"]]


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_chapter_follows_the_template(nb):
    cells = chapter_text(nb)
    md = "\n".join(s for s, kind, _ in cells if kind == "markdown")
    for heading in ("## Overview", "## Theory", "## From scratch, then the library",
                    "## Experiments", "## Explore", "## Summary", "## Exercises"):
        assert heading in md, f"{nb.name} lacks the section {heading!r}"
    assert re.match(r"\(ch-[\w-]+\)=\n# ", cells[0][0]), "first cell: a label, then the title"
    code = [s for s, kind, _ in cells if kind == "code"]
    assert "import optlib as ol" in code[0]
    assert any("np.testing.assert_allclose" in s for s in code)


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_exercises_have_gated_solutions_and_checked_coding_stubs(nb):
    cells = chapter_text(nb)
    labels = re.findall(r"````\{exercise\}.*\n:label: ([\w-]+)",
                        "\n".join(s for s, k, _ in cells if k == "markdown"))
    assert len(labels) >= 4
    for label in labels:
        starts = [i for i, (s, k, _) in enumerate(cells)
                  if k == "markdown" and s.startswith(f"````{{solution-start}} {label}")]
        assert len(starts) == 1, f"exercise {label} needs one solution-start"
        assert ":class: dropdown" in cells[starts[0]][0]
        ends = [i for i, (s, k, _) in enumerate(cells[starts[0]:])
                if k == "markdown" and "{solution-end}" in s]
        assert ends, f"exercise {label} has no solution-end"
    stubs = [s for s, k, _ in cells if k == "code" and "raise NotImplementedError" in s]
    checked_solutions = [s for s, k, _ in cells if k == "code"
                         and re.search(r"assert ol\.exercises\.check_\w+\(", s)]
    assert len(stubs) >= 2 and len(checked_solutions) == len(stubs)
    for stub in stubs:
        assert re.search(r"ol\.exercises\.check_\w+\(", stub), "a stub must call its checker"


@pytest.mark.parametrize("nb", APPENDICES, ids=lambda p: p.name)
def test_appendix_follows_its_shorter_template(nb):
    """An appendix: label and title, the imports, a check against the library, the
    claims asserted and a summary; no exercises are required."""
    cells = chapter_text(nb)
    md = "\n".join(s for s, kind, _ in cells if kind == "markdown")
    assert "## Summary" in md
    assert re.match(r"\(app-[\w-]+\)=\n# Appendix: ", cells[0][0])
    code = [s for s, kind, _ in cells if kind == "code"]
    assert "import optlib as ol" in code[0]
    assert any("np.testing.assert_allclose" in s for s in code)
    assert any(re.search(r"^assert ", s, re.M) for s in code)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_widgets_are_kept_out_of_the_html_and_have_an_explorable(nb):
    cells = chapter_text(nb)
    for source, kind, tags in cells:
        if kind == "code" and "ol.widgets." in source:
            assert "remove-cell" in tags, "a widget is dead in the HTML: tag it remove-cell"
            # the book build does not run it (nbval still does): a widget cell is where
            # the build's executor sometimes missed the kernel's reply until the timeout
            assert "skip-execution" in tags, "tag the widget cell skip-execution too"
    if any("ol.widgets." in s for s, k, _ in cells):
        assert any("ol.explorables." in s for s, k, _ in cells)


def test_config_cannot_publish_stale_outputs():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["execute"]["allow_errors"] is False
    assert config["only_build_toc_files"] is True
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert {"sphinx_exercise", "sphinx_togglebutton"} <= set(config["sphinx"]["extra_extensions"])
    assert "Jupyter Book" not in config["author"] and config["title"] != "My sample book"


def test_cited_keys_exist_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    for path in list(ROOT.glob("book/*.ipynb")) + list(ROOT.glob("book/*.md")):
        for group in re.findall(r"\{cite[^}]*\}`([^`]+)`", path.read_text()):
            cited |= {k.strip() for k in group.split(",")}
    assert cited and cited <= keys, cited - keys


def test_readme_states_the_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest --nbval-lax tests book" in readme
    assert "-m pytest --nbval-lax tests book" in ci
    assert "jupyter-book build . -W -n --keep-going" in readme
    assert "jupyter-book\" build . -W -n --keep-going" in ci
    assert "set -euo pipefail" in ci


def test_requirements_pin_what_matters():
    req = (ROOT / "requirements.txt").read_text()
    assert "-e ." in req.splitlines()
    assert "jupyter-book>=1.0.4,<2" in req
    for pkg in ("numba", "numpy", "matplotlib", "ipywidgets", "nbval", "sphinx-exercise",
                "sphinx-togglebutton", "sphinxcontrib-bibtex"):
        assert re.search(rf"^{pkg}>=[\d.]+,<[\d.]+$", req, re.M), pkg


def test_bibliography_parses():
    """A broken entry stops the whole build; find it here, with the line it is on."""
    pybtex = pytest.importorskip("pybtex.database")
    db = pybtex.parse_file(str(ROOT / "book" / "references.bib"))
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text()))
    assert set(db.entries) == keys
