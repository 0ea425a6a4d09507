"""scikit-learn's estimator checks over every skae estimator and setting."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AutoencoderTransformer

ESTIMATORS = [
    AutoencoderTransformer(),
    AutoencoderTransformer(
        n_components=3,
        hidden_layer_sizes=(16, 8),
        activation="tanh",
        early_stopping=True,
        validation_fraction=0.2,
        batch_size=16,
    ),
    AutoencoderTransformer(
        n_components=1,
        hidden_layer_sizes=(),
        activation="identity",
        sparsity_penalty=1e-3,
    ),
    AutoencoderTransformer(
        n_components=4,
        hidden_layer_sizes=(8,),
        activation="logistic",
        contractive_penalty=1e-2,
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
