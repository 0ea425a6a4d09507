"""Fit speed of every skae estimator against a hand-written PyTorch loop.

Each case times ``estimator.fit(X)`` against the loop a user would write for
the same model, run side by side in one process, alternating; the ratio is
the median over the back-to-back pairs of skae's time / the loop's time.
Both sides use

* the same module, built by the estimator's own model part (``build``) under the
  same seed (so the same architecture and the same initial weights),
* the same Adam settings, read from the fitted net's ``optimizer_.defaults``,
* the same batch size, number of epochs and torch threads (one: skae trains
  networks of flat rows on one thread, ``skae._training.torch_threads``),
* the same data (skae's scaled training tensor, float32 digits) and the same
  batch order
  (one ``randperm`` per epoch from a generator seeded like skae's),
* the same work per step: the denoising autoencoder's Gaussian corruption drawn
  from that generator, the VAE's reparameterised negative ELBO, the flow's
  negative log-likelihood, and one ``loss.item()`` per batch for logging.

Stopping rules are off (``n_iter_no_change > max_iter``), so both sides run
exactly ``epochs`` epochs.  After timing, the two trained modules are compared
parameter by parameter (``max_abs_dw``): 0 means the loop reproduced skae's fit
bit for bit, i.e. both sides did the same work.

Run ``python -m benchmarks.bench_fit_speed [--quick] [--repeats N]``.
"""

import argparse
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import skae
from benchmarks._common import (
    alternating_medians,
    median,
    paired_ratio,
    spread,
    write_results,
)
from skae import VAE, AutoencoderTransformer, DenoisingAE
from skae.modules.protocol import InputSpec

GOAL = 1.05  # skae's fit time at most 5% above the hand-written loop's
LOG_2PI = math.log(2 * math.pi)

