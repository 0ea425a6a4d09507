"""Inference throughput and memory of skae against scikit-learn's references.

Throughput, in rows per second, on the same float32 data in one process
(alternating runs, medians):

* ``transform`` of every skae estimator against ``PCA.transform`` with the
  same number of components;
* ``score_samples`` of the density-like estimators against
  ``GaussianMixture.score_samples``.

The data have a low-rank structure plus noise (10 latent factors, 100
features); the models are trained briefly, since inference speed does not
depend on how well they fit.

VAE scoring efficiency: the FLOP rate of ``VAE.score_samples`` (its encoder
pass plus ``n_importance_samples`` decoder passes per row, counted from the
linear layers' shapes) as a share of the rate of a plain float32 matrix
product measured in the same run (goal: at least 40 %).

Memory: the peak resident memory that ``AutoencoderTransformer.transform``
adds while it encodes 1 000 000 x 100 float32 rows (100 000 with ``--quick``)
is measured in a fresh subprocess: the resident size before the input exists
is subtracted from the peak (Linux ``VmHWM``, reset once the input is built,
so that the input counts but not the temporaries that generated it) reached
by the end of ``transform``; ``tracemalloc`` cannot see torch's allocations.
It is compared with the size of input plus output, and with the same figure
for ``PCA.transform``.

Run ``python -m benchmarks.bench_inference [--quick]``.
"""

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import skae
from benchmarks._common import (
    alternating_medians,
    median,
    paired_ratio,
    write_results,
)
from benchmarks.bench_hardware import MATMUL_SIZE
from skae import VAE, AutoencoderTransformer, DenoisingAE

N_FEATURES, N_FACTORS, N_COMPONENTS = 100, 10, 8
MEMORY_GOAL = 1.25  # peak added memory at most 1.25 x (input + output)
SCORING_GOAL = 0.40  # VAE.score_samples at >= 40% of the float32 matmul rate


