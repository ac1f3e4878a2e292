"""ImageFeaturizer with the real EfficientNet-Lite0 weights on real photos and screenshots."""

import io
import threading
from typing import Any, Dict, List


import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.constants import ATTACHMENT_ERRORS, IMAGE_FEATURES, IMAGE_TAGS
from components.image_featurizer import ImageFeaturizer
from components.media.errors import IMAGE_UNREADABLE, MESSAGES
from tests.image_utils import (
    attachment,
    encode,
    message_with_images,
    payment_error_screenshot,
    photo,
    photo_bytes,
)

FEATURE_DIM = 1280  # EfficientNet-Lite0's pooled features
CAT_LABELS = {"tabby", "tiger cat", "Egyptian cat"}
COFFEE_LABELS = {"espresso", "cup", "coffee mug"}


@pytest.fixture(scope="module", autouse=True)
def few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> LocalModelStorage:
    return LocalModelStorage(tmp_path_factory.mktemp("model_storage"))


def make(storage: LocalModelStorage, **config: Any) -> ImageFeaturizer:
    """Creates the component the way Rasa's graph does (defaults merged with the user's keys)."""
    return ImageFeaturizer.create(
        {**ImageFeaturizer.get_default_config(), **config},
        storage,
        Resource("image_featurizer"),
        ExecutionContext(GraphSchema({}), "test"),
    )


@pytest.fixture(scope="module")
def featurizer(storage: LocalModelStorage) -> ImageFeaturizer:
    return make(storage)


@pytest.fixture(scope="module")
def cat_jpeg() -> bytes:
    return photo_bytes("chelsea")


def image_feature(message: Message) -> np.ndarray:
    features = [f for f in message.features if f.origin == IMAGE_FEATURES]
    assert len(features) == 1
    assert features[0].type == FEATURE_TYPE_SENTENCE and features[0].attribute == TEXT
    return features[0].features


def featurize(featurizer: ImageFeaturizer, text: str, *images: bytes) -> Message:
    message = message_with_images(text, [attachment(data, f"img{i}.jpg") for i, data in enumerate(images)])
    featurizer.process([message])
    return message


def top_labels(message: Message, image_index: int = 0) -> List[str]:
    return [tag["label"] for tag in message.get(IMAGE_TAGS)[image_index]["tags"]]


def test_width_is_the_same_with_and_without_image_and_flag_marks_presence(
    featurizer: ImageFeaturizer, cat_jpeg: bytes
) -> None:
    with_image = image_feature(featurize(featurizer, "my parcel arrived like this", cat_jpeg))
    without = image_feature(featurize(featurizer, "where is my parcel"))

    assert with_image.shape == without.shape == (1, FEATURE_DIM + 1)
    assert with_image[0, -1] == 1.0 and without[0, -1] == 0.0
    assert not without.any()
    assert np.abs(with_image[0, :-1]).sum() > 0
    # l2_normalize (default): the image part has unit length, the flag stays 1.
    assert np.linalg.norm(with_image[0, :-1]) == pytest.approx(1.0, abs=1e-4)


def test_same_image_gives_identical_vector_and_other_images_differ(
    featurizer: ImageFeaturizer, cat_jpeg: bytes
) -> None:
    first = image_feature(featurize(featurizer, "first", cat_jpeg))
    second = image_feature(featurize(featurizer, "second", cat_jpeg))
    coffee = image_feature(featurize(featurizer, "third", photo_bytes("coffee")))

    assert np.array_equal(first, second)
    cosine = float(first[0, :-1] @ coffee[0, :-1])
    assert cosine < 0.9


