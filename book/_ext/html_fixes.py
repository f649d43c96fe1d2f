"""A fix to the HTML that Jupyter Book 1 writes (a Sphinx extension, loaded through
``sphinx.local_extensions`` in ``_config.yml``).

Sphinx 7 lists an inline script that an extension adds once the builder exists twice:
once under the file name ``None`` and once under ``''``. So sphinx-thebe's
``const THEBE_JS_URL = ...`` appears twice on every page, and the second copy stops with
a SyntaxError in the browser's console. Each page keeps one copy of each script.
tests/test_browser.py checks that the pages log no console error.
"""


def one_copy_of_each_script(app, pagename, templatename, context, doctree):
    seen, scripts = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, sorted(script.attributes.items()))
        if repr(key) not in seen:
            seen.add(repr(key))
            scripts.append(script)
    context["script_files"] = scripts


def setup(app):
    # after every other handler (MathJax adds its script in this event too)
    app.connect("html-page-context", one_copy_of_each_script, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
