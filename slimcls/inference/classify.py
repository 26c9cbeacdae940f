"""Classifies image files with a trained checkpoint: top-k class names and probabilities.

Images are decoded and preprocessed exactly as eval sees them (``tf.io.decode_image`` to
the dataset's channel count, then the net's eval preprocessing), and the same decode +
preprocess functions run inside the exported SavedModel (``slimcls.inference.export``), so the
two give the same predictions. A file that cannot be read or decoded becomes an error
entry in the results; the other files are still classified.
"""

from __future__ import annotations

import glob
import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from slimcls.config import ClassifierConfig
from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.datasets import file_walk, image_codec
from slimcls.model import modeling, run_spec
from slimcls.model.run_spec import RunSpec
from slimcls.model.slim_model import SlimModel

#: Extensions picked up when a directory is given (files named explicitly are always tried).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
#: What :func:`decode_image` (and so the SavedModel's ``serving_default``) decodes:
#: ``tf.io.decode_image``'s formats (TIFF, ICO and PPM are refused).
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WebP")
_PNG_MAGIC = b"\x89PNG"
_JPEG_MAGIC = b"\xff\xd8\xff"


def decode_image(data: tf.Tensor, channels: int) -> tf.Tensor:
    """Decodes JPEG/PNG/GIF/BMP/WebP bytes to uint8 ``[H, W, channels]`` (first GIF frame).

    JPEG and PNG are decoded as the input pipeline decodes them; ``tf.io.decode_image``
    refuses one channel for the other formats, so those are decoded as RGB and converted.
    Works eagerly and in graphs (the SavedModel).
    """
    if channels == 3:
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
    else:
        head = tf.strings.substr(data, 0, 4)
        direct = tf.logical_or(
            tf.equal(head, _PNG_MAGIC), tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
        )
        image = tf.cond(
            direct,
            lambda: tf.io.decode_image(
                data, channels=channels, dtype=tf.uint8, expand_animations=False
            ),
            lambda: tf.image.rgb_to_grayscale(
                tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
            ),
        )
    image.set_shape([None, None, channels])
    return image


