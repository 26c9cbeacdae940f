"""TF-Slim's published ImageNet checkpoints: one record per archive, pure data.

Sources, read from tensorflow/models at 0d9ef8d39 (TF-Slim's last layout):

* ``research/slim/README.md``, "Pre-trained Models" (the main table);
* ``research/slim/nets/mobilenet_v1.md`` (all 16 float MobileNet V1 archives; the main
  README links there for the ones it does not list);
* ``research/slim/nets/mobilenet/README.md`` (MobileNet V2, V3, EdgeTPU);
* ``research/slim/nets/nasnet/README.md`` (NASNet-A, same archives as the main table).

Only nets slimcls registers (``nets/net_table.py``) have records; published archives
without a slimcls net are listed in :data:`WITHOUT_SLIMCLS_NET` with the reason.

The archives cannot be downloaded here, so each record says in a comment what its
``checkpoint`` (the file or prefix inside the archive) was derived from. Where the READMEs
do not name it, the name is the one the archive family uses elsewhere; slimcls's download
(:mod:`slimcls.model.pretrained`) still finds the checkpoint when an archive differs (a sole
checkpoint in it is used, and said so), and refuses an archive holding none or several.

This module imports nothing from TensorFlow: ``--help`` and ``checkpoints`` listings read
it cheaply.
"""

from __future__ import annotations

import dataclasses
import posixpath
import urllib.parse


@dataclasses.dataclass(frozen=True)
class PublishedCheckpoint:
    """One published checkpoint archive.

    Attributes:
      model_name: slimcls's ``--model_name`` of the net it restores.
      url: where TF-Slim's READMEs link the archive.
      checkpoint: the checkpoint inside the archive, relative to its root: a TF1 V1 file
        (``inception_v3.ckpt``, the 2016 archives) or a V2 bundle prefix
        (``mobilenet_v1_0.25_128.ckpt`` for ``.ckpt.index`` + ``.ckpt.data-*``).
      num_classes: outputs of its classifier: 1001 (class 0 is "background", then the
        1,000 ImageNet classes) or 1000 (VGG and ResNet V1, converted from Caffe).
      image_size: the input side the published accuracy was measured at.
      top1: published top-1 accuracy on ImageNet (percent).
      top5: published top-5 accuracy (percent); None where TF-Slim publishes none.
      head_scopes: the classifier's variable scopes, excluded when fine-tuning a new head
        (as TF-Slim's README's
        ``--checkpoint_exclude_scopes=InceptionV3/Logits,InceptionV3/AuxLogits``).
      moving_averages: the checkpoint holds ``<var>/ExponentialMovingAverage`` shadows of
        the weights (restores start from them, as TF-Slim's eval reads them). slimcls also
        checks the checkpoint itself: this field records what TF-Slim's documents show.
    """

    model_name: str
    url: str
    checkpoint: str
    num_classes: int
    image_size: int
    top1: float
    top5: float | None
    head_scopes: tuple[str, ...]
    moving_averages: bool = False

    @property
    def archive(self) -> str:
        """The archive's file name (what a mirror must hold)."""
        return posixpath.basename(urllib.parse.urlparse(self.url).path)

    @property
    def name(self) -> str:
        """A short unique name: the archive's file name without its extension."""
        for ext in (".tar.gz", ".tgz", ".tar"):
            if self.archive.endswith(ext):
                return self.archive[: -len(ext)]
        return self.archive


_TF = "http://download.tensorflow.org/models/"
_GCS = "https://storage.googleapis.com/download.tensorflow.org/models/"
_MNV1 = "http://download.tensorflow.org/models/mobilenet_v1_2018_08_02/"
_MNV2 = "https://storage.googleapis.com/mobilenet_v2/checkpoints/"
_MNV3 = "https://storage.googleapis.com/mobilenet_v3/checkpoints/"
# The mobilenet README links storage.cloud.google.com/mobilenet_edgetpu/..., a browser-only
# address (it asks for a Google sign-in); storage.googleapis.com serves the same public
# object to any HTTP client.
_EDGETPU = "https://storage.googleapis.com/mobilenet_edgetpu/checkpoints/"

_P = PublishedCheckpoint


