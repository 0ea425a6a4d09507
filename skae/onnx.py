"""ONNX export of skae estimators through skl2onnx (``pip install skae[onnx]``).

Importing this module registers a skl2onnx shape calculator and converter for
:class:`~skae.AutoencoderTransformer`, :class:`~skae.DenoisingAE`,
:class:`~skae.VAE` and :class:`~skae.RealNVPDensity`, so that
``skl2onnx.to_onnx(model, X[:1])`` converts a fitted estimator alone or as a
step of a :class:`~sklearn.pipeline.Pipeline` (behind scikit-learn steps that
skl2onnx converts).  The graph is built from the fitted weights with plain
ONNX operators (``MatMul``, ``Add``, ``Relu``, ...), the preprocessing
(centring, scaling, whitening) included, in the dtype of the converted input
(``double`` for float64 ``X``).  Encoders and decoders may be plain MLPs
(``init='random'``) or :class:`~skae.modules.residual.ResidualMap` objects
(the PCA and factor-model starts: a linear map plus a scaled residual MLP,
or the linear map alone).

The option ``method`` chooses what the graph computes:

* ``"transform"`` (default): the codes (a flow's Gaussianised data);
* ``"inverse_transform"``: codes back to the input space; the graph's input
  is then a code, ``Z[:1]``, so convert the estimator alone;
* ``"score_samples"``: one score per row, shape ``(n,)``: minus the
  reconstruction error of an autoencoder, the flow's exact log-density under
  its base (the standard normal, or the Gaussian mixture of
  ``n_base_components``, broad component included; computed in double as
  :meth:`skae.RealNVPDensity.score_samples` does), the VAE's
  importance-weighted log-likelihood with the same fixed draws as
  :meth:`skae.VAE.score_samples`, mixed with its start's factor model
  (``defensive_weight_``) as there.

:func:`to_onnx` is the same with the method as an argument.

Examples
--------
>>> import numpy as np
>>> import onnxruntime as rt
>>> import skl2onnx
>>> from sklearn.datasets import load_digits
>>> import skae.onnx
>>> from skae import AutoencoderTransformer
>>> X = load_digits().data
>>> ae = AutoencoderTransformer(n_components=4, max_iter=5, random_state=0).fit(X)
>>> onx = skl2onnx.to_onnx(ae, X[:1])
>>> session = rt.InferenceSession(onx.SerializeToString())
>>> codes = session.run(None, {"X": X})[0]
>>> bool(np.abs(codes - ae.transform(X)).max() < 1e-4)
True
>>> onx = skae.onnx.to_onnx(ae, X[:1], method="score_samples")
>>> session = rt.InferenceSession(onx.SerializeToString())
>>> scores = session.run(None, {"X": X})[0]
>>> bool(np.abs(scores - ae.score_samples(X)).max() < 1e-4)
True
"""

import math

import numpy as np
from onnx import TensorProto
from skl2onnx import to_onnx as _skl2onnx_to_onnx
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_ops import (
    OnnxAbs,
    OnnxAdd,
    OnnxCast,
    OnnxClip,
    OnnxDiv,
    OnnxEqual,
    OnnxExp,
    OnnxGatherElements,
    OnnxGreaterOrEqual,
    OnnxIdentity,
    OnnxLog,
    OnnxMatMul,
    OnnxMax,
    OnnxMin,
    OnnxMul,
    OnnxNeg,
    OnnxReduceMaxApi18,
    OnnxReduceMeanApi18,
    OnnxReduceSumApi11,
    OnnxRelu,
    OnnxReshape,
    OnnxSigmoid,
    OnnxSqrt,
    OnnxSub,
    OnnxTanh,
    OnnxWhere,
)
from skl2onnx.common.data_types import guess_numpy_type, guess_proto_type
from torch import nn

from skae._autoencoder import AutoencoderTransformer
from skae._defensive import factor_covariance
from skae._denoising import DenoisingAE
from skae._preprocessing import Whitener
from skae._realnvp import RealNVPDensity
from skae._vae import VAE
from skae.modules.autoregressive import AutoregressiveSpline
from skae.modules.coupling import AffineCoupling, SplineCoupling
from skae.modules.mixture import GaussianMixtureBase
from skae.modules.residual import ResidualMap
from skae.modules.transforms import (
    MIN_BIN,
    MIN_DERIVATIVE,
    UNIT_SLOPE_LOGIT,
    SplineTransform,
)
from skae.parts.vae import importance_draws

__all__ = ["METHODS", "to_onnx"]

METHODS = ("transform", "inverse_transform", "score_samples")
_DEFAULT = {"method": "transform"}
_LOG_2PI = math.log(2.0 * math.pi)


def _array(tensor, dtype) -> np.ndarray:
    return tensor.detach().cpu().double().numpy().astype(dtype)


