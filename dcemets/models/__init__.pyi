from ._budget import TRAINING_PRESETS, TrainingBudget
from .augment import RandomAffine
from .convlstm import ConvLSTM, ConvLSTMCell, dropout
from .curve import CurveGRUClassifier
from .data import MAP_NAMES, SliceDataset, slice_dataset, to_tensor
from .estimators import CLSTMClassifier, MapCNNClassifier
from .nets import CLSTMNet, MapCNN

__all__ = [
    "MAP_NAMES",
    "TRAINING_PRESETS",
    "CLSTMClassifier",
    "CLSTMNet",
    "ConvLSTM",
    "ConvLSTMCell",
    "CurveGRUClassifier",
    "MapCNN",
    "MapCNNClassifier",
    "RandomAffine",
    "SliceDataset",
    "TrainingBudget",
    "dropout",
    "slice_dataset",
    "to_tensor",
]