Loss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
Corruption = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _no_corruption(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return batch


def hand_written_loop(
    module: torch.nn.Module,
    X: torch.Tensor,
    *,
    loss_fn: Loss,
    adam: dict,
    batch_size: int,
    epochs: int,
    seed: int,
    corrupt: Corruption = _no_corruption,
) -> list[float]:
    """Plain mini-batch Adam: shuffle, slice, (corrupt), forward, loss, step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(module.parameters(), **adam)
    module.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(X.shape[0], generator=generator)
        for start in range(0, X.shape[0], batch_size):
            batch = X.index_select(0, order[start : start + batch_size])
            inputs = corrupt(batch, generator)
            loss = loss_fn(module, inputs, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


# --------------------------------------------------------------- the losses
def reconstruction_loss(module, inputs, target):
    reconstruction, _ = module(inputs)
    return (target - reconstruction).pow(2).mean(dim=1).mean()


def negative_elbo(module, inputs, target):
    """Gaussian decoder with a learned per-feature variance, one draw of z."""
    output = module(inputs)  # z = mu + exp(logvar/2) * eps
    mu, logvar, mean = output.mu, output.logvar, output.decoder_out
    kl = 0.5 * torch.sum(mu.pow(2) + torch.exp(logvar) - 1.0 - logvar, dim=-1)
    noise_logvar = module.clamped_decoder_logvar()
    squared = (target - mean).pow(2) * torch.exp(-noise_logvar)
    log_px = -0.5 * torch.sum(squared + noise_logvar + LOG_2PI, dim=-1)
    return -log_px.mean() + kl.mean()


def flow_nll(module, inputs, target):
    z, log_det = module(inputs)
    log_pz = -0.5 * (z.square().sum(dim=-1) + z.shape[-1] * LOG_2PI)
    return (-(log_pz + log_det)).mean()


def gaussian_corruption(sigma: float) -> Corruption:
    def corrupt(batch, generator):
        return batch + sigma * torch.randn(batch.shape, generator=generator)

    return corrupt


# ---------------------------------------------------------------- the cases
@dataclass
class Case:
    name: str
    estimator: object
    loss_fn: Loss
    corrupt: Corruption = _no_corruption


def cases(epochs: int) -> list[Case]:
    # No stopping rule: both sides run exactly `epochs` epochs, from the same
    # plain start (no PCA / factor-model / mixture start, which the hand loop
    # does not have).
    fixed = dict(
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
        random_state=0,
    )
    plain = dict(fixed, init="random")
    out = [
        Case(
            "AutoencoderTransformer (256,128)->8",
            AutoencoderTransformer(8, **plain),
            reconstruction_loss,
        ),
        Case(
            "AutoencoderTransformer (32,)->8, batch 64",
            AutoencoderTransformer(8, hidden_layer_sizes=(32,), batch_size=64, **plain),
            reconstruction_loss,
        ),
        Case(
            "DenoisingAE gaussian 0.5, (256,128)->8",
            DenoisingAE(8, noise="gaussian", noise_level=0.5, **plain),
            reconstruction_loss,
            gaussian_corruption(0.5),
        ),
        Case("VAE gaussian, (256,128)->8", VAE(8, **plain), negative_elbo),
    ]
    RealNVPDensity = getattr(skae, "RealNVPDensity", None)
    if RealNVPDensity is not None:
        flow = RealNVPDensity(
            n_base_components=1,
            coupling="affine",
            n_layers=8,
            hidden_layer_sizes=(32, 32),
            **fixed,
        )
        layers = f"{flow.n_layers} couplings {tuple(flow.hidden_layer_sizes)}"
        noise = getattr(flow, "noise_level", 0.0)  # optional training noise
        corrupt = gaussian_corruption(noise) if noise else _no_corruption
        out.append(Case(f"RealNVPDensity {layers}", flow, flow_nll, corrupt))
    return out


def max_abs_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max(float((p - q).detach().abs().max()) for p, q in pairs)


def run_case(case: Case, X: np.ndarray, repeats: int) -> dict:
    estimator = case.estimator
    epochs = estimator.max_iter
    template = type(estimator)(**{**estimator.get_params(), "max_iter": 1}).fit(X)
    # What skae trains on, and how: scaled data, batch size, seed, Adam settings.
    X_model = torch.from_numpy(template.preprocessor_.transform(X, X.dtype))
    net = template.net_
    batch_size, seed = net.batch_size, net.iterator_train__seed
    adam = dict(net.optimizer_.defaults)
    trained = {}

    def run_skae():
        estimator.fit(X)

    def run_torch():
        torch.manual_seed(seed)
        module = template._make_part(None).build(InputSpec(X_model.shape[1]))
        module = module.to(X_model.dtype)
        hand_written_loop(
            module,
            X_model,
            loss_fn=case.loss_fn,
            adam=adam,
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
            corrupt=case.corrupt,
        )
        trained["torch"] = module

    run_skae(), run_torch()  # warm-up
    times = alternating_medians({"skae": run_skae, "torch": run_torch}, repeats)
    skae_s, torch_s = median(times["skae"]), median(times["torch"])
    ratio = paired_ratio(times["skae"], times["torch"])
    n_batches = epochs * -(-X.shape[0] // batch_size)
    return {
        "case": case.name,
        "n_samples": X.shape[0],
        "epochs": epochs,
        "batch_size": batch_size,
        "skae_s": skae_s,
        "torch_s": torch_s,
        "ratio": ratio,
        "extra_us_per_batch": (skae_s - torch_s) / n_batches * 1e6,
        "spread_skae": spread(times["skae"]),
        "spread_torch": spread(times["torch"]),
        "max_abs_dw": max_abs_difference(estimator.net_.module_, trained["torch"]),
        "goal": f"<= {GOAL}",
        "met": ratio <= GOAL,
        "times_skae": times["skae"],
        "times_torch": times["torch"],
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 15)
    epochs = 5 if args.quick else 50
    warnings.simplefilter("ignore", ConvergenceWarning)
    torch.set_num_threads(1)  # as skae's fits of flat rows: the same threads
    # float32, the case where skae's fixed per-batch costs weigh most.
    X = load_digits().data.astype(np.float32)
    rows = [run_case(case, X, repeats) for case in cases(epochs)]
    columns = [
        "case",
        "epochs",
        "batch_size",
        "skae_s",
        "torch_s",
        "ratio",
        "extra_us_per_batch",
        "max_abs_dw",
        "goal",
        "met",
    ]
    table = write_results(
        "fit_speed",
        rows,
        columns,
        repeats=repeats,
        quick=args.quick,
        goal_column="ratio",
        data=f"digits, {X.shape[0]} x {X.shape[1]}",
        figure=(
            "ratio = median over alternating pairs of skae fit time / hand-written "
            "loop time (skae_s, torch_s: medians)"
        ),
    )
    print(table)
    return rows


if __name__ == "__main__":
    main()
