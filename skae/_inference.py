"""Inference in batches of rows: eval mode, no grad, one batch on the device."""

from collections.abc import Callable, Mapping

import numpy as np
import torch


def apply_rows(
    fitted: Mapping,
    fn: Callable,
    A: np.ndarray,
    *,
    rows: int,
    model_input: bool = True,
    user_output: bool = False,
    dtype=np.float64,
    masked: bool = False,
    context: np.ndarray | None = None,
) -> np.ndarray:
    """Apply ``fn`` to ``A`` in batches of ``rows`` rows of a fitted model.

    ``fitted`` holds the fitted ``net_`` and ``preprocessor_``.
    ``model_input`` maps each batch from user units to model space first;
    ``user_output`` maps the results back; ``masked`` passes
    ``mask=`` the batch's mask of observed (non-NaN) entries and a
    ``context`` (encoded, one row per row of ``A``) passes ``context=`` its
    rows.  The network computes in its own dtype (the training data's); one
    batch at a time is converted and moved to the device, so the peak memory
    is the output plus one batch.
    """
    module, preprocessor = fitted["net_"].module_, fitted["preprocessor_"]
    module.eval()
    reference = next(iter(module.parameters()), torch.empty(0))
    model_dtype = torch.empty(0, dtype=reference.dtype).numpy().dtype
    device = reference.device
    out = None
    with torch.inference_mode():
        for start in range(0, A.shape[0], rows):
            block = A[start : start + rows]
            given = {}
            if masked:
                observed = np.isfinite(block).astype(model_dtype)
                given["mask"] = torch.from_numpy(observed).to(device)
            if context is not None:
                part = np.asarray(context[start : start + rows], dtype=model_dtype)
                given["context"] = torch.from_numpy(part).to(device)
            if model_input:
                block = preprocessor.transform(block, model_dtype)
            block = np.ascontiguousarray(block, dtype=model_dtype)
            if not block.flags.writeable:
                block = block.copy()
            result = fn(torch.from_numpy(block).to(device), **given).cpu().numpy()
            if user_output:
                result = preprocessor.inverse_transform(result)
            if out is None:
                out = np.empty((A.shape[0], *result.shape[1:]), dtype=dtype)
            out[start : start + result.shape[0]] = result
    return out