class _Graph:
    """Builds ONNX operators in one dtype and one opset."""

    def __init__(self, dtype, op_version: int) -> None:
        self.dtype = dtype
        self.opv = op_version

    def const(self, value) -> np.ndarray:
        return np.asarray(value, dtype=self.dtype)

    def materialise(self, node):
        """``node`` added to the graph now, referred to by its output: the
        algebra's checks walk every path to a node again, which grows
        exponentially with the depth of a graph that reuses its nodes."""
        target = getattr(self, "target", None)
        if target is None or not hasattr(node, "add_to"):  # or added already
            return node
        node.add_to(*target)
        return node.outputs[0]

    def op(self, cls, *inputs, **attributes):
        return cls(*inputs, op_version=self.opv, **attributes)

    def add(self, a, b):
        return self.op(OnnxAdd, a, b)

    def sub(self, a, b):
        return self.op(OnnxSub, a, b)

    def mul(self, a, b):
        return self.op(OnnxMul, a, b)

    def exp(self, a):
        return self.op(OnnxExp, a)

    def clamp(self, a, low, high):
        """Elementwise ``min(max(a, low), high)`` with broadcast bounds."""
        return self.op(OnnxMin, self.op(OnnxMax, a, low), high)

    def row_sum(self, a):
        """Sum over the last axis, dropped."""
        return self.op(OnnxReduceSumApi11, a, axes=[-1], keepdims=0)

    def logsumexp(self, a, axis: int):
        """``log sum exp`` over ``axis`` (dropped), shifted by its maximum."""
        peak = self.op(OnnxReduceMaxApi18, a, axes=[axis], keepdims=1)
        shifted = self.exp(self.sub(a, peak))
        total = self.op(OnnxReduceSumApi11, shifted, axes=[axis], keepdims=0)
        peak = self.op(OnnxReduceMaxApi18, a, axes=[axis], keepdims=0)
        return self.add(self.op(OnnxLog, total), peak)

    def logaddexp(self, a, b):
        """``log(exp(a) + exp(b))`` as ``max(a, b) + log(1 + exp(-|a - b|))``."""
        tail = self.exp(self.op(OnnxNeg, self.op(OnnxAbs, self.sub(a, b))))
        return self.add(
            self.op(OnnxMax, a, b), self.op(OnnxLog, self.add(tail, self.const(1.0)))
        )

    def linear(self, x, layer: nn.Linear, rows: slice = slice(None)):
        # A masked layer (an autoregressive network's) applies its masked weight.
        weight = getattr(layer, "masked_weight", lambda: layer.weight)()
        weight = _array(weight[rows], self.dtype).T
        return self.add(
            self.op(OnnxMatMul, x, weight), _array(layer.bias[rows], self.dtype)
        )

    def activation(self, x, layer: nn.Module):
        if isinstance(layer, nn.ReLU):
            return self.op(OnnxRelu, x)
        if isinstance(layer, nn.Tanh):
            return self.op(OnnxTanh, x)
        if isinstance(layer, nn.Sigmoid):
            return self.op(OnnxSigmoid, x)
        if isinstance(layer, nn.Identity):
            return x
        raise NotImplementedError(f"No ONNX export for {type(layer).__name__}.")

    def trunk(self, x, network: nn.Sequential):
        """Every layer of ``network`` but its last (linear) one, applied to ``x``."""
        for layer in list(network)[:-1]:
            if isinstance(layer, nn.Linear):
                x = self.linear(x, layer)
            else:
                x = self.activation(x, layer)
        return x

    def mlp(self, x, network: nn.Sequential, last_rows: slice = slice(None)):
        """``network(x)``; ``last_rows`` keeps some outputs of the last layer."""
        return self.linear(self.trunk(x, network), network[-1], last_rows)

    def network(self, x, network: nn.Module, *rows: slice) -> list:
        """``network(x)`` for a plain MLP or a :class:`ResidualMap`, in parts.

        One output per slice in ``rows`` (all outputs when none is given),
        the hidden layers computed once: of an MLP, a slice of its last
        linear layer; of a residual map, of its linear part, of its residual
        branch (input clamped to its box) and of its ``out_scale``.
        """
        rows = rows or (slice(None),)
        if isinstance(network, nn.Sequential):
            hidden = self.trunk(x, network)
            return [self.linear(hidden, network[-1], part) for part in rows]
        if not isinstance(network, ResidualMap):
            raise NotImplementedError(f"No ONNX export for {type(network).__name__}.")
        outputs = [self.linear(x, network.linear, part) for part in rows]
        if network.residual is None:
            return outputs
        if not isinstance(network.residual, nn.Sequential):  # conv, GRU branches
            name = type(network.residual).__name__
            raise NotImplementedError(f"No ONNX export for {name}.")
        low = _array(network.box_low, self.dtype)
        high = _array(network.box_high, self.dtype)
        inner = (
            x
            if np.all(np.isinf(low)) and np.all(np.isinf(high))
            else self.clamp(x, low, high)
        )
        in_scale = _array(network.in_scale, self.dtype)
        hidden = self.trunk(
            inner if np.all(in_scale == 1) else self.mul(inner, in_scale),
            network.residual,
        )
        for i, part in enumerate(rows):
            branch = self.linear(hidden, network.residual[-1], part)
            out_scale = _array(network.out_scale[part], self.dtype)
            if not np.all(out_scale == 1):
                branch = self.mul(branch, out_scale)
            outputs[i] = self.add(outputs[i], branch)
        return outputs

    def apply(self, x, network: nn.Module, rows: slice = slice(None)):
        """``network(x)`` (the outputs ``rows``), a plain MLP or a residual map."""
        return self.network(x, network, rows)[0]

    # ------------------------------------------------------- preprocessing
    def to_model(self, x, preprocessor):
        """The fitted preprocessing: user units to model space."""
        mean, scale = self.const(preprocessor.mean_), self.const(preprocessor.scale_)
        u = self.op(OnnxDiv, self.sub(x, mean), scale)
        if isinstance(preprocessor, Whitener):
            u = self.op(OnnxMatMul, u, self.const(preprocessor.whitening_))
        return u

    def to_user(self, u, preprocessor):
        """Model space back to user units."""
        if isinstance(preprocessor, Whitener):
            unwhitening = np.linalg.inv(preprocessor.whitening_).T
            u = self.op(OnnxMatMul, u, self.const(unwhitening))
        mean, scale = self.const(preprocessor.mean_), self.const(preprocessor.scale_)
        return self.add(self.mul(u, scale), mean)

    def standard_normal_log_prob(self, z, width: int):
        """``-(||z||^2 + d log 2 pi) / 2`` over the last axis."""
        norm = self.row_sum(self.mul(z, z))
        return self.mul(self.add(norm, self.const(width * _LOG_2PI)), self.const(-0.5))

    def diag_gaussian_log_prob(self, z, mu, logvar):
        error = self.sub(z, mu)
        terms = self.add(
            self.add(
                self.op(OnnxDiv, self.mul(error, error), self.exp(logvar)), logvar
            ),
            self.const(_LOG_2PI),
        )
        return self.mul(self.row_sum(terms), self.const(-0.5))


