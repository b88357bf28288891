"""The parameter docs the classifiers share, spliced into each class docstring.

:class:`~dcemets.models.CLSTMClassifier`, :class:`~dcemets.models.MapCNNClassifier` and
:class:`~dcemets.models.CurveGRUClassifier` take the same training parameters.  Their
numpydoc entries are written once, in :data:`TRAINING_PARAMETERS`; :func:`shared_docs` puts
those of a class's ``__init__`` where its docstring says ``{training_parameters}`` (at the
end of its Parameters section, in signature order, each ``{default}`` the signature's
default), and :data:`REPRODUCIBILITY` where it says ``{reproducibility}`` (in Notes).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

_T = TypeVar("_T", bound=type)

TRAINING_PARAMETERS = """\
epochs : int
    Training epochs ({default}): passes over the (augmented) training set.
batch_size : int
    Mini-batch size ({default}).
lr : float
    Adam learning rate ({default}; the paper's networks use 1e-3), constant unless `lr_schedule`.
weight_decay : float
    Decoupled weight decay (AdamW, Loshchilov & Hutter 2019; {default}); 0 is plain Adam.
lr_schedule : {None, "cosine"}
    None: constant `lr`; ``"cosine"``: cosine annealing from `lr` to 0 over all the
    training steps, one step per mini-batch.  Default {default}.
augment : int
    Augmentation multiplicity: per epoch every sample is shown once as is and
    ``augment - 1`` times under an independent :class:`RandomAffine` transform, on the fly,
    in training only.  20 is the paper's 20x; 1 disables augmentation.  Default {default}.
affine : dict, optional
    Arguments of :class:`RandomAffine` (degrees, translate, scale, shear); its
    `multiplicity` is not used here (`augment` sets it).
early_stopping : bool
    Hold out `validation_fraction` of the training data (by patient if `groups` is given
    to :meth:`fit`), stop after `patience` epochs without a lower validation loss and
    keep the best weights.  Default {default}.
validation_fraction : float
    Fraction held out for early stopping ({default}).
patience : int
    Epochs without improvement before stopping ({default}).
device : {"auto", "cpu", "cuda"} or "cuda:N"
    ``"auto"`` uses CUDA when available.
amp : bool
    Mixed precision (float16 autocast with gradient scaling) -- on CUDA only; CPU
    training is float32 regardless.
max_grad_norm : float or None
    Clip the gradient to this global L2 norm before each step ({default}; None: no clipping).
random_state : int, numpy Generator/RandomState or None
    Seeds weight initialisation, shuffling, dropout and augmentation.  The same seed,
    number of torch threads and device give a bit-identical model; across thread counts
    the models differ by float rounding (see Notes).
progress : bool
    Show a tqdm bar over epochs.
"""
"""The shared numpydoc Parameters entries; ``{default}`` is filled from each signature."""

REPRODUCIBILITY = """\
**Reproducibility.**  With the same `random_state`, the same data, the same number of
torch threads (:func:`torch.get_num_threads`), the same device and the same
torch/oneDNN/MKL build, training is bit-for-bit repeatable on the CPU.  Across thread
counts it is not: oneDNN's convolution weight gradients, MKL's GEMMs and ATen's parallel
reductions split their sums by thread, so float32 rounding differs.  After one epoch on
small inputs the probabilities differ by ~1e-9 (MapCNN) to ~3e-7 (CLSTMNet, 12 frames at
16 x 16) between 1 and 2 threads; the differences grow with training length.
``torch.use_deterministic_algorithms(True)``, disabling oneDNN and
``MKL_CBWR=COMPATIBLE,STRICT`` were measured and do not remove them for CLSTMNet.  To
reproduce a model exactly, fix the thread count (``torch.set_num_threads``).  On CUDA,
cuDNN may choose non-deterministic kernels (see PyTorch's "Reproducibility" notes); the
repeatability above is tested on the CPU only.
"""
"""The Notes paragraph on bit-for-bit repeatability of CLSTMClassifier and MapCNNClassifier."""

_ENTRIES = {
    m.group(1): m.group(0)
    for m in re.finditer(r"^(\w+) : .*\n(?:    .*\n)*", TRAINING_PARAMETERS, re.MULTILINE)
}


def _indent(text: str, pad: str) -> str:
    return "".join(pad + ln if ln.strip() else ln for ln in text.splitlines(keepends=True))


def _default(value: Any) -> str:
    if isinstance(value, str):
        return f'``"{value}"``'
    return f"{value:g}" if isinstance(value, float) else str(value)


def _entry(name: str, default: Any, text: str | None, extra: str | None) -> str:
    head, body = _ENTRIES[name].split("\n", 1)
    if text is not None:
        body = text
    body = body.replace("{default}", _default(default))
    if default is None:  # "(None; None: no clipping)" reads "(None: no clipping)"
        body = body.replace("(None; None:", "(None:")
    if extra is not None:
        body += extra
    return f"{head}\n{body}"


def shared_docs(
    *, text: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> Callable[[_T], _T]:
    """Class decorator: splice the shared entries into the class docstring.

    Parameters
    ----------
    text : mapping, optional
        Parameter name -> this class's own description (lines indented by 4, newline-ended),
        replacing the shared one.
    extra : mapping, optional
        Parameter name -> lines (indented by 4, newline-ended) appended to the shared one.
    """

    def decorate(cls: _T) -> _T:
        own, more = dict(text or {}), dict(extra or {})
        params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
        entries = [
            _entry(n, p.default, own.pop(n, None), more.pop(n, None))
            for n, p in params.items()
            if n in _ENTRIES
        ]
        doc = cls.__doc__ or ""
        at = re.search(r"^( *)\{training_parameters\}\n", doc, re.MULTILINE)
        if own or more or at is None:
            raise ValueError(
                f"{cls.__name__}: no {{training_parameters}} line, or unknown names {own | more}"
            )
        pad = at.group(1)  # the docstring's indentation (Python 3.13 strips it at compile time)
        doc = doc.replace(f"{pad}{{training_parameters}}\n", _indent("".join(entries), pad))
        cls.__doc__ = doc.replace(f"{pad}{{reproducibility}}\n", _indent(REPRODUCIBILITY, pad))
        return cls

    return decorate
