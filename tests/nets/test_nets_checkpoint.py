"""Checkpoints written by TF-Slim variable name restore into the nets with no mapping, in a
TF1 graph (tf.compat.v1.train.Saver) and through the TF2 wrapper, with the same logits."""

import pytest

from slimcls.core.compat import tf
from slimcls.nets import nets_factory
from tests.nets.net_checks import check_checkpoint_restores
from tests.nets.tfslim_variables import CIFARNET_VARIABLES, inception_v3_variables


def test_cifarnet_checkpoint(tmp_path):
    check_checkpoint_restores(tmp_path, "cifarnet", 10, 32, CIFARNET_VARIABLES)


@pytest.mark.heavy
def test_inception_v3_checkpoint_at_75(tmp_path):
    shapes = inception_v3_variables(7)
    # At 75x75, Mixed_6e is 3x3: the auxiliary head's 5x5 conv shrinks to 1x1 (name too).
    del shapes["InceptionV3/AuxLogits/Conv2d_2a_5x5/weights"]
    shapes["InceptionV3/AuxLogits/Conv2d_2a_1x1/weights"] = [1, 1, 128, 768]
    for stat in ("beta", "moving_mean", "moving_variance"):
        old = f"InceptionV3/AuxLogits/Conv2d_2a_5x5/BatchNorm/{stat}"
        shapes[old.replace("5x5", "1x1")] = shapes.pop(old)
    check_checkpoint_restores(tmp_path, "inception_v3", 7, 75, shapes)


@pytest.mark.slow
def test_inception_v3_published_layout_checkpoint_at_299(tmp_path):
    """The layout of TF-Slim's inception_v3.ckpt: 1001 classes at 299x299."""
    check_checkpoint_restores(tmp_path, "inception_v3", 1001, 299, inception_v3_variables(1001))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet_v1_50", "resnet_v2_50", "inception_v2"])
def test_other_tf_slim_nets_checkpoint(tmp_path, name):
    graph = tf.Graph()
    with graph.as_default():
        nets_factory.get_network_fn(name, 5)(tf.compat.v1.placeholder(tf.float32, [1, 64, 64, 3]))
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    check_checkpoint_restores(tmp_path, name, 5, 64, shapes)
