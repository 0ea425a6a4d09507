"""Build-time pages of skae's documentation site.

Everything a page shows that lives elsewhere in the repository is generated
here when Sphinx starts, never pasted, so that the site follows the sources:

* the user guide: ``docs/guide.md`` split into one page per family
  (``USER_GUIDE``); a section that no page names gets a page of its own;
* the API reference: every name of ``skae.__all__``, and every public
  submodule that declares ``__all__``, one autosummary page each;
* the benchmarks: the tables of ``benchmarks/results/*.md`` in
  ``benchmarks.report.BENCHMARKS`` order, each with its protocol (the
  result's ``protocol`` field or the writing script's docstring);
* links: the Markdown files' links, written for GitHub (``guide.md#x``,
  ``../benchmarks/results/SUMMARY.md``), are pointed at the site's pages,
  and the docstrings' ``docs/concepts.md#x`` become references.

The gallery's image scraper (:func:`saved_figures`) is here too: the examples
save their figures to ``examples/figures/`` and close them, so it collects
the PNG files an example wrote instead of open matplotlib figures.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "examples" / "figures"

# Generated files and folders (all in .gitignore).
GENERATED = ("user_guide", "api", "benchmarks", "auto_examples", "gen_modules")


# --------------------------------------------------------------------------
# Markdown helpers
# --------------------------------------------------------------------------
_SLUG_CLEAN = re.compile(r"[^\w\u4e00-\u9fff\- ]")


def slugify(title: str) -> str:
    """MyST's default heading anchor (GitHub's): what ``guide.md#x`` links use."""
    text = re.sub(r"[`*]", "", title)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return _SLUG_CLEAN.sub("", text.strip().lower()).replace(" ", "-")


@dataclass
class Section:
    """One ``##`` or ``###`` section of a Markdown file, up to the next one."""

    level: int
    title: str
    lines: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return slugify(self.title)


def split_sections(text: str, levels=(2, 3)) -> tuple[list[str], list[Section]]:
    """The lines before the first heading, and the sections (fences respected)."""
    preamble: list[str] = []
    sections: list[Section] = []
    fence = None
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is None and stripped[:3] in ("```", "~~~"):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None:
            match = re.match(r"^(#{1,6}) (.*)$", line)
            if match and len(match.group(1)) in levels:
                sections.append(Section(len(match.group(1)), match.group(2).strip()))
                continue
            if match and len(match.group(1)) == 1 and not sections:
                continue  # the file's own title
        (sections[-1].lines if sections else preamble).append(line)
    return preamble, sections


