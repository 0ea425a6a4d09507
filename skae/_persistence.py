"""A fitted net as plain NumPy and Python objects, and the net rebuilt from them.

``pickle``, ``joblib`` and ``copy`` keep the skorch net as skorch pickles it
(torch storage, mapped to an available device on load).  A serializer that
reads ``__getstate__`` itself and refuses arbitrary types, such as
:mod:`skops.io`, gets :func:`net_state` instead: the module's and optimizer's
tensors as NumPy arrays, the history as lists and dicts, and the few settings
the estimator needs to build the same net again (:func:`restore_net`).
"""

import copyreg
import hashlib
import inspect
import warnings
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.base import BaseEstimator
from skorch.exceptions import DeviceWarning

from skae._columns import plain_layout, restored_layout
from skae._parts import input_spec
from skae._training import BatchHistory, SkaeNet, build_net
from skae._version import __version__
from skae.modules.heads import ColumnHeads

NET_STATE = "_skae_net_state"
HEADS_STATE = "_skae_heads_layout"


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
    with torch.random.fork_rng(devices=[]):
        encoder = fitted.get("column_encoder_")  # a table's one-hot width
        width = estimator.n_features_in_ if encoder is None else encoder.layout_.width
        module = part.build(input_spec(width, fitted))
    module = module.to(device=device, dtype=dtype)
    # The weights first: a parameter that the start adds (a VAE's noise
    # factors) must exist before the optimizer is built over the module.
    module.load_state_dict(_tensor_tree(state["module"], device))
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
    net.optimizer_.load_state_dict(_tensor_tree(state["optimizer"], device))
    net.history_ = BatchHistory(state["history"])
    net.module_.eval()
    return net


def fitted_digest(state: dict) -> str:
    """SHA-256 of a fitted estimator's numbers: the net's weights and buffers and
    every numeric array attribute (a damaged file changes them silently)."""
    digest = hashlib.sha256()
    net = state.get("net_")
    arrays = {} if net is None else dict(net.module_.state_dict())
    arrays.update(
        (key, value)
        for key, value in state.items()
        if isinstance(value, np.ndarray) and value.dtype.kind in "biufc"
    )
    for key in sorted(arrays):
        value = arrays[key]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


class InconsistentVersionWarning(UserWarning):
    """A fitted estimator loaded by another skae or torch version than saved it.

    As scikit-learn's warning of the same name: its outputs may differ; refit
    it, or load it where the versions that saved it are installed.
    """


class PortableNet:
    """Persistence of an estimator that holds a fitted skorch net as ``net_``.

    ``pickle``, ``joblib`` and ``copy`` keep the net as skorch pickles it;
    ``__getstate__`` (what :mod:`skops.io` stores) gives it as NumPy arrays
    and plain Python objects (:func:`net_state`).  Every state carries the
    skae and torch versions that saved it: another version on load gives an
    :class:`InconsistentVersionWarning`, a parameter added since then takes
    its default, and a net that cannot be rebuilt raises a ValueError naming
    both versions.
    """

    def _saved_state(self) -> dict:
        state = BaseEstimator.__getstate__(self)
        if state.get("accelerator") is not None:  # bound to the processes of a fit
            state = {**state, "accelerator": None}
        saved = {"_skae_version": __version__, "_torch_version": torch.__version__}
        if "net_" in state:
            saved["_skae_digest"] = fitted_digest(state)
        return {**state, **saved}

    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (type(self),), self._saved_state()

    def __getstate__(self) -> dict:
        """The state with the fitted net as NumPy arrays and plain Python objects.

        No torch or skorch object, only NumPy, Python, scikit-learn and skae
        types; ``pickle`` keeps the skorch net instead.
        """
        state = self._saved_state()
        if "net_" in state:
            state[NET_STATE] = net_state(state.pop("net_"))
        if state.get("heads_") is not None:  # a torch module: its layout
            state[HEADS_STATE] = plain_layout(state.pop("heads_").layout)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        portable = state.pop(NET_STATE, None)
        if HEADS_STATE in state:
            state["heads_"] = ColumnHeads(restored_layout(state.pop(HEADS_STATE)))
        saved = state.pop("_skae_version", "0.1.0 or earlier")
        saved_torch = state.pop("_torch_version", "unknown")
        digest = state.pop("_skae_digest", None)
        if (saved, saved_torch) != (__version__, torch.__version__):
            warnings.warn(
                f"This {type(self).__name__} was saved by skae {saved} with torch "
                f"{saved_torch} and is loaded by skae {__version__} with torch "
                f"{torch.__version__}: its outputs may differ. Refit it, or load "
                "it where the versions that saved it are installed.",
                InconsistentVersionWarning,
                stacklevel=2,
            )
        signature = inspect.signature(type(self).__init__)
        before = getattr(self, "_saved_before_it_existed", {})
        for name, parameter in signature.parameters.items():
            if name != "self" and name not in state:
                # Added after that version: what the model was then.
                state[name] = before.get(name, parameter.default)
        BaseEstimator.__setstate__(self, state)
        if portable is not None:
            try:
                self.net_ = restore_net(self, self._fitted_part(), portable)
            except Exception as exc:
                raise ValueError(
                    f"This {type(self).__name__} was saved by skae {saved} and "
                    f"cannot be loaded by skae {__version__}: {exc}"
                ) from exc
        if digest is not None and digest != fitted_digest(vars(self)):
            raise ValueError(
                f"This {type(self).__name__} is damaged: its weights or fitted "
                "arrays differ from those it was saved with. Load an intact copy."
            )