# ------------------------------------------------------------ autoencoders
def _autoencoder(graph: _Graph, model, x, method: str):
    module, pre = model.net_.module_, model.preprocessor_
    if method == "inverse_transform":
        return graph.to_user(graph.apply(x, module.decoder), pre)
    code = graph.apply(graph.to_model(x, pre), module.encoder)
    if method == "transform":
        return code
    error = graph.sub(x, graph.to_user(graph.apply(code, module.decoder), pre))
    squared = graph.mul(error, error)
    mean = graph.op(OnnxReduceMeanApi18, squared, axes=[1], keepdims=0)
    return graph.op(OnnxNeg, mean)


# --------------------------------------------------------------------- VAE
def _vae_decoder_mean(graph: _Graph, module, z):
    out = graph.apply(z, module.decoder)
    return graph.op(OnnxSigmoid, out) if module.likelihood == "bernoulli" else out


def _vae_log_likelihood(graph: _Graph, model, x):
    """The importance-weighted ``log p(x)`` of :meth:`skae.VAE.score_samples`."""
    module, pre = model.net_.module_, model.preprocessor_
    width = module.n_components
    u = graph.to_model(x, pre)
    mu, raw_logvar = graph.network(
        u, module.encoder, slice(0, width), slice(width, 2 * width)
    )
    low, high = module.logvar_bounds
    logvar = graph.op(OnnxClip, raw_logvar, graph.const(low), graph.const(high))
    draws = importance_draws(
        model.net_.iterator_train__seed, model.n_importance_samples, width
    )
    eps = graph.const(draws.numpy()[:, None, :])
    z = graph.add(mu, graph.mul(graph.exp(graph.mul(logvar, graph.const(0.5))), eps))
    decoder_out = graph.apply(z, module.decoder)
    if module.likelihood == "bernoulli":
        # softplus(a) = relu(a) + log(1 + exp(-|a|)); onnxruntime has no double Softplus
        tail = graph.exp(graph.op(OnnxNeg, graph.op(OnnxAbs, decoder_out)))
        softplus = graph.add(
            graph.op(OnnxRelu, decoder_out),
            graph.op(OnnxLog, graph.add(tail, graph.const(1.0))),
        )
        log_px = graph.row_sum(graph.sub(graph.mul(u, decoder_out), softplus))
    else:
        decoder_logvar = _array(module.clamped_decoder_logvar(), graph.dtype)
        log_px = graph.diag_gaussian_log_prob(u, decoder_out, decoder_logvar)
        if module.noise_factors is not None:
            log_px = graph.add(
                log_px,
                _low_rank_correction(graph, module, graph.sub(u, decoder_out)),
            )
    log_weights = graph.sub(
        graph.add(log_px, graph.standard_normal_log_prob(z, width)),
        graph.diag_gaussian_log_prob(z, mu, logvar),
    )
    log_mean = graph.sub(
        graph.logsumexp(log_weights, axis=0),
        graph.const(math.log(model.n_importance_samples)),
    )
    return graph.add(log_mean, graph.const(pre.log_det()))