@pytest.mark.parametrize(
    "name, expected", [("chelsea", CAT_LABELS), ("coffee", COFFEE_LABELS)]
)
def test_top5_image_tags_name_what_is_in_the_photo(
    featurizer: ImageFeaturizer, name: str, expected: set
) -> None:
    data = photo_bytes(name)
    message = featurize(featurizer, "look", data)

    tags = message.get(IMAGE_TAGS)
    assert len(tags) == 1 and tags[0]["source"] == "img0.jpg"
    assert len(tags[0]["tags"]) == 5
    assert expected & set(top_labels(message))
    scores = [tag["score"] for tag in tags[0]["tags"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    assert "image_tags" in message.as_dict(only_output_properties=True)


def test_message_without_image_has_no_tags(featurizer: ImageFeaturizer) -> None:
    assert featurize(featurizer, "hello").get(IMAGE_TAGS) is None


def test_several_images_are_mean_pooled(storage: LocalModelStorage) -> None:
    raw = make(storage, l2_normalize=False)
    cat, coffee = photo_bytes("chelsea"), photo_bytes("coffee")
    v_cat = image_feature(featurize(raw, "a", cat))
    v_coffee = image_feature(featurize(raw, "b", coffee))
    both = featurize(raw, "c", cat, coffee)

    np.testing.assert_allclose(
        image_feature(both)[0, :-1], (v_cat[0, :-1] + v_coffee[0, :-1]) / 2, atol=1e-4
    )
    assert image_feature(both)[0, -1] == 1.0
    assert [t["sha256"] for t in both.get(IMAGE_TAGS)] == [
        attachment(cat).sha256,
        attachment(coffee).sha256,
    ]
    assert CAT_LABELS & set(top_labels(both, 0)) and COFFEE_LABELS & set(top_labels(both, 1))


def test_exif_orientation_is_applied(featurizer: ImageFeaturizer) -> None:
    upright = photo("chelsea")
    # Stored lying on its side with EXIF orientation 6 ("rotate 90 degrees clockwise to view"),
    # as phones save portrait photos.
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    v_upright = image_feature(featurize(featurizer, "a", encode(upright, "JPEG", quality=95)))
    v_tagged = image_feature(
        featurize(featurizer, "b", encode(sideways, "JPEG", quality=95, exif=exif.tobytes()))
    )
    v_untagged = image_feature(featurize(featurizer, "c", encode(sideways, "JPEG", quality=95)))

    tagged_cos = float(v_upright[0, :-1] @ v_tagged[0, :-1])
    assert tagged_cos > 0.98
    assert tagged_cos > float(v_upright[0, :-1] @ v_untagged[0, :-1]) + 0.02


def test_corrupt_image_is_reported_and_treated_as_absent(
    featurizer: ImageFeaturizer, cat_jpeg: bytes
) -> None:
    earlier = {"source": "https://x/y.png", "code": "download_failed", "message": "timeout"}
    only_bad = message_with_images("see", [attachment(b"\x89PNG\r\n\x1a\nbroken", "broken.png")])
    only_bad.set(ATTACHMENT_ERRORS, [earlier], add_to_output=True)
    mixed = message_with_images(
        "see", [attachment(cat_jpeg[: len(cat_jpeg) // 3], "cut.jpg"), attachment(cat_jpeg, "ok.jpg")]
    )

    featurizer.process([only_bad, mixed])

    assert image_feature(only_bad)[0, -1] == 0.0 and not image_feature(only_bad).any()
    errors = only_bad.get(ATTACHMENT_ERRORS)
    assert errors[0] == earlier
    assert errors[1]["source"] == "broken.png" and errors[1]["code"] == IMAGE_UNREADABLE
    # the catalogue's words for the customer; Pillow's exception text goes to the log only
    assert errors[1]["message"] == MESSAGES[IMAGE_UNREADABLE].format(what="photo")
    # The truncated JPEG either decodes partially or is reported; the good image always counts.
    assert image_feature(mixed)[0, -1] == 1.0
    assert [t["source"] for t in mixed.get(IMAGE_TAGS)][-1] == "ok.jpg"
    assert all(e["source"] == "cut.jpg" for e in mixed.get(ATTACHMENT_ERRORS) or [])


def test_training_data_in_batches_equals_one_by_one(storage: LocalModelStorage) -> None:
    cat, coffee, rocket = photo_bytes("chelsea"), photo_bytes("coffee"), photo_bytes("rocket")
    screenshot = encode(payment_error_screenshot())

    def examples() -> List[Message]:
        messages = [
            message_with_images("my cat toy arrived instead of the mug", [attachment(cat)]),
            message_with_images("hi there"),
            message_with_images("wrong item", [attachment(coffee), attachment(rocket)]),
            message_with_images("payment failed", [attachment(screenshot)]),
            message_with_images("what is this", [attachment(rocket)]),
            message_with_images(None),  # an intent-only lookup message: no text, no image
        ]
        messages[-1].set("intent", "greet")
        return messages

    batched = examples()
    make(storage, batch_size=2).process_training_data(TrainingData(training_examples=batched))
    single = examples()
    one_by_one = make(storage, batch_size=1)
    for message in single:
        one_by_one.process([message])

    for a, b in zip(batched[:-1], single[:-1]):
        np.testing.assert_allclose(image_feature(a), image_feature(b), atol=1e-5)
        assert (a.get(IMAGE_TAGS) is None) == (b.get(IMAGE_TAGS) is None)
    assert batched[-1].features == [] and single[-1].features == []


def test_concurrent_calls_from_two_threads_agree(featurizer: ImageFeaturizer, cat_jpeg: bytes) -> None:
    expected = image_feature(featurize(featurizer, "reference", cat_jpeg))
    results: Dict[int, np.ndarray] = {}
    failures: List[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = image_feature(featurize(featurizer, f"thread {i}", cat_jpeg))
        except BaseException as exc:  # a thread's exception would otherwise vanish with it
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert sorted(results) == [0, 1]
    for vector in results.values():
        np.testing.assert_allclose(vector, expected, atol=1e-5)



def test_not_trainable_and_load_gives_the_same_features(
    storage: LocalModelStorage, featurizer: ImageFeaturizer, cat_jpeg: bytes
) -> None:
    registered = DefaultV1Recipe._from_registry("ImageFeaturizer")
    assert registered.is_trainable is False
    assert DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER in registered.types

    loaded = ImageFeaturizer.load(
        ImageFeaturizer.get_default_config(),
        storage,
        Resource("image_featurizer"),
        ExecutionContext(GraphSchema({}), "test"),
    )
    np.testing.assert_array_equal(
        image_feature(featurize(loaded, "x", cat_jpeg)),
        image_feature(featurize(featurizer, "x", cat_jpeg)),
    )


def test_torchvision_architecture_with_a_local_weights_file(
    storage: LocalModelStorage, tmp_path: Any, cat_jpeg: bytes
) -> None:
    torch.manual_seed(7)
    reference = torchvision.models.resnet18(weights=None).eval()
    weights = tmp_path / "resnet18-random.pth"
    torch.save(reference.state_dict(), weights)

    resnet = make(storage, backbone="resnet18", weights_path=str(weights), l2_normalize=False)
    message = featurize(resnet, "x", cat_jpeg)

    vector = image_feature(message)
    assert vector.shape == (1, 512 + 1) and vector[0, -1] == 1.0
    # The features are those of exactly these weights with torchvision's ResNet18 preprocessing.
    preprocess = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    reference.fc = torch.nn.Identity()
    with torch.inference_mode():
        expected = reference(preprocess(Image.open(io.BytesIO(cat_jpeg)).convert("RGB"))[None])
    np.testing.assert_allclose(vector[0, :-1], expected[0].numpy(), rtol=1e-4, atol=1e-4)
    assert len(message.get(IMAGE_TAGS)[0]["tags"]) == 5  # ImageNet head: 1000 named classes


def test_unknown_backbone_is_a_clear_config_error(storage: LocalModelStorage) -> None:
    with pytest.raises(InvalidConfigException, match=r"unknown `backbone` 'resnet_999'"):
        make(storage, backbone="resnet-999")


def test_missing_weights_file_names_the_key_and_path(storage: LocalModelStorage, tmp_path: Any) -> None:
    missing = tmp_path / "nowhere" / "resnet18.pth"
    with pytest.raises(InvalidConfigException) as error:
        make(storage, backbone="resnet18", weights_path=str(missing))
    assert "`weights_path`" in str(error.value) and str(missing) in str(error.value)
    assert "does not exist" in str(error.value)

    with pytest.raises(InvalidConfigException, match=r"backbone 'resnet18' needs `weights_path`"):
        make(storage, backbone="resnet18")


def test_weights_of_another_architecture_are_refused(storage: LocalModelStorage, tmp_path: Any) -> None:
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    with pytest.raises(InvalidConfigException, match=r"does not fit backbone 'resnet34'"):
        make(storage, backbone="resnet34", weights_path=str(weights))

    not_weights = tmp_path / "notes.pth"
    not_weights.write_text("these are not weights")
    with pytest.raises(InvalidConfigException, match=r"cannot read `weights_path`"):
        make(storage, backbone="resnet18", weights_path=str(not_weights))


@pytest.mark.parametrize(
    "config, key",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"top_k": -1}, "top_k"),
        ({"mean": [0.5, 0.5]}, "mean"),
        ({"std": [0.5, 0.0, 0.5]}, "std"),
        ({"image_size": 8}, "image_size"),
        ({"min_tag_score": 2}, "min_tag_score"),
    ],
)
def test_bad_config_values_are_rejected(
    storage: LocalModelStorage, config: Dict[str, Any], key: str
) -> None:
    with pytest.raises(InvalidConfigException, match=f"`{key}`"):
        make(storage, **config)


def test_new_weights_at_the_same_path_change_the_training_fingerprint(tmp_path: Any) -> None:
    weights = tmp_path / "resnet18.pth"
    config = {"backbone": "resnet18", "weights_path": str(weights)}
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    before = ImageFeaturizer.fingerprint_addon(config)
    torch.manual_seed(2)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)

    assert before and ImageFeaturizer.fingerprint_addon(config) != before
    assert ImageFeaturizer.fingerprint_addon({}) == ImageFeaturizer.fingerprint_addon({})
