"""The one way a speechbrain model is opened: from a LOCAL folder, never from a hub.

The transcriber (an ASR interface) and the speech featurizer (an encoder) both name a folder that
holds ``hyperparams.yaml`` and its checkpoints, and an interface class; the same checks and the
same offline fetch settings apply to both.
"""

import importlib
from pathlib import Path
from typing import Any, Optional


class SpeechBrainModelError(ValueError):
    """A configured speechbrain folder or interface class cannot be used."""


def check_model_folder(source: Optional[str], hparams_file: str = "hyperparams.yaml") -> Path:
    """The folder as a resolved path; raises when it is not a local speechbrain model folder."""
    folder = Path(source).expanduser() if source else None
    if folder is None or not (folder / hparams_file).is_file():
        raise SpeechBrainModelError(
            f"{str(source)!r} is not a local speechbrain model folder (no {hparams_file} in it); "
            f"models are never downloaded."
        )
    return folder.resolve()


def resolve_interface(name: str, method: str) -> Any:
    """``EncoderDecoderASR`` (looked up in ``speechbrain.inference``) or ``package.module.Class``,
    checked to have ``method`` (``transcribe_batch`` for ASR, ``encode_batch`` for encoders)."""
    if "." in name:
        module, _, class_name = name.rpartition(".")
        cls = getattr(importlib.import_module(module), class_name, None)
    else:
        import speechbrain.inference as sbi

        cls = getattr(sbi, name, None)
    if cls is None:
        raise SpeechBrainModelError(f"speechbrain has no interface class '{name}'.")
    if not hasattr(cls, method):
        raise SpeechBrainModelError(f"speechbrain interface '{name}' has no {method}().")
    return cls


def load_local_model(
    source: str,
    interface: str,
    method: str,
    hparams_file: str = "hyperparams.yaml",
    savedir: Optional[str] = None,
) -> Any:
    """The interface loaded from ``source`` on the CPU, in eval mode, with the network off."""
    from speechbrain.utils.fetching import FetchConfig, LocalStrategy

    folder = check_model_folder(source, hparams_file)
    cls = resolve_interface(interface, method)
    model = cls.from_hparams(
        source=str(folder),
        hparams_file=hparams_file,
        savedir=savedir,
        local_strategy=LocalStrategy.NO_LINK if savedir is None else LocalStrategy.COPY,
        fetch_config=FetchConfig(allow_network=False),
        run_opts={"device": "cpu"},
    )
    model.eval()
    return model
