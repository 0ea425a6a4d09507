"""The shortcuts that trim skae's fit overheads keep the behaviour they replace."""

import pickle

import numpy as np
import pytest
import torch
from skorch.history import History

from skae import AutoencoderTransformer
from skae._preprocessing import Standardizer
from skae._training import BatchHistory, has_fused_adam


def _write(history: History) -> History:
    for epoch in range(3):
        history.new_epoch()
        history.record("epoch", epoch + 1)
        for batch in range(2):
            history.new_batch()
            history.record_batch("train_loss", float(epoch + batch))
            history.record_batch("train_batch_size", 10)
        history.record("train_loss", float(epoch))
    return history


def test_batch_history_records_what_skorch_history_records():
    fast, reference = _write(BatchHistory()), _write(History())
    assert fast.to_list() == reference.to_list()
    assert fast[:, "train_loss"] == reference[:, "train_loss"]
    assert fast[-1, "batches", :, "train_loss"] == [2.0, 3.0]
    assert pickle.loads(pickle.dumps(fast)).to_list() == reference.to_list()


def test_batch_history_record_needs_an_epoch():
    with pytest.raises(ValueError, match="new_epoch"):
        BatchHistory().record("train_loss", 1.0)


def test_blocked_scaling_matches_the_whole_array_formulas(rng):
    # More rows than one block holds, so the statistics span several blocks.
    X = rng.normal(loc=3.0, scale=[1.0, 10.0, 1e-3], size=(2 * 2**18, 3))
    scaler = Standardizer("feature").fit(X)
    np.testing.assert_allclose(scaler.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_, X.std(axis=0), rtol=1e-12)
    expected = ((X - scaler.mean_) / scaler.scale_).astype(np.float32)
    np.testing.assert_array_equal(scaler.transform(X, np.float32), expected)


def test_fit_uses_the_fused_adam_kernel_where_torch_has_one(rng):
    model = AutoencoderTransformer(hidden_layer_sizes=(4,), max_iter=1)
    model.fit(rng.normal(size=(20, 3)))
    assert model.net_.optimizer_.defaults["fused"] == has_fused_adam("cpu")


def test_code_statistics_in_blocks_match_one_pass(rng):
    # Enough rows for several encoding blocks.
    X = rng.normal(size=(3 * 2**19 // 40, 40))
    model = AutoencoderTransformer(n_components=3, hidden_layer_sizes=(8,), max_iter=1)
    model.fit(X)
    with torch.inference_mode():
        codes = model.net_.module_.encoder(
            torch.from_numpy(model.preprocessor_.transform(X))
        )
    codes = codes.double().numpy()
    np.testing.assert_allclose(model.code_mean_, codes.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(model.code_var_, codes.var(axis=0), rtol=1e-5)