def _low_rank_correction(graph: _Graph, module, residual):
    """What a low-rank noise part ``F F^T`` adds to the diagonal log-density.

    By Woodbury and the determinant lemma, ``(b^T M^{-1} b - log det M) / 2``
    with ``b = F^T Psi^{-1} r`` and the constant ``M = I + F^T Psi^{-1} F``.
    """
    factors = module.noise_factors.detach().cpu().double().numpy()
    inv_noise = np.exp(-module.clamped_decoder_logvar().detach().cpu().double().numpy())
    m = np.eye(factors.shape[1]) + factors.T @ (factors * inv_noise[:, None])
    b = graph.op(
        OnnxMatMul,
        graph.mul(residual, graph.const(inv_noise)),
        graph.const(factors),
    )
    quadratic = graph.row_sum(
        graph.mul(graph.op(OnnxMatMul, b, graph.const(np.linalg.inv(m))), b)
    )
    half_log_det = 0.5 * np.linalg.slogdet(m)[1]
    return graph.sub(graph.mul(quadratic, graph.const(0.5)), graph.const(half_log_det))


def _defensive(graph: _Graph, model, x, log_vae):
    """The VAE's defensive mixture with its start's factor model, in double.

    ``log((1 - w) p_VAE(x) + w N(x; start_mean_, C^T C + diag(noise)))``, the
    Gaussian as a one-component :func:`_mixture_log_prob` of weight ``w``.
    """
    # A model saved before the defensive component existed has none.
    weight = getattr(model, "defensive_weight_", 0.0)
    if weight <= 0:
        return log_vae
    covariance = factor_covariance(model.start_components_, model.start_noise_variance_)
    start = GaussianMixtureBase(
        np.array([weight]), model.start_mean_[None], covariance[None]
    )
    wide = _Graph(np.float64, graph.opv)
    if graph.dtype != np.float64:
        x = graph.op(OnnxCast, x, to=TensorProto.DOUBLE)
        log_vae = graph.op(OnnxCast, log_vae, to=TensorProto.DOUBLE)
    main = wide.add(log_vae, wide.const(math.log1p(-weight)))
    log_prob = wide.logaddexp(main, _mixture_log_prob(wide, start, x))
    if graph.dtype != np.float64:
        log_prob = graph.op(OnnxCast, log_prob, to=graph.proto)
    return log_prob


def _vae(graph: _Graph, model, x, method: str):
    module, pre = model.net_.module_, model.preprocessor_
    if method == "inverse_transform":
        return graph.to_user(_vae_decoder_mean(graph, module, x), pre)
    if method == "score_samples":
        return _defensive(graph, model, x, _vae_log_likelihood(graph, model, x))
    return graph.apply(
        graph.to_model(x, pre), module.encoder, slice(0, module.n_components)
    )


# -------------------------------------------------------------------- flow
def _log_scale_and_shift(graph: _Graph, layer: AffineCoupling, x):
    mask = _array(layer.mask, graph.dtype)
    low, high = _array(layer.box_low, graph.dtype), _array(layer.box_high, graph.dtype)
    conditioner = graph.mul(graph.clamp(x, low, high), mask)
    bound = graph.const(layer.log_scale_bound)
    raw = graph.mlp(conditioner, layer.scale_net)
    log_scale = graph.mul(graph.op(OnnxTanh, graph.op(OnnxDiv, raw, bound)), bound)
    return mask, low, high, log_scale, graph.mlp(conditioner, layer.shift_net)


def _coupling_forward(graph: _Graph, layer: AffineCoupling, x):
    """``boxed_affine_forward`` and its log-determinant."""
    mask, low, high, log_scale, shift = _log_scale_and_shift(graph, layer, x)
    free = graph.const(1.0) - mask
    inside = graph.clamp(x, low, high)
    moved = graph.add(graph.mul(inside, graph.exp(log_scale)), shift)
    y = graph.add(
        graph.add(graph.mul(inside, mask), graph.mul(moved, free)), graph.sub(x, inside)
    )
    in_box = graph.op(OnnxCast, graph.op(OnnxEqual, x, inside), to=graph.proto)
    return y, graph.row_sum(graph.mul(graph.mul(in_box, log_scale), free))