class Classifier:
    """A restored net with its preprocessing and class names.

    Attributes:
      model: the restored :class:`SlimModel`.
      names: class names, index = the net's class id.
      checkpoint: the resolved checkpoint prefix.
      labels_file: the labels file the names came from (None: ids only).
      plan: the resolved :class:`~slimcls.model.modeling.ModelPlan`.
      channels, image_shape: decoding channels, preprocessed shape.
      spec: the resolved :class:`~slimcls.model.run_spec.RunSpec`.
    """

    def __init__(self, config: ClassifierConfig | RunSpec) -> None:
        """Restores the net of ``config`` (resolved with :func:`~slimcls.model.run_spec.
        resolve_run`: the training run's settings fill what is not given), or of a
        :class:`RunSpec` already resolved (with its checkpoint)."""
        spec = config if isinstance(config, RunSpec) else run_spec.resolve_run(config)
        self.spec = spec
        self.checkpoint = spec.checkpoint
        self.labels_file = spec.labels_file
        self.plan = spec.plan
        self.num_classes = spec.num_classes
        self.channels = spec.channels
        self.labels_offset = spec.labels_offset
        self.names = spec.class_names
        self.preprocess = self.plan.preprocess_fn(is_training=False)
        self.image_shape = self.plan.image_shape
        #: Images above this many pixels are refused from their header (None: no limit).
        self.max_image_pixels: int | None = image_codec.DEFAULT_MAX_IMAGE_PIXELS
        #: Restored from the moving averages (asked for, or those of a published checkpoint).
        self.moving_averages = spec.moving_averages(self.checkpoint)
        self.model: SlimModel = modeling.load(self.plan, self.checkpoint, self.moving_averages)
        self._probabilities = tf.function(
            lambda images: tf.nn.softmax(
                tf.cast(self.model(images, training=False)[0], tf.float32), axis=-1
            ),
            input_signature=[tf.TensorSpec((None, *self.image_shape), tf.float32)],
        )

    def decode_and_preprocess(self, data: tf.Tensor) -> tf.Tensor:
        """Encoded image bytes -> the float32 image the net sees."""
        image = self.preprocess(decode_image(data, self.channels))
        return tf.ensure_shape(tf.cast(image, tf.float32), self.image_shape)

    def probabilities(self, images: np.ndarray | tf.Tensor) -> np.ndarray:
        """Softmax probabilities ``[N, num_classes]`` of preprocessed images."""
        return self._probabilities(tf.convert_to_tensor(images, tf.float32)).numpy()

    def top_k(self, probabilities: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The ``k`` most probable classes of one probability vector, best first."""
        order = np.argsort(-probabilities, kind="stable")[: max(1, k)]
        return [
            {
                "class": int(i),
                "label": int(i) + self.labels_offset,
                "name": self.names[i],
                "probability": float(probabilities[i]),
            }
            for i in order
        ]

    def classify_files(
        self,
        paths: Sequence[str],
        top_k: int = 5,
        batch_size: int = 32,
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Classifies files in batches; unreadable files give ``{"path", "error"}``.

        Returns:
          One dict per path, in order: ``{"path", "predictions": [{"class", "label",
          "name", "probability"}, ...]}`` or ``{"path", "error"}``.
        """
        if batch_size < 1:
            raise SlimclsError(f"--batch_size={batch_size} must be at least 1")
        if top_k < 1:
            raise SlimclsError(f"--top_k={top_k} must be at least 1")
        results: list[dict[str, Any]] = []
        pending: list[tuple[str, tf.Tensor]] = []

        def flush():
            if not pending:
                return
            probs = self.probabilities(tf.stack([image for _, image in pending]))
            for (path, _), p in zip(pending, probs):
                result = {"path": _shown(path), "predictions": self.top_k(p, top_k)}
                results.append(result)
                if on_result:
                    on_result(result)
            pending.clear()

        for path in paths:
            try:
                pending.append((path, self._load(path)))
            except SlimclsError as e:
                flush()  # keep results in input order
                result = {"path": _shown(path), "error": str(e)}
                results.append(result)
                if on_result:
                    on_result(result)
                continue
            if len(pending) >= batch_size:
                flush()
        flush()
        return results

    def _load(self, path: str) -> tf.Tensor:
        try:  # not a FIFO or device, at most max_file_bytes (file_walk.read_file)
            data = file_walk.read_file(path, file_walk.DEFAULT_MAX_FILE_BYTES)
        except (file_walk.TooLarge, file_walk.NotRegular) as e:
            raise SlimclsError(str(e)) from None
        except (tf.errors.OpError, OSError) as e:
            raise SlimclsError(f"cannot read: {_first_line(e)}") from None
        if not data:
            raise SlimclsError("empty file")
        _check_pixels(data, self.max_image_pixels)
        try:
            return self.decode_and_preprocess(tf.constant(data))
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
            raise SlimclsError(
                f"not a decodable {'/'.join(DECODABLE_FORMATS)} image ({_first_line(e)})"
            ) from None


def _check_pixels(data: bytes, max_pixels: int | None) -> None:
    """Refuses an image above ``max_pixels`` from its header, before anything is decoded
    (a 4.7 MB 20000x20000 JPEG would need 6.7 GB decoded)."""
    if max_pixels is None:
        return
    try:
        with Image.open(io.BytesIO(data)) as img:  # lazy: reads the header only
            width, height = img.size
    except Image.DecompressionBombError:  # PIL's own limit, far above ours: refuse as well
        raise SlimclsError(
            f"more than {2 * Image.MAX_IMAGE_PIXELS} pixels (PIL's decompression-bomb limit), "
            f"above the limit of {max_pixels} (--max_image_pixels); not decoded"
        ) from None
    except Exception:  # noqa: BLE001  (not an image PIL knows: TensorFlow's decoder decides)
        return
    if width * height > max_pixels:
        raise SlimclsError(
            f"{width}x{height} is {width * height} pixels, above the limit of {max_pixels} "
            "(--max_image_pixels); not decoded"
        )


def _shown(path: str) -> str:
    """The path as printed and written to JSON: non-UTF-8 bytes escaped as ``\\xNN``."""
    return file_walk.display_name(path) if "://" not in path else path


def _first_line(e: BaseException) -> str:
    text = getattr(e, "message", None) or str(e)
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else type(e).__name__
    if "}}" in line:  # "{{function_node ...}} Unknown image file format..."
        line = line.split("}}", 1)[1].strip() or line
    return re.sub(r"\s*\[Op:\w+\].*$", "", line)[:200]


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Files, directories (their image files, recursively, sorted) and globs -> paths.

    An input that names nothing is kept as a path, so it is reported as unreadable in
    its place. Directories are walked with ``datasets.file_walk``: symlinked directories
    once per real directory (no loops), one path per real file, FIFOs and devices left
    out (they are listed as errors in their place, never opened).
    """
    paths: list[str] = []
    for item in inputs:
        if tf.io.gfile.isdir(item):
            skipped: list[file_walk.Skipped] = []
            paths += file_walk.walk_files(
                item,
                keep_dir=lambda d: not d.startswith("."),
                keep_file=lambda f: f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."),
                skipped=skipped,
            )
            # Left-out special files stay visible: classify_files reports them (read_file
            # refuses them without blocking); duplicates and loops are simply not repeated.
            paths += [sk.path for sk in skipped if "counted once" not in sk.reason]
        elif glob.has_magic(item) and not tf.io.gfile.exists(item):
            matches = sorted(tf.io.gfile.glob(item))
            paths += [m for m in matches if not tf.io.gfile.isdir(m)] or [item]
        else:
            paths.append(item)
    return paths


def format_result(result: dict[str, Any]) -> str:
    """``path`` then one ``  97.15%  name`` line per prediction (TF-Slim tutorial style)."""
    if "error" in result:
        return f"{result['path']}: error: {result['error']}"
    lines = [result["path"]]
    for p in result["predictions"]:
        lines.append(f"  {100 * p['probability']:6.2f}%  {p['name']}  (class {p['class']})")
    return "\n".join(lines)
