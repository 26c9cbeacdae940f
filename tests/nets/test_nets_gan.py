"""slimcls's own DCGAN, CycleGAN and pix2pix nets (TF-Slim's GAN generators/discriminators).

Golden numbers are TF-Slim's: a scratch script (outside this repository) loaded
``research/slim/nets/{dcgan,cyclegan,pix2pix}.py`` of tensorflow/models at 0d9ef8d39 by
file path on TensorFlow 2.21 (``slimcls.core.compat`` first, eager execution disabled),
built each net in a TF1 graph and compared it with slimcls's: the same variable names and
shapes, end-point names and collections, and outputs and end points equal to the last bit
(max |diff| 0) with the same random weights loaded into both (DCGAN in training and
evaluation mode; CycleGAN with all three upsampling methods; pix2pix with both, and with
its always-on dropout under the same graph seed).
"""

import functools
import importlib

import numpy as np
import pytest
import tf_slim as slim

from slimcls.core.compat import tf
from slimcls.nets import cyclegan, dcgan, nets_factory, pix2pix
from tests.nets.net_checks import variables_digest


def _build(fn, shape):
    """``(output, end_points, {var name: shape}, trainable elements)`` in a new graph."""
    graph = tf.Graph()
    with graph.as_default():
        inputs = tf.compat.v1.placeholder(tf.float32, shape)
        out, end_points = fn(inputs)
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}
        trainable = sum(int(np.prod(v.shape.as_list())) for v in tf.compat.v1.trainable_variables())
    return out, end_points, shapes, trainable


def _in_scope(scope_fn, fn, **kwargs):
    def build(inputs):
        with slim.arg_scope(scope_fn()):
            return fn(inputs, **kwargs)

    return build


