"""Keras's names and argument rules, as plain Python data, so presets are checked
without TensorFlow.

``ktui presets``, the preset screen and the form check a preset's layer types,
activations, optimizer, loss and metrics against these tables, and the arguments
of the common layers against :data:`LAYER_RULES` (Dense units >= 1, Dropout rate in
[0, 1), kernel sizes >= 1, ...), instantly and with a message naming the key. The
training backend still builds the model with Keras, which remains the last word.

The tables are kept honest by ``tests/test_keras_names.py``, which compares them
with the installed Keras: every name here exists there, every name Keras exports
is here, and every value a rule accepts builds the layer. When Keras is upgraded
and that test fails, it lists the names to add or remove.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "LAYER_RULES",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "SETTING_RULES",
    "Rule",
    "plain_message",
    "suggest",
]


def _names(text: str) -> frozenset[str]:
    """The whitespace-separated names in ``text`` (the tables below, kept readable)."""
    return frozenset(text.split())


#: Every layer class ``keras.layers`` exports that a preset can name (the abstract
#: ``Layer``, ``InputLayer`` and ``Wrapper`` are left out: they build nothing by name).
LAYERS: frozenset[str] = _names(
    """
    Activation ActivityRegularization AdaptiveAveragePooling1D
    AdaptiveAveragePooling2D AdaptiveAveragePooling3D AdaptiveMaxPooling1D
    AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add AdditiveAttention AlphaDropout
    Attention AugMix AutoContrast Average AveragePooling1D AveragePooling2D
    AveragePooling3D AvgPool1D AvgPool2D AvgPool3D BatchNormalization Bidirectional
    CategoryEncoding CenterCrop Concatenate
    ContrastLimitedAdaptiveHistogramEqualization Conv1D Conv1DTranspose Conv2D
    Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D
    Convolution1D Convolution1DTranspose Convolution2D Convolution2DTranspose
    Convolution3D Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix
    Dense DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense
    Embedding Equalization Flatten FlaxLayer GRU GRUCell GaussianDropout
    GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D
    GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D GlobalAvgPool3D
    GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D
    GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization GroupQueryAttention
    HashedCrossing Hashing Identity IntegerLookup JaxLayer LSTM LSTMCell Lambda
    LayerNormalization LeakyReLU Masking MaxNumBoundingBoxes MaxPool1D MaxPool2D
    MaxPool3D MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum
    MixUp MultiHeadAttention Multiply Normalization PReLU Permute Pipeline
    RMSNormalization RNN RandAugment RandomBrightness RandomColorDegeneration
    RandomColorJitter RandomContrast RandomCrop RandomElasticTransform RandomErasing
    RandomFlip RandomGaussianBlur RandomGrayscale RandomHue RandomInvert
    RandomPerspective RandomPosterization RandomRotation RandomSaturation
    RandomSharpness RandomShear RandomTranslation RandomZoom ReLU RepeatVector
    Rescaling Reshape Resizing ReversibleEmbedding STFTSpectrogram SeparableConv1D
    SeparableConv2D SeparableConvolution1D SeparableConvolution2D SimpleRNN
    SimpleRNNCell Softmax Solarization SpatialDropout1D SpatialDropout2D
    SpatialDropout3D SpectralNormalization StackedRNNCells StringLookup Subtract
    TFSMLayer TextVectorization TimeDistributed TorchModuleWrapper UnitNormalization
    UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
    """
)

#: The names ``keras.activations.get`` accepts.
ACTIVATIONS: frozenset[str] = _names(
    """
    celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish
    hard_tanh leaky_relu linear log_sigmoid log_softmax mish relu relu6 selu sigmoid
    silu soft_shrink softmax softplus softsign sparse_plus sparse_sigmoid sparsemax
    squareplus swish tanh tanh_shrink threshold
    """
)

#: The names ``keras.optimizers.get`` accepts (any letter case), less the wrappers
#: that need another optimizer (``LossScaleOptimizer``, ``MultiOptimizer``).
OPTIMIZERS: frozenset[str] = _names(
    """
    adadelta adafactor adagrad adam adamax adamw ftrl lion muon nadam rmsprop
    schedulefreeadamw sgd
    """
)

#: The names ``keras.losses.get`` accepts (functions and classes).
LOSSES: frozenset[str] = _names(
    """
    BCE BinaryCrossentropy BinaryFocalCrossentropy CTC CategoricalCrossentropy
    CategoricalFocalCrossentropy CategoricalHinge Circle CosineSimilarity Dice Hinge
    Huber KLD KLDivergence LogCosh MAE MAPE MSE MSLE MeanAbsoluteError
    MeanAbsolutePercentageError MeanSquaredError MeanSquaredLogarithmicError Poisson
    SparseCategoricalCrossentropy SquaredHinge Tversky bce binary_crossentropy
    binary_focal_crossentropy categorical_crossentropy
    categorical_focal_crossentropy categorical_hinge circle cosine_similarity ctc
    dice hinge huber kl_divergence kld log_cosh mae mape mean_absolute_error
    mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error
    mse msle poisson sparse_categorical_crossentropy squared_hinge tversky
    """
)

#: The names ``compile(metrics=[...])`` accepts: ``keras.metrics.get``'s names that
#: build without arguments, and ``acc``, which ``compile`` reads as ``accuracy``.
METRICS: frozenset[str] = _names(
    """
    AUC Accuracy BCE BinaryAccuracy BinaryCrossentropy BinaryIoU CategoricalAccuracy
    CategoricalCrossentropy CategoricalHinge ConcordanceCorrelation CosineSimilarity
    F1Score FBetaScore FalseNegatives FalsePositives Hinge KLDivergence LogCoshError
    MAE MAPE MSE MSLE Mean MeanAbsoluteError MeanAbsolutePercentageError
    MeanSquaredError MeanSquaredLogarithmicError PearsonCorrelation Poisson
    Precision R2Score Recall RootMeanSquaredError SparseCategoricalAccuracy
    SparseCategoricalCrossentropy SparseTopKCategoricalAccuracy SquaredHinge Sum
    TopKCategoricalAccuracy TrueNegatives TruePositives acc accuracy auc bce
    binary_accuracy binary_crossentropy binary_io_u categorical_accuracy
    categorical_crossentropy categorical_hinge concordance_correlation
    cosine_similarity f1_score f_beta_score false_negatives false_positives hinge
    kl_divergence log_cosh_error mae mape mean mean_absolute_error
    mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error
    mse msle pearson_correlation poisson precision r2_score recall
    root_mean_squared_error sparse_categorical_accuracy
    sparse_categorical_crossentropy sparse_top_k_categorical_accuracy squared_hinge
    sum top_k_categorical_accuracy true_negatives true_positives
    """
)


def suggest(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'relu'?"`` for a near miss, else where to look up the names."""
    close = difflib.get_close_matches(name, sorted(known), n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "see the Keras documentation for the names it knows"


RuleKind = Literal["int", "number", "ints", "shape", "name"]


@dataclass(frozen=True)
class Rule:
    """What one argument accepts.

    ``int``: a whole number in [low, high]; ``number``: any number in [low, high]
    (``high_open``: high itself excluded); ``ints``: a whole number, or a list of
    ``rank`` whole numbers, each at least ``low`` (Keras's kernel sizes, strides);
    ``shape``: a list of whole numbers >= 1, one of them may be -1 (Reshape);
    ``name``: one of ``names`` (compared in lower case when ``fold_case``).
    ``what`` names the argument in messages, e.g. ``"Dense units"``.
    """

    kind: RuleKind
    what: str
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    rank: int = 1
    names: frozenset[str] = frozenset()
    fold_case: bool = False

    def describe(self) -> str:
        """What a valid value looks like, e.g. ``"a whole number of at least 1"``."""
        if self.kind == "name":
            return f"a Keras {self.what.split()[-1]} name"
        if self.kind == "shape":
            return "a list of whole numbers of at least 1 (one may be -1)"
        if self.kind == "ints":
            each = f"at least {_num(self.low)}" if self.low is not None else "whole"
            return f"a whole number {each}, or a list of {self.rank} such numbers"
        kind = "a whole number" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            top = f"below {_num(self.high)}" if self.high_open else f"at most {_num(self.high)}"
            return f"{kind} of at least {_num(self.low)} and {top}"
        if self.low is not None:
            return f"{kind} of at least {_num(self.low)}"
        return kind

    def accepts_number(self, value: float) -> bool:
        """Whether ``value`` lies within this rule's bounds (types aside)."""
        if self.low is not None and value < self.low:
            return False
        if self.high is None:
            return True
        return value < self.high if self.high_open else value <= self.high

    def problem(self, value: object) -> str | None:
        """Why ``value`` (with every ``$name`` filled in) is refused, or None."""
        if self.kind == "name":
            if not isinstance(value, str):
                return f"expected {self.describe()}, got {value!r}"
            key = value.lower() if self.fold_case else value
            if key not in self.names:
                known = {n.lower() for n in self.names} if self.fold_case else self.names
                return f"unknown {self.what.split()[-1]} {value!r}; {suggest(key, known)}"
            return None
        if self.kind in ("ints", "shape"):
            items = [value] if self.kind == "ints" and _is_int(value) else value
            if not isinstance(items, list) or not items:
                return f"{self.what} must be {self.describe()}, got {value!r}"
            if self.kind == "ints" and len(items) != self.rank:
                return f"{self.what} must be {self.describe()}, got {value!r}"
            low = 1 if self.low is None else self.low
            ok = all(_is_int(d) and (d >= low or (self.kind == "shape" and d == -1)) for d in items)
            if not ok or (self.kind == "shape" and items.count(-1) > 1):
                return f"{self.what} must be {self.describe()}, got {value!r}"
            return None
        if self.kind == "int":
            ok = _is_int(value)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(float(value))  # type: ignore[arg-type]
        if not ok or not self.accepts_number(float(value)):  # type: ignore[arg-type]
            return f"{self.what} must be {self.describe()}, got {value!r}"
        return None


def _is_int(value: object) -> bool:
    # TOML's true/false are Python bools, which are ints: a mistake, not 1 or 0.
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _activation(what: str) -> Rule:
    return Rule("name", f"{what} activation", names=ACTIVATIONS)


def _conv(name: str, rank: int, *, filters: bool = True, causal: bool = False) -> dict[str, Rule]:
    rules = {
        "kernel_size": Rule("ints", f"{name} kernel_size", low=1, rank=rank),
        "strides": Rule("ints", f"{name} strides", low=1, rank=rank),
        "dilation_rate": Rule("ints", f"{name} dilation_rate", low=1, rank=rank),
        "padding": Rule(
            "name", f"{name} padding", names=_PADDINGS | (_CAUSAL if causal else frozenset())
        ),
        "data_format": Rule("name", f"{name} data_format", names=_DATA_FORMATS),
        "activation": _activation(name),
    }
    if filters:
        rules["filters"] = Rule("int", f"{name} filters", low=1)
    else:
        rules["depth_multiplier"] = Rule("int", f"{name} depth_multiplier", low=1)
    return rules


def _pool(name: str, rank: int) -> dict[str, Rule]:
    return {
        "pool_size": Rule("ints", f"{name} pool_size", low=1, rank=rank),
        "strides": Rule("ints", f"{name} strides", low=1, rank=rank),
        "padding": Rule("name", f"{name} padding", names=_PADDINGS),
        "data_format": Rule("name", f"{name} data_format", names=_DATA_FORMATS),
    }


def _rnn(name: str, *, recurrent_activation: bool = True) -> dict[str, Rule]:
    rules = {
        "units": Rule("int", f"{name} units", low=1),
        "activation": _activation(name),
        # Keras clips these into [0, 1]; anything outside is a typo worth a word.
        "dropout": Rule("number", f"{name} dropout", low=0, high=1),
        "recurrent_dropout": Rule("number", f"{name} recurrent_dropout", low=0, high=1),
    }
    if recurrent_activation:
        rules["recurrent_activation"] = Rule(
            "name", f"{name} recurrent_activation", names=ACTIVATIONS
        )
    return rules


_PADDINGS = frozenset({"valid", "same"})
_CAUSAL = frozenset({"causal"})
_DATA_FORMATS = frozenset({"channels_last", "channels_first"})


def _rate(name: str) -> dict[str, Rule]:
    # [0, 1): Keras accepts a rate of 1, which drops every value and trains nothing.
    return {"rate": Rule("number", f"{name} rate", low=0, high=1, high_open=True)}


def _with_aliases(rules: Mapping[str, dict[str, Rule]]) -> dict[str, dict[str, Rule]]:
    """Keras's other names for the same classes (Convolution2D, MaxPool2D, ...)."""
    out = dict(rules)
    for name, table in rules.items():
        for long, short in (
            ("Conv", "Convolution"),
            ("MaxPooling", "MaxPool"),
            ("AveragePooling", "AvgPool"),
            ("GlobalAveragePooling", "GlobalAvgPool"),
            ("GlobalMaxPooling", "GlobalMaxPool"),
            ("SeparableConv", "SeparableConvolution"),
        ):
            if re.match(rf"^{long}\d", name):
                alias = short + name[len(long) :]
                out[alias] = {
                    k: Rule(**{**vars(r), "what": r.what.replace(name, alias)})
                    for k, r in table.items()
                }
    return out


#: The argument rules of the common layers; other layers and arguments are left to
#: Keras. Keys are layer names, then argument names.
LAYER_RULES: dict[str, dict[str, Rule]] = _with_aliases(
    {
        "Dense": {"units": Rule("int", "Dense units", low=1), "activation": _activation("Dense")},
        "Activation": {"activation": _activation("Activation")},
        "Dropout": _rate("Dropout"),
        "SpatialDropout1D": _rate("SpatialDropout1D"),
        "SpatialDropout2D": _rate("SpatialDropout2D"),
        "SpatialDropout3D": _rate("SpatialDropout3D"),
        "GaussianDropout": _rate("GaussianDropout"),
        "AlphaDropout": _rate("AlphaDropout"),
        "GaussianNoise": {"stddev": Rule("number", "GaussianNoise stddev", low=0, high=1)},
        "Conv1D": _conv("Conv1D", 1, causal=True),
        "Conv2D": _conv("Conv2D", 2),
        "Conv3D": _conv("Conv3D", 3),
        "Conv1DTranspose": _conv("Conv1DTranspose", 1),
        "Conv2DTranspose": _conv("Conv2DTranspose", 2),
        "Conv3DTranspose": _conv("Conv3DTranspose", 3),
        "SeparableConv1D": _conv("SeparableConv1D", 1),
        "SeparableConv2D": _conv("SeparableConv2D", 2),
        "DepthwiseConv1D": _conv("DepthwiseConv1D", 1, filters=False),
        "DepthwiseConv2D": _conv("DepthwiseConv2D", 2, filters=False),
        "MaxPooling1D": _pool("MaxPooling1D", 1),
        "MaxPooling2D": _pool("MaxPooling2D", 2),
        "MaxPooling3D": _pool("MaxPooling3D", 3),
        "AveragePooling1D": _pool("AveragePooling1D", 1),
        "AveragePooling2D": _pool("AveragePooling2D", 2),
        "AveragePooling3D": _pool("AveragePooling3D", 3),
        "GlobalMaxPooling1D": {
            "data_format": Rule("name", "GlobalMaxPooling1D data_format", names=_DATA_FORMATS)
        },
        "GlobalMaxPooling2D": {
            "data_format": Rule("name", "GlobalMaxPooling2D data_format", names=_DATA_FORMATS)
        },
        "GlobalAveragePooling1D": {
            "data_format": Rule("name", "GlobalAveragePooling1D data_format", names=_DATA_FORMATS)
        },
        "GlobalAveragePooling2D": {
            "data_format": Rule("name", "GlobalAveragePooling2D data_format", names=_DATA_FORMATS)
        },
        "Flatten": {"data_format": Rule("name", "Flatten data_format", names=_DATA_FORMATS)},
        "Reshape": {"target_shape": Rule("shape", "Reshape target_shape")},
        "UpSampling1D": {"size": Rule("int", "UpSampling1D size", low=1)},
        "UpSampling2D": {"size": Rule("ints", "UpSampling2D size", low=1, rank=2)},
        "LSTM": _rnn("LSTM"),
        "GRU": _rnn("GRU"),
        "SimpleRNN": _rnn("SimpleRNN", recurrent_activation=False),
        "Embedding": {
            "input_dim": Rule("int", "Embedding input_dim", low=1),
            "output_dim": Rule("int", "Embedding output_dim", low=1),
        },
        "RepeatVector": {"n": Rule("int", "RepeatVector n", low=1)},
        "LeakyReLU": {"negative_slope": Rule("number", "LeakyReLU negative_slope", low=0)},
    }
)

#: The rules of ``[compile]`` and ``[fit]`` values, by key path.
SETTING_RULES: dict[str, Rule] = {
    "compile.optimizer": Rule("name", "compile optimizer", names=OPTIMIZERS, fold_case=True),
    "compile.loss": Rule("name", "compile loss", names=LOSSES),
    "compile.metrics": Rule("name", "compile metric", names=METRICS),
    "fit.batch_size": Rule("int", "batch_size", low=1),
    "fit.epochs": Rule("int", "epochs", low=1),
}


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_message(text: str) -> str:
    """Keras's error text for a person: without the terminal escape codes Keras puts
    around the inner message whatever the output is (``ESC[1m`` ... ``ESC[0m``), and
    without its ``Arguments received by ...`` listing (tensors, not the preset)."""
    text = _ANSI.sub("", text)
    head, sep, _ = text.partition("\nArguments received by ")
    return head.strip() if sep else text
