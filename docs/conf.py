"""Sphinx configuration of skae's documentation site.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (the ``docs`` extra).
The gallery runs ``examples/plot_*.py`` at their CI size (``SKAE_QUICK=1``;
``SKAE_QUICK=0`` builds it at full size). Intersphinx links to scikit-learn,
skorch, PyTorch, NumPy and pandas need their inventories: with no network
(this project's machines and CI) set none and the references render as code;
``SKAE_DOCS_INTERSPHINX=1`` fetches them, and an inventory saved as
``docs/_inventories/<name>.inv`` is used offline.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]
os.environ.setdefault("SKAE_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import skae_docs  # noqa: E402

import skae  # noqa: E402

skae_docs.generate_all()
skae_docs.prime_seen()

project = "skae"
author = "The skae developers"
copyright = "The skae developers, BSD 3-Clause"
version = release = skae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "skae_docs",
]
# MathJax served with the site (no CDN: the site is read offline too).
try:
    import importlib

    importlib.import_module("sphinx-mathjax-offline")
    extensions.append("sphinx-mathjax-offline")
except ImportError:
    pass
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "guide.md",  # cut into user_guide/ at build time
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
    "sg_execution_times.rst",
    "auto_examples/sg_execution_times.rst",
]
suppress_warnings = []

# MyST: the Markdown pages, GitHub-style heading anchors (guide.md#x), maths.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4

# autodoc / autosummary / numpydoc
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Intersphinx: see the module docstring.
INVENTORIES = {
    "sklearn": "https://scikit-learn.org/stable/",
    "skorch": "https://skorch.readthedocs.io/en/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "python": "https://docs.python.org/3/",
}
_online = os.environ.get("SKAE_DOCS_INTERSPHINX") == "1"
intersphinx_mapping = {}
for _name, _url in INVENTORIES.items():
    _local = DOCS / "_inventories" / f"{_name}.inv"
    if _local.exists():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif _online:
        intersphinx_mapping[_name] = (_url, None)
intersphinx_timeout = 10

# sphinx-gallery: examples/plot_*.py, run once here at their CI size.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(demo|__init__)\.py",
    "image_scrapers": ("skae_docs.saved_figures",),
    "reset_modules": (),
    "reset_argv": "skae_docs.example_argv",
    "doc_module": ("skae",),
    "backreferences_dir": "gen_modules/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "plot_gallery": "True",
}

# HTML: pydata-sphinx-theme, scikit-learn's.
html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_static_path = ["_static"]
html_favicon = "_static/skae.svg"
html_logo = "_static/skae.svg"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_css_files = ["skae.css"]
# Single pages need no section navigation on the left.
html_sidebars = {
    name: []
    for name in ("index", "getting_started", "concepts", "mathematics", "changelog")
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}
