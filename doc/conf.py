"""Sphinx configuration of skrnn's documentation site.

Build it from a clone's root with ``pip install ".[doc]" && python -m sphinx
-W --keep-going -b html doc doc/_build/html``. The skrnn it documents is
the installed one (its compiled kernels run the gallery), so nothing here
puts ``src/`` on the path.
"""

import os
import sys

# The gallery's examples run while the site builds; one kernel thread each
# keeps the build polite on a shared machine, and skrnn's results do not
# depend on the number of threads. Set before skrnn is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import skrnn  # noqa: E402

# doc/_ext: the links the sources do not write (skrnn_links.py) and the
# order of the gallery (gallery_order.py).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

project = "skrnn"
copyright = "skrnn developers (BSD-3-Clause)"
version = release = skrnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "skrnn_links",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "_ext"]

# The user guide, the long-range page and the performance page are Markdown
# files, read on GitHub too, that myst-parser includes as they are. Their
# headings up to the third level get anchors, so that a page can link to
# another's section as GitHub does ([...](user_guide.md#pooling)).
myst_heading_anchors = 3
# Their code blocks without a language are diagrams and equations, not code
# to colour.
highlight_language = "none"

# -- API reference -------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
# The class template (_templates/autosummary/class.rst) writes each class's
# table of methods; numpydoc's own table of members would repeat it.
numpydoc_show_class_members = False
add_function_parentheses = False

# -- Gallery -------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.example_order",
    # "Examples using ..." at the end of each API page, and links from the
    # examples' code to the API reference.
    "doc_module": ("skrnn",),
    "reference_url": {"skrnn": None},
    "backreferences_dir": "generated/backreferences",
    "min_reported_time": 1,
    "remove_config_comments": True,
}

# -- HTML ----------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skrnn {release}"
html_theme_options = {
    "github_url": None,
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # An example's page is its code: without the table of contents on the
    # right, 79-column lines fit on a laptop's screen.
    "secondary_sidebar_items": {"auto_examples/*": []},
}
html_show_sourcelink = False
# The single pages need no left-hand navigation of their own.
html_sidebars = {page: [] for page in
                 ("index", "install", "user_guide", "long_range", "performance")}