def _mobilenet_v1(multiplier: str, size: int, top1: float, top5: float, url: str = _MNV1):
    # Layout: the README's example, "tar -xvf mobilenet_v1_1.0_224.tgz; mv
    # mobilenet_v1_1.0_224.ckpt.* ${CHECKPOINT_DIR}": a V2 bundle named after the archive,
    # at its root (mobilenet_v1.md: "The linked model tar files contain ... Trained model
    # checkpoints, Eval graph text protos, Frozen trained models, Info file, TF Lite").
    name = {"1.0": "mobilenet_v1", "0.75": "mobilenet_v1_075", "0.5": "mobilenet_v1_050",
            "0.25": "mobilenet_v1_025"}[multiplier]  # fmt: skip
    stem = f"mobilenet_v1_{multiplier}_{size}"
    return _P(name, f"{url}{stem}.tgz", f"{stem}.ckpt", 1001, size, top1, top5,
              ("MobilenetV1/Logits",))  # fmt: skip


def _mobilenet_v2(model_name: str, multiplier: str, size: int, top1: float, top5: float):
    # Layout: mobilenet_example.ipynb ("!tar -xvf {checkpoint_name}.tgz; checkpoint =
    # checkpoint_name + '.ckpt'"): a V2 bundle named after the archive, at its root. The
    # notebook restores it through ExponentialMovingAverage(0.999).variables_to_restore(),
    # so the bundle holds the weights' moving averages.
    stem = f"mobilenet_v2_{multiplier}_{size}"
    return _P(model_name, f"{_MNV2}{stem}.tgz", f"{stem}.ckpt", 1001, size, top1, top5,
              ("MobilenetV2/Logits",), moving_averages=True)  # fmt: skip


def _mobilenet_v3(model_name: str, stem: str, checkpoint: str, top1: float, scope: str,
                  base: str = _MNV3):  # fmt: skip
    # Layout: the mobilenet README gives none. V3 archives hold a folder named after the
    # archive with ema/ (the weights' moving averages saved under the variables' own names,
    # restored with a plain Saver) and pristine/ checkpoints; the ema bundles'
    # names (model-<step>) are those TensorNets' weight-translation script restores
    # (taehoonlee/tensornets, MobileNetv3 translation). EdgeTPU: mlcommons/mobile_open
    # keeps Google's archive content as mobilenet_edgetpu_224_1.0/model.{index,data-*}.
    # No top-5 is published for V3 or EdgeTPU.
    return _P(model_name, f"{base}{stem}.tgz", f"{stem}/{checkpoint}", 1001, 224, top1, None,
              (f"{scope}/Logits",))  # fmt: skip


