"""classify: files, directories and globs -> top-k names; unreadable files reported."""

import io

import numpy as np
import pytest
from PIL import Image

from slimcls import config as cfg
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.inference import classify as cl
from tests.helpers import (
    CLASS_NAMES,
    MODEL,
    SIZE,
    classifier_config,
    images_and_labels,
    logits_of,
    make_trained_run,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    dataset_dir, model = make_trained_run(root, step=5, splits={"test": 3}, ema=lambda v: v * 0.5)
    images, _ = images_and_labels(5, seed=7)
    folder = root / "images"
    (folder / "nested").mkdir(parents=True)
    paths = []
    for i, (image, fmt) in enumerate(zip(images, ["PNG", "JPEG", "GIF", "BMP", "PNG"])):
        sub = folder / "nested" if i == 4 else folder
        path = sub / f"img{i}.{fmt.lower()}"
        Image.fromarray(image).save(path, format=fmt)
        paths.append(str(path))
    (folder / "broken.png").write_bytes(b"\x89PNG this is not really a png")
    (folder / "notes.txt").write_text("not an image, skipped in directories")
    config = classifier_config(root, dataset_dir)
    return {
        "root": root,
        "model": model,
        "images": images,
        "paths": paths,
        "folder": folder,
        "config": config,
        "classifier": cl.Classifier(config),
    }


def _decoded(path):
    with Image.open(path) as im:
        if im.format == "JPEG":  # lossy: decoders differ slightly; eval decodes with TF
            with open(path, "rb") as f:
                return tf.io.decode_jpeg(f.read(), channels=3).numpy()
        return np.asarray(im.convert("RGB"))


def test_probabilities_match_the_model_on_decoded_files(setup):
    classifier = setup["classifier"]
    results = classifier.classify_files(setup["paths"], top_k=3, batch_size=2)
    assert [r["path"] for r in results] == setup["paths"]
    decoded = np.stack([_decoded(p) for p in setup["paths"]])
    logits = logits_of(setup["model"], decoded)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    for result, p in zip(results, probs):
        preds = result["predictions"]
        assert len(preds) == 3
        assert [x["class"] for x in preds] == list(np.argsort(-p)[:3])
        assert preds[0]["name"] == CLASS_NAMES[preds[0]["class"]]
        np.testing.assert_allclose(
            [x["probability"] for x in preds], np.sort(p)[::-1][:3], rtol=1e-5, atol=1e-6
        )


def test_directories_globs_and_an_unreadable_file(setup):
    folder = setup["folder"]
    paths = cl.expand_inputs([str(folder), str(folder / "*.bmp"), str(folder / "missing.png")])
    assert paths[-2:] == [str(folder / "img3.bmp"), str(folder / "missing.png")]
    assert str(folder / "nested" / "img4.png") in paths
    assert not any(p.endswith(".txt") for p in paths)
    results = setup["classifier"].classify_files(paths, top_k=1, batch_size=4)
    assert [r["path"] for r in results] == paths
    errors = {r["path"]: r["error"] for r in results if "error" in r}
    assert set(errors) == {str(folder / "broken.png"), str(folder / "missing.png")}
    assert "decodable" in errors[str(folder / "broken.png")]
    assert all("\n" not in e for e in errors.values())
    assert sum("predictions" in r for r in results) == len(paths) - 2
    text = cl.format_result(results[-1])
    assert text.startswith(str(folder / "missing.png")) and "error" in text


def test_grayscale_datasets_decode_every_format(setup, tmp_path):
    image = setup["images"][0]
    for fmt in ("PNG", "JPEG", "GIF", "BMP"):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt)
        decoded = cl.decode_image(buf.getvalue(), channels=1)
        assert decoded.shape == (SIZE, SIZE, 1) and decoded.dtype.name == "uint8"


def test_moving_averages_and_labels_without_dataset(setup, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{i}:name{i}\n" for i in range(len(CLASS_NAMES))))
    config = cfg.ClassifierConfig(
        checkpoint_path=setup["config"].checkpoint_path,
        model_name=MODEL,
        labels_file=str(labels),
        eval_image_size=SIZE,
        moving_average_decay=0.9999,
    )
    classifier = cl.Classifier(config)
    assert classifier.num_classes == len(CLASS_NAMES)  # read from the checkpoint
    weights = classifier.model.variables_by_name()["SmallCNN/logits/biases"].numpy()
    original = setup["model"].variables_by_name()["SmallCNN/logits/biases"].numpy()
    np.testing.assert_allclose(weights, original * 0.5)
    result = classifier.classify_files(setup["paths"][:1], top_k=2)[0]
    assert result["predictions"][0]["name"].startswith("name")


def test_bad_checkpoint_is_a_clear_error(setup, tmp_path):
    config = cfg.ClassifierConfig(checkpoint_path=str(tmp_path), model_name=MODEL)
    with pytest.raises(SlimclsError, match="without checkpoints"):
        cl.Classifier(config)


def _png_header(width, height):
    """A PNG whose IHDR claims ``width`` x ``height`` (no pixel data worth decoding)."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"x") + chunk(b"IEND", b"")


def test_pixel_limit_is_checked_from_the_header_before_decoding(setup, tmp_path):
    big, bomb = tmp_path / "big.png", tmp_path / "bomb.png"
    big.write_bytes(_png_header(8000, 8000))  # 67 bytes that would decode to 192 MB
    bomb.write_bytes(_png_header(20000, 20000))  # 1.2 GB: beyond PIL's own bomb limit too
    classifier = setup["classifier"]
    assert classifier.max_image_pixels == 50_000_000
    results = classifier.classify_files([str(big), str(bomb)])
    assert "8000x8000 is 64000000 pixels, above the limit of 50000000" in results[0]["error"]
    assert "above the limit of 50000000" in results[1]["error"]
    small = setup["paths"][0]
    classifier.max_image_pixels = 10  # an ordinary image above a tiny limit: same error
    try:
        (result,) = classifier.classify_files([small])
        assert "above the limit of 10" in result["error"]
    finally:
        classifier.max_image_pixels = 50_000_000
