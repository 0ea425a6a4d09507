"""Data-parallel fits (``accelerator=``): two gloo processes on this CPU.

``torchrun --standalone --nproc_per_node=2`` runs tests/distributed_worker.py,
which fits a small table and a small image set with an
``accelerate.Accelerator``; the same fits run in one process without one.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed_worker import SETTINGS, held_out_split
from distributed_worker import main as run_worker
from sklearn.utils.estimator_checks import parametrize_with_checks

import skae
from skae import AutoencoderTransformer
from skae._data import BatchIterator, TensorDataset
from skae._distributed import ShardedBatches

WORKER = Path(__file__).with_name("distributed_worker.py")


def _torchrun_available() -> bool:
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return False
    return torch.distributed.is_available() and torch.distributed.is_gloo_available()


needs_torchrun = pytest.mark.skipif(
    not _torchrun_available(), reason="needs accelerate and torch.distributed (gloo)"
)


def _accelerated() -> list:
    """Estimators given a one-process Accelerator (none without accelerate)."""
    try:
        from accelerate import Accelerator
    except ImportError:
        return []

    class OneProcess(Accelerator):
        # A stable repr: test ids must be the same in every xdist worker.
        def __repr__(self) -> str:
            return "Accelerator(cpu=True)"

    return [AutoencoderTransformer(max_iter=5, accelerator=OneProcess(cpu=True))]


@parametrize_with_checks(_accelerated())
def test_sklearn_checks_with_an_accelerator(estimator, check):
    if "check_estimators_overwrite_params" in str(check):
        pytest.skip("an Accelerator counts its steps: fit changes its hash")
    check(estimator)


def test_the_accelerator_forgets_what_a_fit_prepared():
    accelerator = pytest.importorskip("accelerate").Accelerator(cpu=True)
    X_fit, _ = held_out_split()
    model = AutoencoderTransformer(2, max_iter=2, accelerator=accelerator)
    model.fit(X_fit[:200])
    assert accelerator._models == [] and accelerator._optimizers == []


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shares_of_every_batch_cover_it_once(world_size, shuffle):
    data = TensorDataset(torch.arange(23.0)[:, None])
    plain = BatchIterator(data, 5, shuffle=shuffle, seed=3)
    shares = [
        ShardedBatches(BatchIterator(data, 5, shuffle=shuffle, seed=3), r, world_size)
        for r in range(world_size)
    ]
    for batch, *parts in zip(plain, *shares, strict=True):
        rows = torch.cat([x for x, _ in parts]).ravel()
        np.testing.assert_array_equal(np.sort(rows), np.sort(batch[0].ravel()))
    assert sum(share.n_rows() for share in shares) == 23


def test_a_batch_smaller_than_the_processes_goes_whole_to_each():
    data = TensorDataset(torch.arange(5.0)[:, None])
    shares = [ShardedBatches(BatchIterator(data, 4), r, 2) for r in range(2)]
    last = [list(share)[-1][0].ravel().tolist() for share in shares]
    assert last == [[4.0], [4.0]]


def test_the_accelerator_is_a_parameter_saved_without_it():
    accelerator = pytest.importorskip("accelerate").Accelerator(cpu=True)
    model = AutoencoderTransformer(accelerator=accelerator)
    assert model.get_params()["accelerator"] is accelerator
    assert AutoencoderTransformer().get_params()["accelerator"] is None
    with pytest.raises(ValueError, match="accelerator"):
        AutoencoderTransformer(accelerator="cpu").fit(np.zeros((4, 2)))
    X_fit, _ = held_out_split()
    model.set_params(max_iter=2, n_components=2, random_state=0).fit(X_fit[:200])
    assert pickle.loads(pickle.dumps(model)).accelerator is None
    assert model.accelerator is accelerator


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distributed")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(out),
    ]
    # The workers import the skae that this test imports.
    paths = [str(Path(skae.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    run_worker(out, single=True)
    return out


def _load(out: Path, name: str) -> dict:
    with np.load(out / f"{name}.npz") as saved:
        return dict(saved)


@pytest.mark.slow
@needs_torchrun
@pytest.mark.parametrize("kind", list(SETTINGS))
def test_two_processes_end_identical_and_near_one(runs, kind):
    rank0, rank1 = _load(runs, f"{kind}-0"), _load(runs, f"{kind}-1")
    single = _load(runs, f"{kind}-single")
    np.testing.assert_array_equal(rank0["parameters"], rank1["parameters"])
    assert rank0["n_iter"] == rank1["n_iter"]
    np.testing.assert_array_equal(rank0["loss_curve"], rank1["loss_curve"])
    # The same global batches, split over two processes: the curve of one.
    n = min(len(rank0["loss_curve"]), len(single["loss_curve"]))
    np.testing.assert_allclose(
        rank0["loss_curve"][:n], single["loss_curve"][:n], rtol=0.05
    )
    assert abs(rank0["error"] / single["error"] - 1) <= 0.02


@pytest.mark.slow
@needs_torchrun
@pytest.mark.parametrize("kind", list(SETTINGS))
def test_the_distributed_estimator_is_a_plain_fitted_one(runs, kind):
    distributed = pickle.loads((runs / f"{kind}-0.pkl").read_bytes())
    single = pickle.loads((runs / f"{kind}-single.pkl").read_bytes())
    assert sorted(vars(distributed)) == sorted(vars(single))
    for name, value in vars(single).items():
        assert type(vars(distributed)[name]) is type(value), name
    assert sorted(vars(distributed.net_)) == sorted(vars(single.net_))
    assert type(distributed.net_) is type(single.net_)
    assert distributed.accelerator is None
    _, X_test = held_out_split()
    Z = distributed.transform(X_test)
    assert Z.shape == (len(X_test), SETTINGS[kind]["n_components"])
    sio = pytest.importorskip("skops.io")
    data = (runs / f"{kind}-0.skops").read_bytes()
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(loaded.transform(X_test), Z)


@pytest.mark.slow
@needs_torchrun
def test_the_distributed_estimator_converts_to_onnx(runs):
    skae_onnx = pytest.importorskip("skae.onnx")
    rt = pytest.importorskip("onnxruntime")
    model = pickle.loads((runs / "table-0.pkl").read_bytes())
    _, X_test = held_out_split()
    session = rt.InferenceSession(
        skae_onnx.to_onnx(model, X_test[:1]).SerializeToString()
    )
    got = session.run(None, {session.get_inputs()[0].name: X_test})[0]
    np.testing.assert_allclose(got, model.transform(X_test), rtol=0, atol=1e-6)