def structured_data(n_samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((N_FACTORS, N_FEATURES), dtype=np.float32)
    X = rng.standard_normal((n_samples, N_FACTORS), dtype=np.float32) @ mixing
    X += 0.3 * rng.standard_normal((n_samples, N_FEATURES), dtype=np.float32)
    return X


def estimators(epochs: int) -> dict:
    fixed = dict(max_iter=epochs, random_state=0)
    out = {
        "AutoencoderTransformer": AutoencoderTransformer(N_COMPONENTS, **fixed),
        "DenoisingAE": DenoisingAE(N_COMPONENTS, **fixed),
        "VAE": VAE(N_COMPONENTS, **fixed),
    }
    RealNVPDensity = getattr(skae, "RealNVPDensity", None)
    if RealNVPDensity is not None:
        # The standard-normal base: fitting a full-covariance mixture to
        # 100-dimensional rows (the default base) is a fit cost that would
        # dominate this inference run.
        out["RealNVPDensity"] = RealNVPDensity(
            early_stopping=False, n_base_components=1, coupling="affine", **fixed
        )
    return out


def bare_transform(name: str, estimator):
    """The estimator's network alone, as ``transform`` applies it, in torch."""
    module = estimator.net_.module_
    if name == "VAE":
        return module.encode
    if name == "RealNVPDensity":
        return lambda batch: module(batch)[0]
    return module.encoder


def throughput_rows(X_fit, X, epochs: int, repeats: int) -> list[dict]:
    """Rows/s of each skae method, its reference, and its bare torch network.

    ``torch_rows_per_s`` applies the same module to the already scaled float32
    tensor in one call under ``torch.inference_mode``: what ``transform`` would
    cost without input validation, scaling, batching and the copy to NumPy.
    """
    pca = PCA(N_COMPONENTS, random_state=0).fit(X_fit)
    gmm = GaussianMixture(N_COMPONENTS, random_state=0).fit(X_fit)
    rows = []
    for name, estimator in estimators(epochs).items():
        estimator.fit(X_fit)
        pairs = [("transform", estimator.transform, "PCA.transform", pca.transform)]
        if name != "DenoisingAE":  # same score_samples as AutoencoderTransformer
            pairs.append(
                (
                    "score_samples",
                    estimator.score_samples,
                    "GaussianMixture.score_samples",
                    gmm.score_samples,
                )
            )
        for method, skae_fn, reference, reference_fn in pairs:
            # VAE scoring decodes n_importance_samples draws per row: fewer rows.
            slow = name == "VAE" and method == "score_samples"
            X_run = X[: X.shape[0] // 10] if slow else X
            candidates = {
                "skae": lambda f=skae_fn, X_run=X_run: f(X_run),
                "ref": lambda f=reference_fn, X_run=X_run: f(X_run),
            }
            if method == "transform":
                network = bare_transform(name, estimator)
                X_model = torch.from_numpy(
                    estimator.preprocessor_.transform(X_run, X_run.dtype)
                )

                def run_bare(network=network, X_model=X_model):
                    with torch.inference_mode():
                        network(X_model)

                candidates["torch"] = run_bare
            for run in candidates.values():  # warm-up
                run()
            times = alternating_medians(candidates, repeats)
            rate = {key: X_run.shape[0] / median(t) for key, t in times.items()}
            row = {
                "figure": f"{name}.{method}",
                "reference": reference,
                "rows": X_run.shape[0],
                "skae_rows_per_s": rate["skae"],
                "ref_rows_per_s": rate["ref"],
                "ratio": paired_ratio(times["ref"], times["skae"]),
            }
            if "torch" in rate:
                row["torch_rows_per_s"] = rate["torch"]
                row["vs_bare_torch"] = paired_ratio(times["torch"], times["skae"])
            rows.append(row)
    return rows


# ------------------------------------------------------- scoring efficiency
def _linear_flops(network: torch.nn.Module) -> int:
    return sum(
        2 * layer.in_features * layer.out_features
        for layer in network.modules()
        if isinstance(layer, torch.nn.Linear)
    )


def vae_scoring_rows(X_fit, X, epochs: int, repeats: int) -> list[dict]:
    """FLOP rate of ``VAE.score_samples`` next to a plain float32 matmul's."""
    vae = VAE(N_COMPONENTS, max_iter=epochs, random_state=0).fit(X_fit)
    module = vae.net_.module_
    K = vae.n_importance_samples
    flops_per_row = _linear_flops(module.encoder) + K * _linear_flops(module.decoder)
    X_run = X[: max(2000, X.shape[0] // 10)]
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator) for _ in "ab")
    vae.score_samples(X_run[:100]), torch.mm(a, b)  # warm-up
    # Alternating, so that both rates see the same state of the machine.
    times = alternating_medians(
        {"score": lambda: vae.score_samples(X_run), "matmul": lambda: torch.mm(a, b)},
        repeats,
    )
    peak = 2 * MATMUL_SIZE**3 / median(times["matmul"])
    rate = flops_per_row * X_run.shape[0] / median(times["score"])
    share = rate / peak
    return [
        {
            "figure": "VAE.score_samples FLOP rate / float32 matmul rate",
            "rows": X_run.shape[0],
            "n_importance_samples": K,
            "gflop_per_s": rate / 1e9,
            "matmul_gflop_per_s": peak / 1e9,
            "ratio": share,
            "goal": f">= {SCORING_GOAL}",
            "met": share >= SCORING_GOAL,
        }
    ]


# ------------------------------------------------------------------ memory
def _vm_hwm_bytes() -> int:
    """Peak resident set size of this process (Linux ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _vm_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_probe(model_path: str, n_rows: int) -> dict:
    """Run in a fresh process: peak memory added by creating X and transforming it."""
    import gc

    with open(model_path, "rb") as file:
        model = pickle.load(file)
    model.transform(structured_data(1000, seed=1))  # warm-up: lazy torch set-up
    gc.collect()
    before = _vm_rss_bytes()
    X = structured_data(n_rows, seed=2)
    gc.collect()
    # Reset the high-water mark to the current RSS: the temporaries of the data
    # generation are gone, X stays counted (it is in the RSS, above `before`).
    Path("/proc/self/clear_refs").write_text("5")
    Z = model.transform(X)
    peak = _vm_hwm_bytes()
    return {
        "rss_before": before,
        "peak_added": peak - before,
        "input_bytes": X.nbytes,
        "output_bytes": Z.nbytes,
    }


def measure_memory(model, n_rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pkl")
        with open(path, "wb") as file:
            pickle.dump(model, file)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_inference", "--probe", path],
            env={**os.environ, "SKAE_PROBE_ROWS": str(n_rows)},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_rows(X_fit, n_rows: int, epochs: int) -> list[dict]:
    models = {
        "AutoencoderTransformer.transform": AutoencoderTransformer(
            N_COMPONENTS, max_iter=epochs, random_state=0
        ).fit(X_fit),
        "PCA.transform": PCA(N_COMPONENTS, random_state=0).fit(X_fit),
    }
    rows = []
    for name, model in models.items():
        probe = measure_memory(model, n_rows)
        in_out = probe["input_bytes"] + probe["output_bytes"]
        row = {
            "figure": f"peak memory of {name}",
            "rows": n_rows,
            "input_mb": probe["input_bytes"] / 2**20,
            "output_mb": probe["output_bytes"] / 2**20,
            "peak_added_mb": probe["peak_added"] / 2**20,
            "ratio": probe["peak_added"] / in_out,
        }
        if name.startswith("Autoencoder"):
            row.update(goal=f"<= {MEMORY_GOAL} x (input + output)")
            row["met"] = row["ratio"] <= MEMORY_GOAL
        rows.append(row)
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, int(os.environ["SKAE_PROBE_ROWS"]))))
        return []
    warnings.simplefilter("ignore", ConvergenceWarning)
    n_fit, n_eval = (5_000, 20_000) if args.quick else (20_000, 200_000)
    epochs, repeats = (2, 3) if args.quick else (5, 5)
    n_memory = 100_000 if args.quick else 1_000_000
    X_fit = structured_data(n_fit, seed=0)
    X_eval = structured_data(n_eval, seed=3)
    throughput = throughput_rows(X_fit, X_eval, epochs, repeats)
    scoring = vae_scoring_rows(X_fit, X_eval, epochs, repeats)
    memory = memory_rows(X_fit, n_memory, epochs)
    columns = [
        "figure",
        "reference",
        "rows",
        "skae_rows_per_s",
        "ref_rows_per_s",
        "ratio",
        "torch_rows_per_s",
        "vs_bare_torch",
    ]
    memory_columns = [
        "figure",
        "rows",
        "input_mb",
        "output_mb",
        "peak_added_mb",
        "ratio",
        "goal",
        "met",
    ]
    table = write_results(
        "inference",
        throughput,
        columns,
        quick=args.quick,
        repeats=repeats,
        data=f"{N_FACTORS} latent factors + noise, {N_FEATURES} features, float32",
        figure=(
            "ratio = skae rows/s / reference rows/s, median over alternating "
            "pairs (higher is better)"
        ),
    )
    memory_table = write_results(
        "inference_memory",
        memory,
        memory_columns,
        quick=args.quick,
        goal_column="ratio",
        figure="ratio = peak added resident memory / (input + output bytes)",
    )
    scoring_table = write_results(
        "vae_scoring",
        scoring,
        [
            "figure",
            "rows",
            "n_importance_samples",
            "gflop_per_s",
            "matmul_gflop_per_s",
            "ratio",
            "goal",
            "met",
        ],
        quick=args.quick,
        repeats=repeats,
        goal_column="ratio",
        data=f"{N_FACTORS} latent factors + noise, {N_FEATURES} features, float32",
        figure=(
            "ratio = FLOP/s of VAE.score_samples (linear layers) / FLOP/s of a "
            f"{MATMUL_SIZE}x{MATMUL_SIZE} float32 torch.mm in the same run"
        ),
    )
    print(table, scoring_table, memory_table, sep="\n\n")
    return throughput + scoring + memory


if __name__ == "__main__":
    main()
