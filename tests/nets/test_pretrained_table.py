"""The published-checkpoint table agrees with the net registry and with itself."""

import pytest

from slimcls.nets import nets_factory, published


def test_every_record_names_a_registered_image_net():
    for record in published.PUBLISHED:
        spec = nets_factory.image_spec(record.model_name)  # raises for unknown / video
        assert record.image_size >= spec.min_image_size, record


def test_head_scopes_are_the_nets_classifier_scopes():
    for record in published.PUBLISHED:
        spec = nets_factory.get_spec(record.model_name)
        assert record.head_scopes == spec.logits_scopes, record.name


def test_classes_follow_the_background_class():
    # 1001 with background (Inception, ResNet V2, MobileNets, NASNet), 1000 for VGG and
    # ResNet V1 (converted from Caffe).
    for record in published.PUBLISHED:
        background = nets_factory.get_spec(record.model_name).background_class
        assert record.num_classes == (1001 if background else 1000), record.name


def test_names_and_archives_are_unique():
    names = [r.name for r in published.PUBLISHED]
    assert len(names) == len(set(names))
    assert len({r.url for r in published.PUBLISHED}) == len(names)


def test_records_are_well_formed():
    for record in published.PUBLISHED:
        assert record.url.startswith(("http://", "https://")), record
        assert record.archive.endswith((".tgz", ".tar.gz")), record
        assert record.checkpoint and not record.checkpoint.startswith("/"), record
        assert ".." not in record.checkpoint.split("/"), record
        assert 0 < record.top1 < 100 and (record.top5 is None or record.top1 < record.top5 < 100)


def test_default_is_the_net_default_size_except_resnet_v2():
    for model in published.models_with_weights():
        default = published.default_for(model)
        size = nets_factory.get_spec(model).default_image_size
        if model.startswith("resnet_v2_"):
            assert default.image_size == 299  # README: ResNet V2 evaluated at 299
        else:
            assert default.image_size == size, model


@pytest.mark.parametrize(
    "model,checkpoint",
    [
        ("inception_v3", "inception_v3.ckpt"),  # the README's own example
        ("mobilenet_v1", "mobilenet_v1_1.0_224.ckpt"),
        ("nasnet_mobile", "model.ckpt"),
        ("mobilenet_v3_large", "v3-large_224_1.0_float/ema/model-540000"),
    ],
)
def test_known_layouts(model, checkpoint):
    assert published.default_for(model).checkpoint == checkpoint


def test_nets_without_weights_have_no_record():
    assert published.default_for("cifarnet") is None
    assert published.published_for("lenet") == ()
    assert "cifarnet" not in published.models_with_weights()


@pytest.mark.slow  # builds every published net twice, at full size
@pytest.mark.parametrize("model", published.models_with_weights())
def test_verification_graph_has_the_restored_models_variables(model):
    """What a published checkpoint is checked against (a TF1 graph of the net) is exactly what
    slimcls's model restores (its eager variables), names and shapes, at the published size
    (auxiliary heads' kernels follow the input size)."""
    from slimcls.model import modeling, pretrained

    record = published.default_for(model)
    graph = pretrained.net_variables(model, record.num_classes, record.image_size)
    eager = modeling.create_model(model, record.num_classes)
    eager.build_variables((record.image_size, record.image_size, 3))
    assert {n: shape for n, (shape, _) in graph.items()} == {
        n: v.shape.as_list() for n, v in eager.variables_by_name().items()
    }
