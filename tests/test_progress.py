"""``verbose``: skorch's epoch table and a progress bar over each epoch's batches."""

import numpy as np
from estimators import FAST


def test_verbose_fit_shows_a_progress_bar(capsys):
    X = np.random.default_rng(0).normal(size=(60, 4))
    model = FAST["AutoencoderTransformer"]().set_params(verbose=1, batch_size=10)
    model.fit(X)
    assert "progress_bar" in dict(model.net_.callbacks_)
    out = capsys.readouterr()
    assert "train_loss" in out.out  # the table
    # An autoencoder holds out 10 % by default (early stopping from its PCA
    # start): the bar counts the 6 training batches of 54 rows and the one
    # validation batch of 6 rows.
    assert "/7 [" in out.err


def test_silent_fit_has_no_progress_bar():
    X = np.random.default_rng(0).normal(size=(20, 4))
    model = FAST["AutoencoderTransformer"]().fit(X)
    assert "progress_bar" not in dict(model.net_.callbacks_)


def test_keeping_the_start_is_explained(capsys):
    """A fit whose epochs never beat the classical start says that the start
    (epoch 0) is the fitted model, and why."""
    from skae import AutoencoderTransformer

    # Isotropic noise: PCA's reconstruction is as good as any network's.
    X = np.random.default_rng(0).normal(size=(200, 4))
    model = AutoencoderTransformer(
        n_components=2,
        hidden_layer_sizes=(8,),
        warmup_noise=0,
        n_iter_no_change=3,
        tol=10.0,
        verbose=1,
        random_state=0,
    ).fit(X)
    out = capsys.readouterr().out
    assert dict(model.net_.callbacks_)["stopping"].best_epoch_ == 0
    assert "Restoring the start (epoch 0)" in out
    assert "classical start is the fitted model" in out
