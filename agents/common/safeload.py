"""Loading model files without running code from them (docs/evaluation.md, "Model files from elsewhere").

A Stable-Baselines3 ``.zip`` holds ``data`` (JSON; some of its fields are cloudpickled objects, base64-encoded under
a ``":serialized:"`` key), the weights (``policy.pth``, ``policy.optimizer.pth``, ``pytorch_variables.pth``: torch
pickles) and two text files (SB3's ``save_util.data_to_json`` / ``load_from_zip_file``). SB3's ``load`` unpickles
every serialized field with cloudpickle, and a pickle can call any importable function: a downloaded model file
can run code the moment it is opened. Same for ``vecnormalize.pkl`` (``VecNormalize.save`` is a plain pickle).

Here nothing is unpickled with the full unpickler:

- every serialized field of ``data`` goes through :class:`RestrictedUnpickler`, whose ``find_class`` hands out only
  the classes and functions of :data:`ALLOWED_GLOBALS` (SB3 / sb3-contrib policies, buffers and schedules, this
  package's policies, gymnasium spaces, numpy's array, dtype and generator constructors, torch activations and
  optimizers, plain containers); the decoded fields reach SB3's ``load`` as ``custom_objects``, so SB3 never
  unpickles anything itself. Fields that only hold the state of an interrupted rollout (:data:`DISPOSABLE_FIELDS`:
  the last observation, the episode-info window) are dropped when they need anything else: SB3 rebuilds them
  (the env is reset before training continues).
- every ``.pth`` entry is first read with ``torch.load(weights_only=True)`` (torch's own restricted unpickler for
  tensors and plain containers), so the weights SB3 then reads are known to hold no code;
- ``vecnormalize.pkl`` goes through the same restricted unpickler (its statistics are numpy arrays).

A file that needs anything else is refused with :class:`UntrustedFileError`, one line naming the field and the
global it asks for and how to load it anyway (``--trust-model`` on the command lines, ``trust=True`` in Python):
the user decides to trust a file, the loader never does so silently.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["ALLOWED_GLOBALS", "DISPOSABLE_FIELDS", "TRUST_HINT", "RestrictedUnpickler", "UntrustedFileError",
           "check_weights", "decode_model_data", "load_vecnormalize", "restricted_loads"]

#: What a refusal tells the user to do when they trust the file.
TRUST_HINT = ("load it only if you trust its source: --trust-model (train.py, evaluate.py) or trust=True "
              "(agents.make_policy / agents.load)")

_ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "SiLU", "GELU", "Sigmoid", "Softplus", "Mish", "Identity")
_NUMPY_CORE = {"_reconstruct", "scalar", "_frombuffer"}

#: module -> names the restricted unpickler may hand out. Each is a class whose construction and ``__setstate__``
#: only store data, or a constructor of plain data (numpy's pickling helpers, as torch's weights-only unpickler
#: allows them); none reaches ``eval``, ``getattr``, ``os`` or an importer.
ALLOWED_GLOBALS: dict[str, frozenset[str]] = {module: frozenset(names) for module, names in {
    "builtins": {"set", "frozenset", "tuple", "list", "dict", "slice", "complex", "float", "int", "bool", "bytes",
                 "bytearray", "str", "object", "range"},
    "copyreg": {"_reconstructor"},
    "collections": {"OrderedDict", "deque"},
    # numpy arrays, scalars, dtypes and generators (numpy 2 names, then numpy 1's)
    "numpy": {"dtype", "ndarray"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy.dtypes": {f"{k}DType" for k in ("Float16", "Float32", "Float64", "Int8", "Int16", "Int32", "Int64",
                                            "UInt8", "UInt16", "UInt32", "UInt64", "Bool")},
    "numpy.random._pickle": {"__bit_generator_ctor", "__generator_ctor", "__randomstate_ctor"},
    "numpy.random._pcg64": {"PCG64", "PCG64DXSM"},
    "numpy.random._mt19937": {"MT19937"},
    "numpy.random._philox": {"Philox"},
    "numpy.random._sfc64": {"SFC64"},
    "numpy.random._generator": {"Generator"},
    "numpy.random.mtrand": {"RandomState"},
    "numpy.random.bit_generator": {"SeedSequence", "__pyx_unpickle_SeedSequence"},
    # gymnasium spaces
    "gymnasium.spaces.box": {"Box"},
    "gymnasium.spaces.discrete": {"Discrete"},
    "gymnasium.spaces.multi_discrete": {"MultiDiscrete"},
    "gymnasium.spaces.multi_binary": {"MultiBinary"},
    "gymnasium.spaces.dict": {"Dict"},
    "gymnasium.spaces.tuple": {"Tuple"},
    # Stable-Baselines3 and sb3-contrib: policies, buffers, schedules, feature extractors, normalisation
    "stable_baselines3.common.policies": {"ActorCriticPolicy", "ActorCriticCnnPolicy", "MultiInputActorCriticPolicy"},
    "stable_baselines3.dqn.policies": {"DQNPolicy", "MlpPolicy", "CnnPolicy", "MultiInputPolicy"},
    "sb3_contrib.common.maskable.policies": {"MaskableActorCriticPolicy", "MaskableActorCriticCnnPolicy",
                                             "MaskableMultiInputActorCriticPolicy"},
    "stable_baselines3.common.buffers": {"RolloutBuffer", "DictRolloutBuffer", "ReplayBuffer", "DictReplayBuffer"},
    "sb3_contrib.common.maskable.buffers": {"MaskableRolloutBuffer", "MaskableDictRolloutBuffer"},
    "stable_baselines3.common.utils": {"ConstantSchedule", "FloatSchedule", "LinearSchedule"},
    "stable_baselines3.common.type_aliases": {"TrainFreq", "TrainFrequencyUnit"},
    "stable_baselines3.common.torch_layers": {"CombinedExtractor", "FlattenExtractor", "NatureCNN"},
    "stable_baselines3.common.running_mean_std": {"RunningMeanStd"},
    "stable_baselines3.common.vec_env.vec_normalize": {"VecNormalize"},
    # this package's policies (agents.acting.rl.PACKAGE_POLICIES): files saved since the subpackages name them by
    # their module, older ones (models/*.zip) by its flat-layout path (agents/_old_paths.py)
    "agents.acting.policies": {"RowScoringPolicy", "RowFeaturesExtractor"},
    "agents.policies": {"RowScoringPolicy", "RowFeaturesExtractor"},
    # torch classes named in policy_kwargs
    "torch.nn.modules.activation": set(_ACTIVATIONS) - {"Identity"},
    "torch.nn.modules.linear": {"Identity"},
    "torch.optim.adam": {"Adam"},
    "torch.optim.adamw": {"AdamW"},
    "torch.optim.rmsprop": {"RMSprop"},
    "torch.optim.sgd": {"SGD"},
}.items()}

#: Fields of a model's ``data`` that only carry the state of the last rollout: dropped (SB3 rebuilds them) when they
#: cannot be decoded safely; any other field that cannot be is a refusal.
DISPOSABLE_FIELDS = frozenset({"_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer",
                               "ep_success_buffer", "env", "_vec_normalize_env"})


class UntrustedFileError(ValueError):
    """A model or statistics file needs code (or a class off the allow-list) to be read."""


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of :data:`ALLOWED_GLOBALS` (anything else raises before it is
    imported), and no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        if name in ALLOWED_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise _Refused(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; ``_Refused`` for a global off the allow-list."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def decode_model_data(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Decode every serialized field of a model's ``data`` json safely.

    Returns ``(custom_objects, dropped)``: the decoded fields by name (for SB3's ``load(custom_objects=...)``, which
    then unpickles nothing) and the disposable fields that were set to None. Raises :class:`UntrustedFileError`
    for a field that needs a global off the allow-list, ValueError for one that is not a valid pickle.
    """
    custom: dict[str, Any] = {}
    dropped: list[str] = []
    for key, item in data.items():
        if not (isinstance(item, dict) and ":serialized:" in item):
            continue
        try:
            raw = base64.b64decode(str(item[":serialized:"]).encode(), validate=False)
            custom[key] = restricted_loads(raw)
        except _Refused as refused:
            if key in DISPOSABLE_FIELDS:
                custom[key] = None
                dropped.append(key)
                continue
            raise UntrustedFileError(f"model {path}: its field {key!r} needs {refused.what}, which safe loading does "
                                     f"not allow (it could run code); {TRUST_HINT}") from None
        except (pickle.UnpicklingError, binascii.Error, EOFError, ValueError, TypeError, AttributeError,
                IndexError, KeyError, ImportError) as exc:
            if key in DISPOSABLE_FIELDS:
                custom[key] = None
                dropped.append(key)
                continue
            raise ValueError(f"model {path}: its field {key!r} cannot be read: {_first_line(exc)}") from None
    return custom, dropped