def write_if_changed(path: Path, text: str) -> None:
    """Write only what changed, so that Sphinx rebuilds only what changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------
# The user guide: guide.md, one page per family
# --------------------------------------------------------------------------
@dataclass
class Page:
    name: str
    title: str
    intro: str
    sections: tuple[str, ...] = ()  # guide.md headings, ## or ###


USER_GUIDE = (
    Page(
        "overview",
        "Overview and design",
        "What every skae estimator shares: the methods, the design of the house "
        "(input layer, preprocessor, model part, training policy), units, "
        "reproducibility, speed, sparse input and what a bad input or a diverging "
        "fit gives.",
        (
            "Estimators",
            "Design",
            "Units",
            "Reproducibility",
            "Speed and memory",
            "Sparse input",
            "Bad input, diverging and interrupted fits",
        ),
    ),
    Page(
        "autoencoders",
        "Autoencoders",
        """\
{class}`skae.AutoencoderTransformer` is a deep MLP (or, with `image_shape`,
convolutional) autoencoder with the scikit-learn transformer API: `transform`
gives the code, `inverse_transform` decodes it, `score_samples` is minus the
per-sample squared reconstruction error and `sample` decodes draws from a
Gaussian fitted to the codes. Its classical counterpart is
{class}`~sklearn.decomposition.PCA`, and it starts there
([classical starts and epoch 0](../concepts.md#classical-starts-and-epoch-0)).

```python
from sklearn.datasets import load_digits
from skae import AutoencoderTransformer

X, _ = load_digits(return_X_y=True)
ae = AutoencoderTransformer(n_components=8, random_state=0).fit(X)
codes = ae.transform(X)
X_hat = ae.inverse_transform(codes)
```

Gallery: {doc}`../auto_examples/plot_reconstruction_vs_k`,
{doc}`../auto_examples/plot_select_reducer`.
""",
        ("Classical starts and the denoising warm-up",),
    ),
    Page(
        "denoising",
        "Denoising autoencoders",
        """\
{class}`skae.DenoisingAE` is the autoencoder trained on corrupted inputs
(`noise='gaussian'`, `'masking'` or `'salt_and_pepper'`, or one of
{mod}`skae.noise`'s corruptions) to reconstruct the clean ones; `denoise(X)`
returns the reconstruction of noisy rows. Its classical counterparts are
{class}`~sklearn.decomposition.PCA` and
{class}`~sklearn.decomposition.KernelPCA` with `inverse_transform`. The plain
autoencoder borrows a short version of the same training as its
[denoising warm-up](../concepts.md#the-denoising-warm-up).

```python
from skae import DenoisingAE

dae = DenoisingAE(n_components=16, noise="gaussian", noise_level=0.25,
                  random_state=0).fit(X_noisy)
X_clean = dae.denoise(X_noisy)
```

Gallery: {doc}`../auto_examples/plot_denoising`.
""",
    ),
    Page(
        "vae",
        "Variational autoencoders",
        r"""
{class}`skae.VAE` is a variational autoencoder (Kingma and Welling) with a
Gaussian (tables) or Bernoulli (binary images) likelihood. `score_samples` is
an importance-weighted estimate of `log p(x)` in nats, so the VAE can be ranked
by likelihood next to {class}`~sklearn.decomposition.FactorAnalysis`,
{class}`~sklearn.mixture.GaussianMixture` and
{class}`~sklearn.neighbors.KernelDensity`. It starts at the factor model
([classical starts](../concepts.md#classical-starts-and-epoch-0)) with a
low-rank noise ([the factor count](../concepts.md#the-factor-count-and-low-rank-noise))
and a [defensive component](../concepts.md#the-defensive-component).
It is trained on the negative evidence lower bound
([the mathematics](../mathematics.md#the-evidence-lower-bound)):

$$
\log p(x) \;\ge\; \mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z)\right]
 - \mathrm{KL}\left(q(z \mid x) \,\Vert\, p(z)\right).
$$

```python
from skae import VAE

vae = VAE(n_components=4, random_state=0).fit(X)
vae.score(X)              # mean log-likelihood per row, nats
vae.sample(5, random_state=0)
```

Gallery: {doc}`../auto_examples/plot_vae_digits`,
{doc}`../auto_examples/plot_likelihood_ranking`.
""",
    ),
    Page(
        "flows",
        "Normalizing flows (Real NVP)",
        """\
{class}`skae.RealNVPDensity` is a Real NVP flow (Dinh et al.): exact
`log p(x)` in `score_samples`, an exact inverse and `sample`. On tables its
base density is a Gaussian mixture chosen by BIC
([the mixture's BIC scan](../concepts.md#the-mixtures-bic-scan)) and its
couplings start at the identity, so the untrained flow *is* the
{class}`~sklearn.mixture.GaussianMixture`
([boxed couplings](../concepts.md#boxed-couplings-and-boxed-residual-branches)).
With `image_shape` it is the multiscale image flow.

```python
from sklearn.datasets import make_moons
from skae import RealNVPDensity

X, _ = make_moons(500, noise=0.05, random_state=0)
flow = RealNVPDensity(random_state=0).fit(X)
flow.score_samples(X[:3])   # exact log-densities, nats
```

Gallery: {doc}`../auto_examples/plot_realnvp_moons`,
{doc}`../auto_examples/plot_image_flow`.
""",
    ),
    Page(
        "images",
        "Images",
        "Convolutional autoencoders and VAEs, and the multiscale Real NVP, "
        "selected by `image_shape`. Gallery: "
        "{doc}`../auto_examples/plot_conv_mnist`.",
        ("Images: convolutional autoencoders and VAEs",),
    ),
    Page(
        "tables",
        "Tables with categories and missing values",
        "Data frames as they come: categorical columns, missing entries and "
        "`set_output(transform='pandas')`.",
        ("Tables as they come: categorical columns and missing values",),
    ),
    Page(
        "imputation",
        "Imputation",
        "{class}`skae.AutoencoderImputer` next to "
        "{class}`~sklearn.impute.IterativeImputer`, and `impute` on the models "
        "themselves ([the imputer's held-out entries]"
        "(../concepts.md#the-imputers-held-out-entries)).",
        ("Imputation",),
    ),
    Page(
        "outliers",
        "Outlier detection",
        "{class}`skae.OutlierDetector` over any model with `score_samples`, next "
        "to {class}`~sklearn.ensemble.IsolationForest` "
        "([the trimmed refit](../concepts.md#the-trimmed-refit)). Gallery: "
        "{doc}`../auto_examples/plot_outliers`.",
        ("Anomaly detection",),
    ),
    Page(
        "model_selection",
        "Model selection next to PCA, FA and GMM",
        "Let scikit-learn choose between the classical models and skae on held-out "
        "data, and how skae compares on real tables. Gallery: "
        "{doc}`../auto_examples/plot_select_reducer`, "
        "{doc}`../auto_examples/plot_likelihood_ranking`.",
        (
            "Model selection: let scikit-learn choose between PCA and skae",
            "Real tables: skae against PCA, GaussianMixture, KernelDensity, "
            "FactorAnalysis",
        ),
    ),
    Page(
        "persistence",
        "Export and persistence",
        "pickle, joblib, skops ({mod}`skae.io`) and ONNX ({mod}`skae.onnx`).",
        ("Persistence: pickle, joblib and skops", "ONNX"),
    ),
    Page(
        "streaming",
        "Streaming and clusters",
        "`partial_fit`, searches on processes and on a dask cluster, and data "
        "larger than memory.",
        (
            "Streaming (`partial_fit`)",
            "Processes (`n_jobs=2`)",
            "A cluster (dask)",
            "Data larger than memory (dask-ml)",
        ),
    ),
    Page(
        "gpu",
        "GPU and several processes",
        "Training and scoring on a CUDA device; one fit on several processes or "
        "devices (`accelerator=`).",
        ("GPU", "Past one process: data-parallel fits"),
    ),
    Page(
        "extending",
        "Conditional models and new model families",
        "For developers: the context `y`, how a new model family is added, and "
        "where things live.",
        ("Conditional models: the context `y`", "Adding a model", "Layout"),
    ),
)


def _assign(sections: list[Section]) -> dict[str, list[Section]]:
    """Each guide section's page: named by USER_GUIDE, else its parent's or its own."""
    named = {title: page.name for page in USER_GUIDE for title in page.sections}
    pages: dict[str, list[Section]] = {page.name: [] for page in USER_GUIDE}
    current = None
    for section in sections:
        if section.title in named:
            page = named[section.title]
        elif section.level == 3 and current is not None:
            page = current
        else:  # a section no page names (a new one): a page of its own
            page = section.anchor.replace("-", "_")
            pages.setdefault(page, [])
        if section.level == 2:
            current = page
        pages[page].append(section)
    return pages


def _demote(lines: list[str], by: int) -> list[str]:
    if by == 0:
        return lines
    out, fence = [], None
    for line in lines:
        stripped = line.lstrip()
        if fence is None and stripped[:3] in ("```", "~~~"):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and re.match(r"^#{2,6} ", line):
            line = "#" * by + line if by > 0 else line[-by:]
        out.append(line)
    return out


class Links:
    """Points the Markdown files' GitHub links at the site's pages."""

    def __init__(self, anchors: dict[str, str]):
        # anchor -> docname (relative to docs/, no suffix) of the page holding it
        self.anchors = anchors

    def target(self, link: str, here: str) -> str | None:
        """The site's link for a repository-relative ``link`` seen from ``here``."""
        path, _, anchor = link.partition("#")
        up = "../" * here.count("/")
        if path in ("", "guide.md") and anchor:
            page = self.anchors.get(anchor)
            if page is None:
                return None
            return f"{_relative(page, here)}.md#{anchor}"
        if path == "guide.md":
            return f"{up}user_guide/index.md"
        if path in ("concepts.md", "../docs/concepts.md"):
            return f"{up}concepts.md" + (f"#{anchor}" if anchor else "")
        if path == "../README.md":
            return f"{up}index.md"
        if path.endswith("benchmarks/results/SUMMARY.md"):
            return f"{up}benchmarks/index.md"
        if path.endswith("benchmarks/results/NOTES.md"):
            return f"{up}benchmarks/notes.md" + (f"#{anchor}" if anchor else "")
        return None

    def rewrite(self, text: str, here: str) -> str:
        def replace(match):
            new = self.target(match.group(1), here)
            return f"]({new})" if new else match.group(0)

        return re.sub(r"\]\(([^)\s]+)\)", replace, text)


def _relative(page: str, here: str) -> str:
    here_dir = here.rsplit("/", 1)[0] if "/" in here else ""
    if here_dir and page.startswith(here_dir + "/"):
        return page[len(here_dir) + 1 :]
    return "../" * here.count("/") + page


def generate_user_guide() -> Links:
    """Write docs/user_guide/*.md from docs/guide.md; return the link rewriter."""
    _, sections = split_sections((DOCS / "guide.md").read_text(encoding="utf-8"))
    pages = _assign(sections)
    anchors = {}
    for name, chunk in pages.items():
        for section in chunk:
            anchors.setdefault(section.anchor, f"user_guide/{name}")
    links = Links(anchors)
    titles = {page.name: page for page in USER_GUIDE}
    order = [page.name for page in USER_GUIDE] + [
        name for name in pages if name not in titles
    ]
    for name in order:
        chunk = pages[name]
        page = titles.get(name)
        if page is None:  # a guide section no page names
            page = Page(name, chunk[0].title.replace("`", ""), "")
            body_sections = chunk[1:]
            lines = chunk[0].lines[:]
            for section in body_sections:
                lines += ["", "#" * section.level + " " + section.title, *section.lines]
            lines = _demote(lines, -1) if body_sections else lines
        else:
            lines, base = [], 2
            for section in chunk:  # a named section is ##, its subsections below
                if section.title in page.sections:
                    base = section.level
                level = 2 + section.level - base
                lines += ["", "#" * level + " " + section.title, *section.lines]
        text = "\n".join([f"# {page.title}", "", page.intro.strip(), *lines]) + "\n"
        write_if_changed(
            DOCS / "user_guide" / f"{name}.md",
            links.rewrite(text, f"user_guide/{name}"),
        )
    toctree = "\n".join(order)
    index = f"""# User guide

One page per family and topic, cut from `docs/guide.md` when the site is
built. The mechanisms behind
the defaults are in [Concepts](../concepts.md).

```{{toctree}}
:maxdepth: 2

{toctree}
```
"""
    write_if_changed(DOCS / "user_guide" / "index.md", index)
    return links


# --------------------------------------------------------------------------
# The API reference: skae.__all__ and the public submodules' __all__
# --------------------------------------------------------------------------
def _kind(obj) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, Warning):
            return "Exceptions and warnings"
        if issubclass(obj, BaseException):
            return "Exceptions and warnings"
        return "Estimators" if hasattr(obj, "fit") else "Classes"
    if callable(obj):
        return "Functions"
    return "Data"


def public_modules(package) -> list[str]:
    """skae's public submodules: every module without a leading underscore, but
    those whose every member is already a top-level name (``skae.impute``)."""
    names = [
        f"{package.__name__}.{n}"
        for n in package.__all__
        if inspect.ismodule(getattr(package, n))
    ]
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        full = f"{package.__name__}.{info.name}"
        if full in names:
            continue
        members = module_members(importlib.import_module(full))
        if any(name not in package.__all__ for name in members):
            names.append(full)
    return sorted(names)


def module_members(module) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and getattr(obj, "__module__", None) == module.__name__
        and (inspect.isclass(obj) or inspect.isfunction(obj))
    )


def _autosummary(names: list[str], template: str | None) -> list[str]:
    lines = [".. autosummary::", "   :toctree: generated/"]
    if template:
        lines.append(f"   :template: {template}")
    return [*lines, "", *(f"   {name}" for name in names), ""]


def api_index() -> str:
    """docs/api/index.rst's text: an autosummary entry for every public name."""
    import skae

    out = [
        "API reference",
        "=============",
        "",
        "Every name of ``skae.__all__`` and of the public submodules, generated "
        "from the docstrings (their examples run as doctests in the test suite).",
        "",
        ".. currentmodule:: skae",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for name in skae.__all__:
        obj = getattr(skae, name)
        if inspect.ismodule(obj) or name.startswith("__"):
            continue
        groups.setdefault(_kind(obj), []).append(name)
    for kind in ("Estimators", "Classes", "Functions", "Exceptions and warnings"):
        if kind in groups:
            template = "skae_class.rst" if kind != "Functions" else "skae_function.rst"
            out += [kind, "-" * len(kind), "", *_autosummary(groups[kind], template)]
    for full in public_modules(skae):
        module = importlib.import_module(full)
        title = f":mod:`{full}`"
        out += [
            title,
            "-" * len(title),
            "",
            f".. automodule:: {full}",
            "   :no-members:",
            "",
        ]
        out += [f".. currentmodule:: {full}", ""]
        by_kind: dict[str, list[str]] = {}
        for name in module_members(module):
            obj = getattr(module, name)
            if getattr(skae, name, None) is obj:
                continue  # documented above as skae.<name>
            by_kind.setdefault(_kind(obj), []).append(name)
        for kind in sorted(by_kind):
            names = by_kind[kind]
            if kind == "Data":
                out += [f".. autodata:: {full}.{n}" for n in names]
                out += [""]
                continue
            template = "skae_function.rst" if kind == "Functions" else "skae_class.rst"
            out += _autosummary(names, template)
    out.append(f"The package version is ``skae.__version__`` (``{skae.__version__}``).")
    return "\n".join(out) + "\n"


def generate_api() -> None:
    """Write docs/api/index.rst: one page per public name."""
    write_if_changed(DOCS / "api" / "index.rst", api_index())


# --------------------------------------------------------------------------
# The benchmarks: benchmarks/results/*.md with their protocols
# --------------------------------------------------------------------------
def _protocol(name: str, command: str) -> str:
    data = RESULTS / f"{name}.json"
    if data.exists():
        protocol = json.loads(data.read_text(encoding="utf-8")).get("protocol")
        if isinstance(protocol, str) and protocol.strip():
            return protocol.strip()
        if isinstance(protocol, dict):
            return "; ".join(f"{k}: {v}" for k, v in protocol.items())
    script = ROOT / "benchmarks" / f"{command.split()[0]}.py"
    if script.exists():
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        return doc.strip()
    return ""


def generate_benchmarks() -> None:
    """Write docs/benchmarks/{index,notes}.md from benchmarks/results/."""
    from benchmarks.report import BENCHMARKS

    names = [n for n in BENCHMARKS if (RESULTS / f"{n}.md").exists()]
    names += sorted(
        p.stem
        for p in RESULTS.glob("*.md")
        if p.stem not in BENCHMARKS and p.stem not in ("SUMMARY", "NOTES")
    )
    out = [
        "# Benchmarks",
        "",
        "The latest full-size run of each benchmark, read from "
        "`benchmarks/results/` when this site was built (each file comes from its "
        "own run: compare figures within a table). `python -m benchmarks [--quick]` "
        "re-runs them; `python -m benchmarks.report` writes the summary of goals. "
        "The conditions and the notes on each measured change are in "
        "[the benchmark notes](notes.md).",
        "",
        "```{toctree}",
        ":hidden:",
        "",
        "notes",
        "```",
        "",
    ]
    for name in names:
        command = BENCHMARKS.get(name, name)
        table = (RESULTS / f"{name}.md").read_text(encoding="utf-8")
        body = [ln for ln in table.splitlines() if not re.match(r"^# ", ln)]
        body = _demote(body, 1)  # the file's ## become ###
        protocol = _protocol(name, command)
        out += [f"## {name}", "", f"Written by `python -m benchmarks.{command}`.", ""]
        if protocol:
            out += ["```{eval-rst}", protocol, "```", ""]
        out += [*body, ""]
    write_if_changed(DOCS / "benchmarks" / "index.md", "\n".join(out) + "\n")
    notes = (RESULTS / "NOTES.md").read_text(encoding="utf-8")
    write_if_changed(
        DOCS / "benchmarks" / "notes.md",
        "# Benchmark notes\n\nFrom `benchmarks/results/NOTES.md`.\n\n" + notes,
    )


# --------------------------------------------------------------------------
# Sphinx hooks
# --------------------------------------------------------------------------
_LINKS: Links | None = None


def generate_all() -> None:
    """Write every generated page (called from conf.py, before Sphinx reads)."""
    global _LINKS
    _LINKS = generate_user_guide()
    generate_api()
    generate_benchmarks()


def _concepts_labels(app, docname, source):
    """concepts.md: site links, and a ``concept-<anchor>`` label per section."""
    if docname != "concepts" or _LINKS is None:
        return
    text = _LINKS.rewrite(source[0], "concepts")
    lines = []
    for line in text.splitlines():
        match = re.match(r"^## (.*)$", line)
        if match:
            lines += [f"(concept-{slugify(match.group(1))})=", ""]
        lines.append(line)
    source[0] = "\n".join(lines) + "\n"


_CONCEPT_LINK = re.compile(r"docs/concepts\.md#([a-z0-9_-]+)")


_SHAPE = re.compile(r"(?<!`)shape \(([^)`]*)\)")


def _escape_shape(match) -> str:
    """``(n_features_in_,)``: a trailing ``_`` is reST's link mark; escape it."""
    return "shape (" + re.sub(r"(\w)_(?=[,\s]|$)", r"\1\\_", match.group(1)) + ")"


def _docstring_links(app, what, name, obj, options, lines):
    """``docs/concepts.md#x`` in a docstring becomes a link to that section, and
    the attributes in shapes, as scikit-learn writes them, stay plain text."""
    for i, line in enumerate(lines):
        line = _SHAPE.sub(_escape_shape, line)
        lines[i] = _CONCEPT_LINK.sub(
            lambda m: f":ref:`{m.group(0)} <concept-{m.group(1)}>`",
            line,
        )


def _skip_foreign(app, what, name, obj, skip, options):
    """Class pages list skae's methods, inherited ones included, not
    scikit-learn's, skorch's or Python's (``get_params``, ``with_traceback``)."""
    if skip or what not in ("class", "method", "property", "attribute"):
        return None
    target = getattr(obj, "fget", obj)
    target = getattr(target, "__func__", target)
    module = getattr(target, "__module__", None) or ""
    return None if module.split(".")[0] == "skae" else True


_SEEN: dict[str, float] = {}


def saved_figures(block, block_vars, gallery_conf):
    """sphinx-gallery scraper: the PNG files an example saved to examples/figures."""
    from sphinx_gallery.scrapers import figure_rst

    new = []
    for path in sorted(FIGURES.glob("*.png")):
        mtime = path.stat().st_mtime
        if _SEEN.get(str(path)) != mtime:
            _SEEN[str(path)] = mtime
            new.append(path)
    if block_vars.get("src_file") and not new:
        return ""
    images = []
    iterator = block_vars["image_path_iterator"]
    for path, target in zip(new, iterator, strict=False):
        Path(target).write_bytes(path.read_bytes())
        images.append(target)
    return figure_rst(images, gallery_conf["src_dir"])


def example_argv(gallery_conf, script_vars) -> list[str]:
    """sphinx-gallery's ``reset_argv``: run each example as ``script.py --quick``.

    The examples are scripts that name their figures' folder from
    ``__file__``, which sphinx-gallery leaves undefined; it is set here to the
    example's path, as ``python examples/plot_x.py`` would, and ``__doc__``
    (which sphinx-gallery empties) to the script's docstring.
    """
    source = Path(script_vars["src_file"]).read_text(encoding="utf-8")
    script_vars["example_globals"]["__file__"] = script_vars["src_file"]
    script_vars["example_globals"]["__doc__"] = ast.get_docstring(ast.parse(source))
    quick = os.environ.get("SKAE_QUICK", "1") == "1"
    return ["--quick"] if quick else []


def prime_seen() -> None:
    """Figures already on disk are not an example's own."""
    for path in FIGURES.glob("*.png"):
        _SEEN[str(path)] = path.stat().st_mtime


def setup(app):
    app.connect("source-read", _concepts_labels)
    app.connect("autodoc-skip-member", _skip_foreign)
    app.connect("autodoc-process-docstring", _docstring_links, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