def _coupling_inverse(graph: _Graph, layer: AffineCoupling, y):
    """``boxed_affine_inverse``."""
    mask, low, high, log_scale, shift = _log_scale_and_shift(graph, layer, y)
    scale = graph.exp(log_scale)
    image = graph.clamp(
        y,
        graph.add(graph.mul(scale, low), shift),
        graph.add(graph.mul(scale, high), shift),
    )
    undone = graph.mul(graph.sub(image, shift), graph.exp(graph.op(OnnxNeg, log_scale)))
    free = graph.const(1.0) - mask
    x = graph.add(graph.mul(image, mask), graph.mul(undone, free))
    return graph.add(x, graph.sub(y, image))


# ------------------------------------------------------------ spline couplings
def _spline_knots(graph: _Graph, layer: SplineCoupling, x):
    """:func:`skae.modules.transforms._spline_knots` of the conditioner's
    output on ``x``: abscissae, ordinates and slopes, each ``(n, d, K + 1)``."""
    transform = layer.transform
    d, k, bound = layer.mask.shape[0], transform.n_bins, transform.tail_bound
    low, high = _array(layer.box_low, graph.dtype), _array(layer.box_high, graph.dtype)
    conditioner = graph.clamp(x, low, high)
    if not isinstance(layer, AutoregressiveSpline):  # its masks are in its network
        conditioner = graph.mul(conditioner, _array(layer.mask, graph.dtype))
    n = transform.n_params
    # The outputs are (feature, parameter) flattened: rows of the last layer
    # per kind of parameter, then (n, d, count of the kind).
    kinds = (range(k), range(k, 2 * k), range(2 * k, n))
    rows = [[j * n + p for j in range(d) for p in kind] for kind in kinds]
    outputs = graph.network(conditioner, layer.spline_net, *rows)
    widths, heights, slopes = (
        graph.op(OnnxReshape, part, np.array([-1, d, len(kind)], np.int64))
        for part, kind in zip(outputs, kinds, strict=True)
    )
    # Cumulative sums with a leading 0: a product with a triangular matrix.
    cumulative = graph.const(np.triu(np.ones((k, k + 1)), 1))
    last = np.eye(k + 1)[-1]

    def knots(logits):
        peak = graph.op(OnnxReduceMaxApi18, logits, axes=[-1], keepdims=1)
        shifted = graph.exp(graph.sub(logits, peak))
        total = graph.op(OnnxReduceSumApi11, shifted, axes=[-1], keepdims=1)
        fraction = graph.add(
            graph.mul(graph.op(OnnxDiv, shifted, total), graph.const(1 - MIN_BIN * k)),
            graph.const(MIN_BIN),
        )
        summed = graph.op(OnnxMatMul, fraction, cumulative)
        scaled = graph.sub(
            graph.mul(summed, graph.const(2 * bound)), graph.const(bound)
        )
        # The last knot exactly at the bound, as in the torch code.
        return graph.add(
            graph.mul(scaled, graph.const(1 - last)), graph.const(bound * last)
        )

    interior = graph.add(
        graph.logaddexp(
            graph.add(slopes, graph.const(UNIT_SLOPE_LOGIT)), graph.const(0.0)
        ),
        graph.const(MIN_DERIVATIVE),
    )
    slopes = graph.add(
        graph.op(OnnxMatMul, interior, graph.const(np.eye(k + 1)[1:-1])),
        graph.const(np.eye(k + 1)[0] + last),
    )
    return tuple(graph.materialise(t) for t in (knots(widths), knots(heights), slopes))


def _spline_bin(graph: _Graph, k: int, searched, values, x_knots, y_knots, slopes):
    """:func:`skae.modules.transforms._gather_bin` over ``k`` bins: comparisons
    with the interior knots of ``searched``, a sum and a gather."""
    interior = graph.op(OnnxMatMul, searched, graph.const(np.eye(k + 1)[:, 1:-1]))
    column = graph.op(OnnxReshape, values, np.array([0, -1, 1], np.int64))
    above = graph.op(
        OnnxCast, graph.op(OnnxGreaterOrEqual, column, interior), to=TensorProto.INT64
    )
    index = graph.op(OnnxReduceSumApi11, above, axes=[-1], keepdims=1)
    following = graph.op(OnnxAdd, index, np.array([1], np.int64))

    def at(tensor, where):
        gathered = graph.op(OnnxGatherElements, tensor, where, axis=2)
        return graph.op(OnnxReshape, gathered, np.array([0, -1], np.int64))

    x_low, y_low = at(x_knots, index), at(y_knots, index)
    bins = (
        x_low,
        graph.sub(at(x_knots, following), x_low),
        y_low,
        graph.sub(at(y_knots, following), y_low),
        at(slopes, index),
        at(slopes, following),
    )
    return tuple(graph.materialise(t) for t in bins)