def check_weights(path: Path, archive: zipfile.ZipFile) -> None:
    """Read every ``.pth`` entry with ``torch.load(weights_only=True)``: UntrustedFileError for one that needs
    more than tensors and plain containers (SB3 then reads the same bytes)."""
    import torch

    for name in archive.namelist():
        if not name.endswith(".pth"):
            continue
        try:
            torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            detail = _first_line(exc)
            # torch's message: "Weights only load failed. ... Unsupported global: GLOBAL os.system ..."
            marker = "Unsupported global: GLOBAL "
            if marker in str(exc):
                detail = "global " + str(exc).split(marker, 1)[1].split()[0]
            raise UntrustedFileError(f"model {path}: its weights {name!r} need more than tensors ({detail}); "
                                     f"{TRUST_HINT}") from None
        except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, KeyError) as exc:
            raise ValueError(f"model {path}: its weights {name!r} cannot be read: {_first_line(exc)}") from None


def open_model_archive(path: Path) -> dict[str, Any]:
    """Safe-load preparation of a model zip: check the weights and decode ``data``; return SB3 ``custom_objects``."""
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("data").decode("utf-8"))
        check_weights(path, archive)
    custom, _ = decode_model_data(path, data)
    return custom


def load_vecnormalize(path: str | Path, venv: Any = None, trust: bool = False) -> Any:
    """A saved ``VecNormalize`` (``vecnormalize.pkl``), read with the restricted unpickler unless ``trust``.

    With ``venv`` it is attached (as ``VecNormalize.load`` does). Raises :class:`UntrustedFileError` for a file
    that needs anything but the statistics' classes and arrays, ValueError for one that is not a VecNormalize.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    path = Path(path)
    if trust:
        with open(path, "rb") as fh:
            norm = pickle.load(fh)  # noqa: S301 - the user vouched for this file (--trust-model / trust=True)
    else:
        try:
            norm = restricted_loads(path.read_bytes())
        except _Refused as refused:
            raise UntrustedFileError(f"normalisation statistics {path}: need {refused.what}, which safe loading "
                                     f"does not allow (it could run code); {TRUST_HINT}") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                ImportError) as exc:
            raise ValueError(f"normalisation statistics {path} cannot be read: {_first_line(exc)}") from None
    if not isinstance(norm, VecNormalize):
        raise ValueError(f"normalisation statistics {path}: not a saved VecNormalize ({type(norm).__name__})")
    if venv is not None:
        norm.set_venv(venv)
    return norm