# name -> (builder, input shape, TF-Slim's (all elements, trainable, sha256[:16] of the
# sorted "name:shape" lines), output shape, end points).
GOLDEN = {
    "dcgan_generator": (
        dcgan.generator,
        [2, 64],
        (3280646, 3277955, "6a62944ae5d62f70"),
        [2, 32, 32, 3],
        ["deconv1", "deconv2", "deconv3", "deconv4", "logits"],
    ),
    "dcgan_generator_eval": (
        functools.partial(dcgan.generator, is_training=False),
        [2, 64],
        (3279747, 3277955, "87e9b762d5747f32"),
        [2, 32, 32, 3],
        ["deconv1", "deconv2", "deconv3", "deconv4", "logits"],
    ),
    "dcgan_discriminator": (
        dcgan.discriminator,
        [2, 32, 32, 3],
        (11152965, 11147201, "ed59501c5f97e78c"),
        [2, 1],
        ["conv1", "conv2", "conv3", "conv4", "conv5", "logits"],
    ),
    "cyclegan_generator": (
        cyclegan.cyclegan_generator_resnet,
        [1, 32, 32, 3],
        (7841219, 7841219, "4c095e9644bf5a3b"),
        [1, 32, 32, 3],
        ["encoder_0", "encoder_1", "encoder_2", "decoder1", "decoder2", "logits", "predictions"]
        + [f"resnet_block_{i}" for i in range(6)],
    ),
    "pix2pix_generator": (
        _in_scope(pix2pix.pix2pix_arg_scope, pix2pix.pix2pix_generator, num_outputs=3),
        [1, 128, 128, 3],
        (48839875, 48839875, "7f3c8a1885a8f26e"),
        [1, 128, 128, 3],
        [f"{part}{i}" for part in ("encoder", "decoder") for i in range(7)]
        + ["logits", "predictions"],
    ),
    "pix2pix_discriminator": (
        _in_scope(
            pix2pix.pix2pix_arg_scope,
            pix2pix.pix2pix_discriminator,
            num_filters=[64, 128, 256, 512],
        ),
        [1, 64, 64, 3],
        (2765633, 2765633, "6011f5aea9bb1f64"),
        [1, 11, 11, 1],
        ["conv0", "conv1", "conv2", "conv3", "logits", "predictions"],
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_variables_shapes_and_end_points(name):
    fn, shape, golden, out_shape, end_point_names = GOLDEN[name]
    out, end_points, shapes, trainable = _build(fn, shape)
    total = sum(int(np.prod(s)) for s in shapes.values())
    assert (total, trainable, variables_digest(shapes)) == golden
    assert out.shape.as_list() == out_shape
    assert sorted(end_points) == sorted(end_point_names)


def test_not_classifiers_so_not_registered_but_importable_by_tf_slim_names():
    assert not {"dcgan", "cyclegan", "pix2pix"} & set(nets_factory.NETWORKS)
    for name in ("dcgan", "cyclegan", "pix2pix"):
        assert importlib.import_module(f"nets.{name}") is importlib.import_module(
            f"slimcls.nets.{name}"
        )


@pytest.mark.parametrize("final_size", [8, 16, 64])
def test_dcgan_generator_sizes_and_depths(final_size):
    image, end_points, shapes, _ = _build(
        functools.partial(dcgan.generator, depth=8, final_size=final_size, num_outputs=1),
        [3, 10],
    )
    assert image.shape.as_list() == [3, final_size, final_size, 1]
    num_deconvs = int(np.log2(final_size)) - 1
    for i in range(1, num_deconvs + 1):
        side = 4 * 2 ** (i - 1)
        depth = 8 if i == num_deconvs else 8 * 2 ** (num_deconvs - i)
        assert end_points[f"deconv{i}"].shape.as_list() == [3, side, side, depth]
    assert shapes["Generator/deconv1/weights"] == [4, 4, 8 * 2 ** (num_deconvs - 1), 10]
    assert f"Generator/deconv{num_deconvs}/BatchNorm/beta" not in shapes  # linear last layer


@pytest.mark.parametrize("side", [1, 4, 16])
def test_dcgan_discriminator_any_power_of_two(side):
    logits, end_points, shapes, _ = _build(
        functools.partial(dcgan.discriminator, depth=4), [2, side, side, 1]
    )
    assert logits.shape.as_list() == [2, 1]
    assert len(end_points) == int(np.log2(side)) + 1
    assert "Discriminator/Conv/weights" in shapes  # TF-Slim's unnamed logits layer
    assert "Discriminator/conv1/BatchNorm/beta" not in shapes


@pytest.mark.parametrize(
    "fn,shape,message",
    [
        (dcgan.discriminator, [2, 32, 16, 3], "not have equal width and height"),
        (dcgan.discriminator, [2, 24, 24, 3], "not a power of 2"),
        (dcgan.discriminator, [2, 32, 32], "rank"),
        (functools.partial(dcgan.generator, final_size=24), [2, 8], "must be a power of 2"),
        (functools.partial(dcgan.generator, final_size=4), [2, 8], "must be greater than 8"),
        (dcgan.generator, [2, 8, 1], "rank"),
        (cyclegan.cyclegan_generator_resnet, [1, 30, 32, 3], "height must be a multiple of 4"),
        (cyclegan.cyclegan_generator_resnet, [1, 32, 30, 3], "width must be a multiple of 4"),
    ],
)
def test_invalid_inputs_raise_value_error(fn, shape, message):
    with pytest.raises(ValueError, match=message):
        _build(fn, shape)


def test_dcgan_generator_eval_is_deterministic_and_train_updates_statistics():
    graph = tf.Graph()
    with graph.as_default():
        noise = tf.random.stateless_normal([4, 16], seed=[1, 2])
        train, _ = dcgan.generator(noise, depth=4, final_size=8)
        evaluated, _ = dcgan.generator(noise, depth=4, final_size=8, is_training=False, reuse=True)
        updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            first, second = sess.run(evaluated), sess.run(evaluated)
            batch_stats = sess.run(train)
    np.testing.assert_array_equal(first, second)
    assert updates  # the moving statistics' update ops, as slim.batch_norm adds them
    assert not np.allclose(first, batch_stats)  # batch vs moving statistics


@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ([2, 32, 32, 3], {}),
        ([2, 16, 40, 1], {"kernel_size": 4}),
        ([1, 12, 12, 3], {"kernel_size": [3, 5], "num_resnet_blocks": 1}),
        ([None, 32, None, 3], {}),
        ([1, 16, 16, 3], {"upsample_fn": "nn_upsample_conv"}),
        ([1, 16, 16, 3], {"upsample_fn": "bilinear_upsample_conv"}),
    ],
)
def test_cyclegan_output_has_input_shape(shape, kwargs):
    if "upsample_fn" in kwargs:
        kwargs["upsample_fn"] = functools.partial(
            cyclegan.cyclegan_upsample, method=kwargs["upsample_fn"]
        )
    kwargs.setdefault("num_filters", 8)
    out, end_points, _, _ = _build(
        functools.partial(cyclegan.cyclegan_generator_resnet, **kwargs), shape
    )
    assert out.shape.as_list() == shape
    quarter = [n // 4 if n else None for n in shape[1:3]]
    assert end_points["encoder_2"].shape.as_list()[1:3] == quarter


def test_cyclegan_predictions_and_residual_arithmetic():
    graph = tf.Graph()
    with graph.as_default():
        images = tf.random.stateless_uniform([1, 16, 16, 3], seed=[7, 8], minval=-1, maxval=1)
        out, end_points = cyclegan.cyclegan_generator_resnet(
            images, num_filters=4, num_resnet_blocks=2, tanh_linear_slope=0.25
        )
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            out, ep = sess.run((out, end_points))
    np.testing.assert_allclose(out, np.tanh(ep["logits"]) + 0.25 * ep["logits"], rtol=1e-5)
    assert np.std(ep["resnet_block_1"] - ep["resnet_block_0"]) > 0  # the block adds something


def test_cyclegan_unknown_upsample_method():
    with pytest.raises(ValueError, match="Unknown method"):
        _build(
            functools.partial(
                cyclegan.cyclegan_generator_resnet,
                upsample_fn=functools.partial(cyclegan.cyclegan_upsample, method="nope"),
            ),
            [1, 8, 8, 3],
        )


def _small_blocks(keep=True):
    return [
        pix2pix.Block(b.num_filters // 32, b.decoder_keep_prob if keep else 0)
        for b in pix2pix._default_generator_blocks()
    ]


@pytest.mark.parametrize("method", ["nn_upsample_conv", "conv2d_transpose"])
def test_pix2pix_generator_shapes(method):
    out, end_points, shapes, _ = _build(
        _in_scope(
            pix2pix.pix2pix_arg_scope,
            pix2pix.pix2pix_generator,
            num_outputs=4,
            blocks=_small_blocks(),
            upsample_method=method,
        ),
        [2, 128, 128, 3],
    )
    assert out.shape.as_list() == [2, 128, 128, 4]
    assert end_points["encoder6"].shape.as_list() == [2, 1, 1, 16]
    # decoder i upsamples (after concatenating the skip connection) to its level's side.
    for i, block in enumerate(reversed(_small_blocks())):
        side = 2 ** (i + 1)
        assert end_points[f"decoder{i}"].shape.as_list() == [2, side, side, block.num_filters]
    # The second decoder layer reads decoder0 (16) + encoder5 (16) channels, writes 16.
    if method == "conv2d_transpose":  # kernels are [h, w, out, in]
        assert shapes["decoder/Conv2d_transpose_1/weights"] == [4, 4, 16, 32]
    else:
        assert shapes["decoder/Conv_1/weights"] == [4, 4, 32, 16]


def test_pix2pix_generator_unknown_batch_and_block_count():
    blocks = [pix2pix.Block(4, 0.5), pix2pix.Block(8, 0)]
    out, end_points, _, _ = _build(
        functools.partial(pix2pix.pix2pix_generator, num_outputs=2, blocks=blocks),
        [None, 16, 16, 3],
    )
    assert out.shape.as_list() == [None, 16, 16, 2]
    expected = ["decoder0", "decoder1", "encoder0", "encoder1", "logits", "predictions"]
    assert sorted(end_points) == expected


def test_pix2pix_decoder_dropout_stays_on():
    """TF-Slim's decoder dropout is applied at inference too (the paper's noise source)."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.ones([1, 16, 16, 3])
        with slim.arg_scope(pix2pix.pix2pix_arg_scope()):
            out, _ = pix2pix.pix2pix_generator(
                images, 2, blocks=[pix2pix.Block(4, 0.5), pix2pix.Block(8, 0)]
            )
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            first, second = sess.run(out), sess.run(out)
    assert not np.allclose(first, second)


# Each 4x4 convolution maps n to (n + 2 padding - 4) // stride + 1; strides 2, 2, 2, 1, 1.
@pytest.mark.parametrize("padding,size,side", [(2, 64, 11), (0, 128, 8), (1, 64, 6)])
def test_pix2pix_discriminator_patch_map(padding, size, side):
    logits, end_points, _, _ = _build(
        _in_scope(
            pix2pix.pix2pix_arg_scope,
            pix2pix.pix2pix_discriminator,
            num_filters=[8, 16, 32, 64],
            padding=padding,
        ),
        [2, size, size, 3],
    )
    assert logits.shape.as_list() == [2, side, side, 1]
    assert end_points["predictions"].shape.as_list() == [2, side, side, 1]


@pytest.mark.parametrize("padding,error", [(1.5, TypeError), (-1, ValueError)])
def test_pix2pix_discriminator_rejects_bad_padding(padding, error):
    with pytest.raises(error, match="padding"):
        _build(
            functools.partial(pix2pix.pix2pix_discriminator, num_filters=[4, 8], padding=padding),
            [1, 32, 32, 3],
        )