def _inside(graph: _Graph, x, bound: float):
    """``(|x| <= bound, clamp(x, -bound, bound))``."""
    clamped = graph.clamp(x, graph.const(-bound), graph.const(bound))
    return graph.op(OnnxEqual, x, clamped), clamped


def _spline_forward(graph: _Graph, transform: SplineTransform, x, knots):
    """``SplineTransform.forward``: ``(y, log T'(x))``."""
    inside, c = _inside(graph, x, transform.tail_bound)
    bins = _spline_bin(graph, transform.n_bins, knots[0], c, *knots)
    x_k, w_k, y_k, h_k, d_k, d_next = bins
    s_k = graph.op(OnnxDiv, h_k, w_k)
    theta = graph.op(OnnxDiv, graph.sub(c, x_k), w_k)
    rest = graph.sub(graph.const(1.0), theta)
    between = graph.mul(theta, rest)
    curvature = graph.sub(graph.add(d_next, d_k), graph.mul(s_k, graph.const(2.0)))
    denominator = graph.add(s_k, graph.mul(curvature, between))
    rise = graph.add(graph.mul(s_k, graph.mul(theta, theta)), graph.mul(d_k, between))
    y = graph.add(y_k, graph.op(OnnxDiv, graph.mul(h_k, rise), denominator))
    numerator = graph.add(
        graph.add(
            graph.mul(d_next, graph.mul(theta, theta)),
            graph.mul(graph.mul(s_k, graph.const(2.0)), between),
        ),
        graph.mul(d_k, graph.mul(rest, rest)),
    )
    log_derivative = graph.sub(
        graph.add(
            graph.mul(graph.op(OnnxLog, s_k), graph.const(2.0)),
            graph.op(OnnxLog, numerator),
        ),
        graph.mul(graph.op(OnnxLog, denominator), graph.const(2.0)),
    )
    return (
        graph.op(OnnxWhere, inside, y, x),
        graph.op(OnnxWhere, inside, log_derivative, graph.const(0.0)),
    )


def _spline_inverse(graph: _Graph, transform: SplineTransform, y, knots):
    """``SplineTransform.inverse``: the root of a quadratic in each bin."""
    inside, c = _inside(graph, y, transform.tail_bound)
    bins = _spline_bin(graph, transform.n_bins, knots[1], c, *knots)
    x_k, w_k, y_k, h_k, d_k, d_next = bins
    s_k = graph.op(OnnxDiv, h_k, w_k)
    offset = graph.sub(c, y_k)
    curvature = graph.sub(graph.add(d_next, d_k), graph.mul(s_k, graph.const(2.0)))
    a = graph.add(graph.mul(h_k, graph.sub(s_k, d_k)), graph.mul(offset, curvature))
    b = graph.sub(graph.mul(h_k, d_k), graph.mul(offset, curvature))
    c_ = graph.op(OnnxNeg, graph.mul(s_k, offset))
    discriminant = graph.op(
        OnnxMax,
        graph.sub(graph.mul(b, b), graph.mul(graph.mul(a, c_), graph.const(4.0))),
        graph.const(0.0),
    )
    root = graph.op(
        OnnxDiv,
        graph.mul(c_, graph.const(2.0)),
        graph.sub(graph.op(OnnxNeg, b), graph.op(OnnxSqrt, discriminant)),
    )
    return graph.op(OnnxWhere, inside, graph.add(x_k, graph.mul(root, w_k)), y)


def _spline_box(graph: _Graph, layer: SplineCoupling):
    mask = _array(layer.mask, graph.dtype)
    low, high = _array(layer.box_low, graph.dtype), _array(layer.box_high, graph.dtype)
    return mask, graph.const(1.0) - mask, low, high, layer.transform


def _spline_coupling_forward(graph: _Graph, layer: SplineCoupling, x):
    """``boxed_coupling_forward`` with the spline, and its log-determinant."""
    mask, free, low, high, transform = _spline_box(graph, layer)
    knots = _spline_knots(graph, layer, x)
    inside = graph.clamp(x, low, high)
    moved, log_derivative = _spline_forward(graph, transform, inside, knots)
    y = graph.add(
        graph.add(graph.mul(inside, mask), graph.mul(moved, free)), graph.sub(x, inside)
    )
    in_box = graph.op(OnnxCast, graph.op(OnnxEqual, x, inside), to=graph.proto)
    return y, graph.row_sum(graph.mul(graph.mul(in_box, log_derivative), free))


