"""Every registered method's contract, and the properties that pin each method's definition."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

import harness  # noqa: F401
from harness import augment
from harness.augment.saliencymix import spectral_residual_saliency
from harness.models.regularizers import ShakeDrop

K = 10
BUILTIN = [name for name in augment.available() if not name.startswith("test_")]
FEATURE_LEVEL = {"manifold_mixup", "feature_cutmix"}


def distinct_batch(b: int = 6, size: int = 32):
    """Image i is the constant i + 1 and has label i: every pixel and every target tells its source."""
    images = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 3, size, size).clone()
    return images, torch.arange(b)


def build(name: str, **params):
    aug = augment.build(name, num_classes=K, **params)
    if name in FEATURE_LEVEL:
        aug.attach(timm.create_model("pyramidnet_tiny", num_classes=K))
    return aug


@pytest.mark.parametrize("name", BUILTIN)
def test_contract_for_every_method(name):
    images, labels = torch.randn(5, 3, 32, 32), torch.tensor([0, 3, 3, 7, 9])
    aug = build(name, seed=1, label_smoothing=0.1)
    out, targets = aug(images.clone(), labels)
    assert out.shape == images.shape and out.device == images.device
    assert targets.shape == (5, K)
    torch.testing.assert_close(targets.sum(1), torch.ones(5))
    again = build(name, seed=1, label_smoothing=0.1)(images.clone(), labels)
    torch.testing.assert_close(again, (out, targets), rtol=0, atol=0)
    one = build(name, seed=2)(images[:1].clone(), labels[:1])
    torch.testing.assert_close(one[1].sum(1), torch.ones(1))


@pytest.mark.parametrize("name", BUILTIN)
def test_probability_zero_is_identity(name):
    images, labels = torch.randn(4, 3, 32, 32), torch.arange(4)
    out, targets = build(name, prob=0.0, seed=0)(images.clone(), labels)
    torch.testing.assert_close(out, images, rtol=0, atol=0)
    torch.testing.assert_close(targets, torch.nn.functional.one_hot(labels, K).float())


def own_fraction(out, images):
    return (out == images).all(dim=1).float().mean(dim=(1, 2))


def test_fixed_size_cutmix_keeps_exactly_75_percent():
    aug = build("cutmix_fixed_size", size=16, seed=0)
    for _ in range(10):
        images, labels = distinct_batch(6)
        out, targets = aug(images.clone(), labels)
        moved = targets[torch.arange(6), labels] < 1
        torch.testing.assert_close(own_fraction(out, images)[moved], torch.full((int(moved.sum()),), 0.75))
        torch.testing.assert_close(targets[moved].max(1).values, torch.full((int(moved.sum()),), 0.75))


def test_one_hot_cutmix_targets_are_one_hot_of_the_larger_part():
    aug = build("cutmix_one_hot", seed=3, mode="sample")
    images, labels = distinct_batch(8)
    out, targets = aug(images.clone(), labels)
    assert ((targets == 0) | (targets == 1)).all()
    kept = own_fraction(out, images)
    assert torch.equal(targets[torch.arange(8), labels] == 1, kept >= 0.5)


def test_complete_label_cutmix_targets_are_half_half():
    aug = build("cutmix_complete_label", seed=4)
    images, labels = distinct_batch(8)
    _, targets = aug(images.clone(), labels)
    mixed = targets[torch.arange(8), labels] < 1
    assert mixed.any()
    assert (targets[mixed].sort(dim=1, descending=True).values[:, :2] == 0.5).all()


def test_center_gaussian_cutmix_centres_concentrate_at_the_centre():
    aug = build("cutmix_center_gaussian", sigma=0.1, seed=0)
    cy, cx = aug.draw_centres(20000, 100, 100, None, None)
    assert abs(cy.float().mean() - 50) < 0.5 and abs(cx.float().std() - 10) < 0.5
    uniform = build("cutmix", seed=0).draw_centres(20000, 100, 100, None, None)[0].float()
    assert uniform.std() > 25


def test_scheduled_cutmix_follows_training_progress():
    aug = build("cutmix_scheduled", seed=0)
    images, labels = distinct_batch(6)
    aug.set_progress(0.0)
    out, _ = aug(images.clone(), labels)
    assert torch.equal(out, images)
    aug.set_progress(1.0)
    applied = sum(not torch.equal(aug(images.clone(), labels)[0], images) for _ in range(20))
    assert applied >= 18  # a permutation can map every image to itself only rarely


def test_fmix_mask_fraction_equals_the_target_weight():
    aug = build("fmix", seed=5)
    for _ in range(5):
        images, labels = distinct_batch(6)
        out, targets = aug(images.clone(), labels)
        own = own_fraction(out, images)
        moved = targets[torch.arange(6), labels] < 1
        torch.testing.assert_close(targets[torch.arange(6), labels][moved], own[moved])


def test_resizemix_target_weight_equals_the_pasted_area():
    aug = build("resizemix", seed=6)
    for _ in range(5):
        images, labels = distinct_batch(6)
        out, targets = aug(images.clone(), labels)
        moved = targets[torch.arange(6), labels] < 1
        torch.testing.assert_close(targets[torch.arange(6), labels][moved], own_fraction(out, images)[moved])


def test_saliency_finds_the_salient_object_and_saliencymix_centres_on_it():
    torch.manual_seed(0)
    image = torch.randn(1, 3, 64, 64) * 0.1
    image[:, :, 40:50, 10:20] += 2.0
    peak = spectral_residual_saliency(image).flatten().argmax()
    assert 38 <= peak // 64 <= 51 and 8 <= peak % 64 <= 21
    aug = build("saliencymix", seed=0)
    partners = torch.cat([image, image])
    cy, cx = aug.draw_centres(1, 64, 64, partners, torch.tensor([1, 0]))
    assert (cy.item(), cx.item()) == (int(peak // 64), int(peak % 64))


@pytest.mark.parametrize("name", ["manifold_mixup", "feature_cutmix"])
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_feature_mixing_changes_activations_only_at_the_chosen_stage(name, layer):
    torch.manual_seed(0)
    model = timm.create_model("pyramidnet_tiny", num_classes=K).eval()  # eval: BN does not mix statistics
    names = ["stem", "layer1", "layer2", "layer3"]
    captured: dict[str, torch.Tensor] = {}
    for stage in names:
        getattr(model, stage).register_forward_hook(lambda m, i, o, stage=stage: captured.__setitem__(stage, o.detach()))
    aug = augment.build(name, num_classes=K, layers=[layer], seed=1)
    aug.attach(model)  # its hooks run after the capturing ones: captured = the stage's own output
    images, labels = torch.randn(4, 3, 32, 32), torch.arange(4)
    with torch.no_grad():
        clean_logits = model(images)
        clean = dict(captured)
        mixed_images, targets = aug(images.clone(), labels)
        torch.testing.assert_close(mixed_images, images)  # nothing at the input
        logits = model(mixed_images)
    for index, stage in enumerate(names, start=1):
        if index <= layer:
            torch.testing.assert_close(captured[stage], clean[stage])  # up to the chosen stage: unchanged
        after = model(images)
    assert not torch.equal(logits, clean_logits)  # ... and the mixing did act after it
    torch.testing.assert_close(after, clean_logits, rtol=0, atol=0)  # one-shot: the next forward is clean again
    torch.testing.assert_close(targets.sum(1), torch.ones(4))


def test_shakedrop_is_deterministic_in_eval_and_stochastic_in_training():
    layer = ShakeDrop(keep_prob=0.5)
    x = torch.ones(64, 3, 4, 4)
    layer.eval()
    torch.testing.assert_close(layer(x), 0.5 * x)  # the expectation E[b + alpha - b*alpha] = keep_prob
    layer.train()
    y = layer(x.requires_grad_())
    assert y.unique().numel() > 2 and y.min() < 0  # alpha in [-1, 1] per sample
    y.sum().backward()
    assert (x.grad >= 0).all()  # beta in [0, 1]


def test_architectural_regularizers_are_in_the_model_and_inactive_in_eval():
    model = timm.create_model("pyramidnet_tiny", num_classes=K, drop_path_rate=0.25, drop_block_rate=0.1, shakedrop_rate=0.5)
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"DropPath", "DropBlock2d", "ShakeDrop"} <= kinds
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model(x))


def test_composition_runs_components_in_order_with_their_parameters():
    aug = augment.build("cutout+mixup", num_classes=K, cutout={"size": 8}, mixup={"alpha": 1.0}, label_smoothing=0.1, seed=0)
    assert [type(c).__name__ for c in aug.components] == ["Cutout", "Mixup"]
    assert aug.components[0].size == 8
    images, labels = distinct_batch(6)
    out, targets = aug(images.clone(), labels)
    torch.testing.assert_close(targets.sum(1), torch.ones(6))
    assert targets.min() >= 0.1 / K - 1e-6  # smoothing applied once, before mixing
    with pytest.raises(harness.HarnessError, match="under their name"):
        augment.build("cutout+mixup", num_classes=K, size=8)


def test_paper_plan_covers_tables_3_to_8_and_figure_3_without_unimplemented_rows(tmp_path):
    result = subprocess.run([sys.executable, "run_all.py", "--scale", "paper", "--plan", "--results", str(tmp_path),
                             "--tables", "3", "5", "6", "7", "8", "F3"],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=True)
    assert "not implemented" not in result.stdout
    from harness.experiments import load_tables

    tables = load_tables()
    for table_id in ("T3_imagenet_r50", "T5_cifar100_pyr200", "T6_cifar100_light", "T7_cifar10_pyr200",
                     "T8_variants_cifar100", "F3a_cutmix_alpha", "F3b_feature_cutmix_layer"):
        for row in tables[table_id].rows:
            assert f"{table_id}/{row.name}" in result.stdout
