"""A fitted net as plain NumPy and Python objects, and the net rebuilt from them.

``pickle``, ``joblib`` and ``copy`` keep the skorch net as skorch pickles it
(torch storage, mapped to an available device on load).  A serializer that
reads ``__getstate__`` itself and refuses arbitrary types, such as
:mod:`skops.io`, gets :func:`net_state` instead: the module's and optimizer's
tensors as NumPy arrays, the history as lists and dicts, and the few settings
the estimator needs to build the same net again (:func:`restore_net`).
"""

import warnings
from types import SimpleNamespace

import numpy as np
import torch
from skorch.exceptions import DeviceWarning

from skae._training import BatchHistory, SkaeNet, build_net
from skae.modules.protocol import InputSpec

NET_STATE = "_skae_net_state"


def _numpy_tree(value):
    """``value`` with every tensor replaced by a NumPy array (on the CPU)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {key: _numpy_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_numpy_tree(item) for item in value)
    return value


def _tensor_tree(value, device: torch.device):
    """Inverse of :func:`_numpy_tree`: NumPy arrays back to tensors on ``device``."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy()).to(device)
    if isinstance(value, dict):
        return {key: _tensor_tree(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tensor_tree(item, device) for item in value)
    return value


def _plain_history(history) -> list:
    """The history's rows as plain lists, dicts and Python numbers."""
    return _numpy_tree([dict(row) for row in history.to_list()])


def net_state(net: SkaeNet) -> dict:
    """What :func:`restore_net` needs, in NumPy arrays and plain Python objects.

    Parameters
    ----------
    net : SkaeNet
        A fitted (initialized) net.

    Returns
    -------
    state : dict
        ``module`` and ``optimizer`` state dicts with NumPy arrays, ``history``
        as a list of dicts, ``seed``, ``batch_size``, ``batch_transform``,
        ``device`` (a string) and ``dtype`` (a NumPy dtype name).
    """
    parameter = next(iter(net.module_.parameters()), torch.empty(0))
    return {
        "module": _numpy_tree(dict(net.module_.state_dict())),
        "optimizer": _numpy_tree(net.optimizer_.state_dict()),
        "history": _plain_history(net.history),
        "seed": int(net.iterator_train__seed),
        "batch_size": int(net.batch_size),
        "batch_transform": net.iterator_train__batch_transform,
        "device": str(net.device),
        "dtype": str(torch.empty(0, dtype=parameter.dtype).numpy().dtype),
    }


def _available_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"The model was fitted on {name!r}, which is not available here; "
            "its parameters are loaded on the CPU.",
            DeviceWarning,
            stacklevel=4,
        )
        return torch.device("cpu")
    return device


def restore_net(estimator, part, state: dict) -> SkaeNet:
    """Build the estimator's net again and load ``state`` (from :func:`net_state`).

    The module is built by the estimator's model ``part`` under a forked
    torch random state, so loading leaves torch's global generator alone.  A
    net fitted on a device that is missing here is rebuilt on the CPU, with a
    :class:`skorch.exceptions.DeviceWarning`.  The validation split of an
    ``early_stopping`` fit is not kept (``partial_fit`` does not use it).
    """
    device = _available_device(state["device"])
    dtype = torch.from_numpy(np.empty(0, dtype=state["dtype"])).dtype
    fitted = vars(estimator)
    encoder = fitted.get("context_encoder_")
    spec = InputSpec(
        estimator.n_features_in_,
        image_shape=fitted.get("image_shape_"),
        n_context=0 if encoder is None else encoder.n_context_,
    )
    with torch.random.fork_rng(devices=[]):
        module = part.build(spec)
    module = module.to(device=device, dtype=dtype)
    net = build_net(
        SimpleNamespace(**estimator.get_params(deep=False)),
        part.policy,
        module,
        part.criterion(fitted),
        n_train=state["batch_size"],
        seed=state["seed"],
        device=device,
        batch_transform=state["batch_transform"],
    )
    net.initialize()
    net.module_.load_state_dict(_tensor_tree(state["module"], device))
    net.optimizer_.load_state_dict(_tensor_tree(state["optimizer"], device))
    net.history_ = BatchHistory(state["history"])
    net.module_.eval()
    return net