#: Every published checkpoint slimcls has a net for, TF-Slim's README order; the first
#: record of a model is its default (``--checkpoint_path=imagenet``).
PUBLISHED: tuple[PublishedCheckpoint, ...] = (
    # --- research/slim/README.md. The 2016 archives: the README's example ("tar -xvf
    # inception_v3_2016_08_28.tar.gz; mv inception_v3.ckpt ${CHECKPOINT_DIR}") shows one TF1
    # V1 checkpoint file named after the net at the archive's root; the other 2016/2017
    # archives follow it. Inception and ResNet V2: 1001 classes; VGG and ResNet V1 (converted
    # from Caffe): 1000 ("The ResNet and VGG Models have 1000 classes"). Sizes: each net's
    # default; ResNet V2 at 299 (README: "ResNet V2 models use Inception pre-processing and
    # input image size of 299"). None holds moving averages (TF-Slim's eval reads them
    # without --moving_average_decay).
    _P("inception_v1", _TF + "inception_v1_2016_08_28.tar.gz", "inception_v1.ckpt",
       1001, 224, 69.8, 89.6, ("InceptionV1/Logits",)),
    _P("inception_v2", _TF + "inception_v2_2016_08_28.tar.gz", "inception_v2.ckpt",
       1001, 224, 73.9, 91.8, ("InceptionV2/Logits",)),
    _P("inception_v3", _TF + "inception_v3_2016_08_28.tar.gz", "inception_v3.ckpt",
       1001, 299, 78.0, 93.9, ("InceptionV3/Logits", "InceptionV3/AuxLogits")),
    _P("inception_v4", _TF + "inception_v4_2016_09_09.tar.gz", "inception_v4.ckpt",
       1001, 299, 80.2, 95.2, ("InceptionV4/Logits", "InceptionV4/AuxLogits")),
    # The one 2016 file named with its date (not stated in the README).
    _P("inception_resnet_v2", _TF + "inception_resnet_v2_2016_08_30.tar.gz",
       "inception_resnet_v2_2016_08_30.ckpt", 1001, 299, 80.4, 95.3,
       ("InceptionResnetV2/Logits", "InceptionResnetV2/AuxLogits")),
    _P("resnet_v1_50", _TF + "resnet_v1_50_2016_08_28.tar.gz", "resnet_v1_50.ckpt",
       1000, 224, 75.2, 92.2, ("resnet_v1_50/logits",)),
    _P("resnet_v1_101", _TF + "resnet_v1_101_2016_08_28.tar.gz", "resnet_v1_101.ckpt",
       1000, 224, 76.4, 92.9, ("resnet_v1_101/logits",)),
    _P("resnet_v1_152", _TF + "resnet_v1_152_2016_08_28.tar.gz", "resnet_v1_152.ckpt",
       1000, 224, 76.8, 93.2, ("resnet_v1_152/logits",)),
    _P("resnet_v2_50", _TF + "resnet_v2_50_2017_04_14.tar.gz", "resnet_v2_50.ckpt",
       1001, 299, 75.6, 92.8, ("resnet_v2_50/logits",)),
    _P("resnet_v2_101", _TF + "resnet_v2_101_2017_04_14.tar.gz", "resnet_v2_101.ckpt",
       1001, 299, 77.0, 93.7, ("resnet_v2_101/logits",)),
    _P("resnet_v2_152", _TF + "resnet_v2_152_2017_04_14.tar.gz", "resnet_v2_152.ckpt",
       1001, 299, 77.8, 94.1, ("resnet_v2_152/logits",)),
    _P("vgg_16", _TF + "vgg_16_2016_08_28.tar.gz", "vgg_16.ckpt",
       1000, 224, 71.5, 89.8, ("vgg_16/fc8",)),
    _P("vgg_19", _TF + "vgg_19_2016_08_28.tar.gz", "vgg_19.ckpt",
       1000, 224, 71.1, 89.8, ("vgg_19/fc8",)),
    # --- MobileNet V1: the main README's three (its 2018_02_22 release; the README shows
    # their layout), then mobilenet_v1.md's other thirteen float archives (2018_08_02).
    _mobilenet_v1("1.0", 224, 70.9, 89.9, url=_TF + "mobilenet_v1_2018_02_22/"),
    _mobilenet_v1("1.0", 192, 70.0, 89.2),
    _mobilenet_v1("1.0", 160, 68.0, 87.7),
    _mobilenet_v1("1.0", 128, 65.2, 85.8),
    _mobilenet_v1("0.75", 224, 68.4, 88.2),
    _mobilenet_v1("0.75", 192, 67.2, 87.3),
    _mobilenet_v1("0.75", 160, 65.3, 86.0),
    _mobilenet_v1("0.75", 128, 62.1, 83.9),
    _mobilenet_v1("0.5", 224, 63.3, 84.9),
    _mobilenet_v1("0.5", 192, 61.7, 83.6),
    _mobilenet_v1("0.5", 160, 59.1, 81.9, url=_TF + "mobilenet_v1_2018_02_22/"),
    _mobilenet_v1("0.5", 128, 56.3, 79.4),
    _mobilenet_v1("0.25", 224, 49.8, 74.2),
    _mobilenet_v1("0.25", 192, 47.7, 72.3),
    _mobilenet_v1("0.25", 160, 45.5, 70.3),
    _mobilenet_v1("0.25", 128, 41.5, 66.3, url=_TF + "mobilenet_v1_2018_02_22/"),
    # --- MobileNet V2 (nets/mobilenet/README.md's table; the main README quotes 74.9 for
    # 1.4_224 and 71.9 for 1.0_224, the mobilenet README 75.0 and 71.8: the latter kept).
    _mobilenet_v2("mobilenet_v2", "1.0", 224, 71.8, 91.0),
    _mobilenet_v2("mobilenet_v2", "1.0", 192, 70.7, 90.1),
    _mobilenet_v2("mobilenet_v2", "1.0", 160, 68.8, 89.0),
    _mobilenet_v2("mobilenet_v2", "1.0", 128, 65.3, 86.9),
    _mobilenet_v2("mobilenet_v2", "1.0", 96, 60.3, 83.2),
    _mobilenet_v2("mobilenet_v2_140", "1.4", 224, 75.0, 92.5),
    _mobilenet_v2("mobilenet_v2_035", "0.35", 224, 60.3, 82.9),
    _mobilenet_v2("mobilenet_v2_035", "0.35", 192, 58.2, 81.2),
    _mobilenet_v2("mobilenet_v2_035", "0.35", 160, 55.7, 79.1),
    _mobilenet_v2("mobilenet_v2_035", "0.35", 128, 50.8, 75.0),
    _mobilenet_v2("mobilenet_v2_035", "0.35", 96, 45.5, 70.4),
    # --- MobileNet V3 and EdgeTPU (nets/mobilenet/README.md), float, all at 224. The EdgeTPU
    # rows are labelled 8-bit: their README says the 8-bit models come from TF Lite's
    # post-training quantization, so the archives' checkpoints are float; the top-1 quoted
    # is the 8-bit model's.
    _mobilenet_v3("mobilenet_v3_large", "v3-large_224_1.0_float", "ema/model-540000", 75.2,
                  "MobilenetV3"),
    _mobilenet_v3("mobilenet_v3_small", "v3-small_224_1.0_float", "ema/model-388500", 67.5,
                  "MobilenetV3"),
    _mobilenet_v3("mobilenet_v3_large_minimalistic", "v3-large-minimalistic_224_1.0_float",
                  "ema/model-342500", 72.3, "MobilenetV3"),
    _mobilenet_v3("mobilenet_v3_small_minimalistic", "v3-small-minimalistic_224_1.0_float",
                  "ema/model-498000", 61.9, "MobilenetV3"),
    _mobilenet_v3("mobilenet_edgetpu", "mobilenet_edgetpu_224_1.0", "model", 75.6,
                  "MobilenetEdgeTPU", base=_EDGETPU),
    # Its archive's content is taken to follow the 1.0 one's.
    _mobilenet_v3("mobilenet_edgetpu_075", "mobilenet_edgetpu_224_0.75", "model", 73.5,
                  "MobilenetEdgeTPU", base=_EDGETPU),
    # --- NASNet-A and PNASNet-5 (main README; nasnet/README.md). Layout: nasnet/README.md
    # untars into CHECKPOINT_DIR and evaluates --checkpoint_path=${CHECKPOINT_DIR}/model.ckpt:
    # a V2 bundle "model.ckpt" at the root. PNASNet's archives (same authors, same release
    # process; no README of their own) are taken to be laid out alike.
    _P("nasnet_mobile", _GCS + "nasnet-a_mobile_04_10_2017.tar.gz", "model.ckpt",
       1001, 224, 74.0, 91.6, ("final_layer/FC", "aux_7/aux_logits/FC")),
    _P("nasnet_large", _GCS + "nasnet-a_large_04_10_2017.tar.gz", "model.ckpt",
       1001, 331, 82.7, 96.2, ("final_layer/FC", "aux_11/aux_logits/FC")),
    _P("pnasnet_large", _GCS + "pnasnet-5_large_2017_12_13.tar.gz", "model.ckpt",
       1001, 331, 82.9, 96.2, ("final_layer/FC", "aux_7/aux_logits/FC")),
    _P("pnasnet_mobile", _GCS + "pnasnet-5_mobile_2017_12_13.tar.gz", "model.ckpt",
       1001, 224, 74.2, 91.9, ("final_layer/FC", "aux_5/aux_logits/FC")),
)  # fmt: skip