def _spline_coupling_inverse(graph: _Graph, layer: SplineCoupling, y, given=None):
    """``boxed_coupling_inverse`` with the spline, its parameters read from
    ``given`` (None: ``y``, a coupling's passed-through features)."""
    mask, free, low, high, transform = _spline_box(graph, layer)
    knots = _spline_knots(graph, layer, y if given is None else given)
    zero = graph.mul(y, graph.const(0.0))  # the box's ends, one per row
    ends = [
        _spline_forward(graph, transform, graph.add(zero, end), knots)[0]
        for end in (low, high)
    ]
    image = graph.clamp(y, *ends)
    undone = _spline_inverse(graph, transform, image, knots)
    x = graph.add(graph.mul(image, mask), graph.mul(undone, free))
    return graph.add(x, graph.sub(y, image))


def _autoregressive_inverse(graph: _Graph, layer: AutoregressiveSpline, y):
    """``AutoregressiveSpline.inverse``: one pass per feature."""
    x = y
    for _ in range(layer.mask.shape[0]):
        x = graph.materialise(_spline_coupling_inverse(graph, layer, y, x))
    return x


def _exported(layer) -> tuple:
    """The graph builders ``(forward, inverse)`` of a coupling ``layer``."""
    if isinstance(layer, AutoregressiveSpline):
        return _spline_coupling_forward, _autoregressive_inverse
    if isinstance(layer, SplineCoupling):
        return _spline_coupling_forward, _spline_coupling_inverse
    return _coupling_forward, _coupling_inverse


def _flow(graph: _Graph, model, x, method: str):
    module, pre = model.net_.module_, model.preprocessor_
    first, *couplings = module.layers
    carried = {type(layer.transform).__name__ for layer in couplings}
    if carried - {"AffineTransform", "SplineTransform"}:
        raise NotImplementedError(
            f"ONNX export of couplings with {sorted(carried)} transforms is not "
            "implemented; only the affine and spline couplings are exported."
        )
    log_scale, shift = (
        _array(first.log_scale, graph.dtype),
        _array(first.shift, graph.dtype),
    )
    if method == "inverse_transform":
        for layer in reversed(couplings):
            x = graph.materialise(_exported(layer)[1](graph, layer, x))
        x = graph.mul(graph.sub(x, shift), np.exp(-log_scale))
        return graph.to_user(x, pre)
    z = graph.add(graph.mul(graph.to_model(x, pre), np.exp(log_scale)), shift)
    log_det = graph.const(float(log_scale.astype(np.float64).sum()))
    for layer in couplings:
        z, layer_log_det = _exported(layer)[0](graph, layer, z)
        z = graph.materialise(z)
        log_det = graph.add(log_det, layer_log_det)
    if method == "transform":
        return z
    # As RealNVP.log_prob: the base density and the sum in float64, whatever
    # the flow's dtype (a far point's ||z||^2 would overflow float32).
    wide = _Graph(np.float64, graph.opv)
    if graph.dtype != np.float64:
        z = graph.op(OnnxCast, z, to=TensorProto.DOUBLE)
        log_det = graph.op(OnnxCast, log_det, to=TensorProto.DOUBLE)
    if module.base is None:
        base_log_prob = wide.standard_normal_log_prob(z, module.n_features)
    else:
        base_log_prob = _mixture_log_prob(wide, module.base, z)
    log_prob = wide.add(wide.add(base_log_prob, log_det), wide.const(pre.log_det()))
    if graph.dtype != np.float64:
        log_prob = graph.op(OnnxCast, log_prob, to=graph.proto)
    return log_prob


def _mixture_log_prob(graph: _Graph, base: GaussianMixtureBase, z):
    """``GaussianMixtureBase.log_prob``: logsumexp over the components.

    Every component (the broad one included) is a full-covariance Gaussian
    ``log w_m + log N(z; mu_m, Sigma_m)`` with ``Sigma_m^{-1} = P_m P_m^T``:
    ``y_m = z P_m - mu_m P_m`` for all components in one ``MatMul`` (their
    ``P_m`` side by side), ``||y_m||^2`` by a second one with a 0/1 matrix
    that sums each component's block of columns.
    """
    precision = base.precision_cholesky.detach().cpu().double().numpy()
    means = base.means.detach().cpu().double().numpy()
    log_weights = base.log_weights.detach().cpu().double().numpy()
    n_components, width, _ = precision.shape
    side_by_side = precision.transpose(1, 0, 2).reshape(width, n_components * width)
    offsets = np.einsum("md,mde->me", means, precision).reshape(-1)
    y = graph.sub(graph.op(OnnxMatMul, z, graph.const(side_by_side)), offsets)
    block_sums = np.kron(np.eye(n_components), np.ones((width, 1)))
    norms = graph.op(OnnxMatMul, graph.mul(y, y), graph.const(block_sums))
    log_det = np.log(np.diagonal(precision, axis1=-2, axis2=-1)).sum(-1)
    constant = log_weights + log_det - 0.5 * width * _LOG_2PI
    terms = graph.add(graph.mul(norms, graph.const(-0.5)), graph.const(constant))
    return graph.logsumexp(terms, axis=1)


