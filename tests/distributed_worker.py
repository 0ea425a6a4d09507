"""One process of tests/test_distributed.py's fits (run by torchrun, or alone).

``python tests/distributed_worker.py OUT [--single]`` fits a small table (the
digits, MLP autoencoder) and a small image set (the digits as 8x8 images,
convolutional autoencoder) and writes, per process, ``OUT/<kind>-<rank>.npz``
(parameters, ``n_iter_``, loss curves, held-out error) and, on rank 0,
``OUT/<kind>.pkl`` (the fitted estimator, pickled) and ``OUT/<kind>.skops``.
With ``--single`` the same fits run in one process without an accelerator.
"""

import pickle
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

SETTINGS = {
    "table": {"n_components": 8, "hidden_layer_sizes": (32,), "max_iter": 25},
    "images": {
        "n_components": 8,
        "image_shape": (8, 8),
        "channels": 4,
        "max_iter": 6,
    },
}


def held_out_split():
    """The digits (scaled to [0, 1]) split into fitting and held-out rows."""
    X, _ = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, test_size=0.25, random_state=0)


def fit(kind: str, accelerator=None) -> tuple[AutoencoderTransformer, float]:
    """The fitted estimator of ``kind`` and its held-out mean squared error."""
    X_fit, X_test = held_out_split()
    model = AutoencoderTransformer(
        **SETTINGS[kind],
        batch_size=64,
        n_iter_no_change=3,
        random_state=0,
        accelerator=accelerator,
    ).fit(X_fit)
    error = float(np.mean(-model.score_samples(X_test)))
    return model, error


def main(out: Path, single: bool) -> None:
    accelerator, rank = None, 0
    if not single:
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=True)
        rank = accelerator.process_index
    for kind in SETTINGS:
        model, error = fit(kind, accelerator)
        parameters = [
            p.detach().numpy().ravel() for p in model.net_.module_.parameters()
        ]
        name = f"{kind}-single" if single else f"{kind}-{rank}"
        np.savez(
            out / f"{name}.npz",
            parameters=np.concatenate(parameters),
            n_iter=model.n_iter_,
            loss_curve=np.array(model.loss_curve_),
            validation_loss_curve=np.array(model.validation_loss_curve_),
            error=error,
        )
        if rank == 0:
            (out / f"{name}.pkl").write_bytes(pickle.dumps(model))
            try:
                import skops.io
            except ImportError:
                continue
            skops.io.dump(model, out / f"{name}.skops")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(sys.argv[1]), "--single" in sys.argv[2:])