#: Published archives no slimcls net restores, and why (net or variant not registered).
WITHOUT_SLIMCLS_NET: tuple[tuple[str, str], ...] = (
    ("ResNet V2 200", "main README: no archive ('TBA'), only the paper's accuracy"),
    ("MobileNet_v1_*_quant (16 archives)", "quantization-aware checkpoints (FakeQuant "
     "min/max variables); slimcls's mobilenet_v1 builds no quantization ops"),
    ("mobilenet_v2_1.3_224, mobilenet_v2_0.75_*, mobilenet_v2_0.5_*", "depth multipliers "
     "1.3, 0.75 and 0.5: slimcls registers mobilenet_v2 (1.0), _140 and _035 only"),
    ("quantized_v2_* (22 archives)", "quantization-aware MobileNet V2 checkpoints"),
    ("v3-large_224_0.75_float, v3-small_224_0.75_float", "depth multiplier 0.75 of "
     "MobileNet V3: slimcls registers multiplier 1.0 only"),
    ("v3-*_uint8 (3 archives)", "8-bit quantization-aware MobileNet V3 checkpoints"),
)  # fmt: skip


def published_for(model_name: str) -> tuple[PublishedCheckpoint, ...]:
    """The records of ``model_name``, its default first (empty when none)."""
    return tuple(p for p in PUBLISHED if p.model_name == model_name)


def default_for(model_name: str) -> PublishedCheckpoint | None:
    """The checkpoint ``--checkpoint_path=imagenet`` means for ``model_name``, or None."""
    found = published_for(model_name)
    return found[0] if found else None


def models_with_weights() -> list[str]:
    """The model names with published weights, in table order."""
    return list(dict.fromkeys(p.model_name for p in PUBLISHED))