# ------------------------------------------------------------ registration
_BUILDERS = {
    AutoencoderTransformer: _autoencoder,
    DenoisingAE: _autoencoder,
    VAE: _vae,
    RealNVPDensity: _flow,
}


def _method(operator) -> str:
    method = operator.scope_inst.get_options(operator.raw_operator, dict(_DEFAULT))[
        "method"
    ]
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    return method


def _output_width(model, method: str) -> int | None:
    if method == "score_samples":
        return None
    if method == "inverse_transform":
        return model.n_features_in_
    return len(model.get_feature_names_out())


def _shape_calculator(operator) -> None:
    model, method = operator.raw_operator, _method(operator)
    n_rows = operator.inputs[0].get_first_dimension()
    width = _output_width(model, method)
    shape = [n_rows] if width is None else [n_rows, width]
    operator.outputs[0].type = operator.inputs[0].type.__class__(shape)


def _converter(scope, operator, container) -> None:
    model, method = operator.raw_operator, _method(operator)
    dtype = guess_numpy_type(operator.inputs[0].type)
    graph = _Graph(dtype, container.target_opset)
    graph.proto = guess_proto_type(operator.inputs[0].type)
    graph.target = (scope, container)
    builder = _builder(type(model))
    result = builder(graph, model, operator.inputs[0], method)
    output = OnnxIdentity(
        result, op_version=graph.opv, output_names=operator.outputs[:1]
    )
    output.add_to(scope, container)


def _builder(cls: type):
    """The graph builder of ``cls`` or of its nearest exported base class."""
    for base in cls.__mro__:
        if base in _BUILDERS:
            return _BUILDERS[base]
    raise TypeError(
        f"skae.onnx exports AutoencoderTransformer, DenoisingAE, VAE, "
        f"RealNVPDensity and their subclasses, not {cls.__name__}."
    )


def _register(cls: type) -> None:
    update_registered_converter(
        cls,
        f"Skae{cls.__name__}",
        _shape_calculator,
        _converter,
        options={"method": list(METHODS)},
    )


for _cls in _BUILDERS:
    _register(_cls)


def to_onnx(model, X, *, method: str = "transform", **kwargs):
    """Convert ``model`` (a fitted skae estimator or a pipeline ending in one).

    Parameters
    ----------
    model : estimator
        A fitted skae estimator, or a :class:`~sklearn.pipeline.Pipeline`
        whose last step is one.
    X : array-like
        A sample of the graph's input (one row is enough): rows of data, or
        codes for ``method="inverse_transform"``.
    method : {'transform', 'inverse_transform', 'score_samples'}, default='transform'
        What the graph computes (see the module docstring).
    **kwargs
        Passed to :func:`skl2onnx.to_onnx` (``target_opset``, ...).

    Returns
    -------
    onx : onnx.ModelProto

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as rt
    >>> from sklearn.datasets import make_moons
    >>> from skae import RealNVPDensity
    >>> from skae.onnx import to_onnx
    >>> X, _ = make_moons(200, noise=0.05, random_state=0)
    >>> flow = RealNVPDensity(n_layers=2, max_iter=5, random_state=0).fit(X)
    >>> onx = to_onnx(flow, X[:1], method="score_samples")
    >>> session = rt.InferenceSession(onx.SerializeToString())
    >>> bool(np.allclose(session.run(None, {"X": X})[0], flow.score_samples(X)))
    True
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    for shape, networks in (
        ("image_shape", "convolutional networks"),
        ("sequence_shape", "GRU encoder and decoder"),
    ):
        if getattr(last, shape + "_", None) is not None:
            raise NotImplementedError(
                f"ONNX export of {type(last).__name__} with {shape} (its "
                f"{networks}) is not implemented; export a model fitted with "
                f"{shape}=None."
            )
    if getattr(last, "context_encoder_", None) is not None:
        raise NotImplementedError(
            f"ONNX export of the conditional {type(last).__name__} (its context "
            "y, a second graph input, and its per-class base) is not "
            "implemented; save it with skops.io or pickle instead."
        )
    if type(last) not in _BUILDERS:
        _builder(type(last))  # a clear error for what cannot be exported
        _register(type(last))
    options = {id(last): {"method": method}}
    return _skl2onnx_to_onnx(model, X, options=options, **kwargs)
