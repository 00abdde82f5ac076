"""The augmentation contract and the properties that pin each method's definition."""
from __future__ import annotations

import pytest
import torch

from harness import augment
from harness.augment.sampling import sample_beta
from harness.errors import HarnessError, UnknownNameError

K = 7
METHODS = ["none", "cutmix", "mixup", "cutout"]


def batch(b: int = 6, h: int = 16, w: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g), torch.randint(0, K, (b,), generator=g)


def distinct_batch(b: int, h: int = 16, w: int = 12):
    """Image i is the constant i + 1 (never 0), so every pixel tells which image it came from."""
    images = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 3, h, w).clone()
    return images, torch.arange(b) % K


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("b", [1, 2, 5])
def test_contract(name, mode, b):
    params = {"mode": mode} if name in ("cutmix", "mixup") else {}
    aug = augment.build(name, num_classes=K, seed=3, label_smoothing=0.1, **params)
    images, labels = batch(b)
    out, targets = aug(images.clone(), labels)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert targets.shape == (b, K) and targets.dtype == torch.float32
    torch.testing.assert_close(targets.sum(1), torch.ones(b))
    assert (targets >= 0).all()


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_gpu_with_the_same_draws_as_cpu(name):
    images, labels = batch(8)
    cpu = augment.build(name, num_classes=K, seed=9)(images.clone(), labels)
    gpu = augment.build(name, num_classes=K, seed=9)(images.cuda(), labels.cuda())
    assert gpu[0].is_cuda and gpu[1].is_cuda
    torch.testing.assert_close(gpu[0].cpu(), cpu[0])
    torch.testing.assert_close(gpu[1].cpu(), cpu[1])


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_output_and_different_seed_differs(name):
    images, labels = batch(8)
    out_a = augment.build(name, num_classes=K, seed=5)(images.clone(), labels)
    out_b = augment.build(name, num_classes=K, seed=5)(images.clone(), labels)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    if name != "none":
        outs = [augment.build(name, num_classes=K, seed=s)(images.clone(), labels)[0] for s in range(6, 10)]
        assert any(not torch.equal(o, out_a[0]) for o in outs)


@pytest.mark.parametrize("name", METHODS)
def test_prob_zero_is_identity(name):
    images, labels = batch(5)
    out, targets = augment.build(name, num_classes=K, prob=0.0, seed=1)(images.clone(), labels)
    torch.testing.assert_close(out, images, rtol=0, atol=0)
    torch.testing.assert_close(targets, torch.nn.functional.one_hot(labels, K).float())


@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("b", [1, 5, 16])
def test_cutmix_lambda_is_exact_kept_fraction(mode, b):
    """For every image, the target weight of its own label = the fraction of its pixels still its own."""
    aug = augment.build("cutmix", num_classes=100, seed=11, mode=mode)
    for _ in range(10):
        images, _ = distinct_batch(b)
        labels = torch.arange(b)  # distinct labels: weights do not merge
        out, targets = aug(images.clone(), labels)
        own = (out == images).all(dim=1).float().mean(dim=(1, 2))
        pasted = (out != images).any(dim=1)
        if b == 1:  # a single image is its own partner
            torch.testing.assert_close(targets[0, 0], torch.tensor(1.0))
            continue
        torch.testing.assert_close(targets[torch.arange(b), labels], own)
        # the pasted pixels form one axis-aligned box per image, filled from one partner
        for i in range(b):
            if pasted[i].any():
                rows, cols = pasted[i].nonzero(as_tuple=True)
                box = pasted[i][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
                assert box.all()
                assert out[i, 0][pasted[i]].unique().numel() == 1


def test_cutmix_batch_mode_uses_one_box_for_the_batch():
    aug = augment.build("cutmix", num_classes=K, seed=2, mode="batch")
    images, labels = distinct_batch(8)
    out, _ = aug(images.clone(), labels)
    masks = (out != images).any(dim=1)
    changed = masks.any(dim=(1, 2))
    union = masks[changed].any(dim=0)
    for m in masks[changed]:  # images whose partner is themselves show no change
        assert torch.equal(m, union)


def test_beta_sampler_moments():
    g = torch.Generator().manual_seed(0)
    for alpha in (0.2, 1.0, 2.0):
        x = sample_beta(alpha, 50000, g)
        assert ((x >= 0) & (x <= 1)).all()
        assert abs(x.mean().item() - 0.5) < 0.01
        assert abs(x.var().item() - 1 / (4 * (2 * alpha + 1))) < 0.01


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_mixup_is_convex_combination_with_matching_targets(mode):
    aug = augment.build("mixup", num_classes=100, seed=4, mode=mode)
    images, _ = distinct_batch(6)
    labels = torch.arange(6)
    out, targets = aug(images.clone(), labels)
    for i in range(6):
        value = out[i].unique()
        assert value.numel() == 1  # the whole image is one blend
        lam = targets[i, i].item()
        partner = [j for j in range(6) if j != i and targets[i, j] > 0]
        expected = lam * (i + 1) + sum(targets[i, j].item() * (j + 1) for j in partner)
        assert value.item() == pytest.approx(expected, rel=1e-5)


def test_cutout_zeroes_a_square_and_keeps_labels():
    aug = augment.build("cutout", num_classes=K, seed=0, size=6)
    images, labels = distinct_batch(20, 32, 32)
    out, targets = aug(images.clone(), labels)
    torch.testing.assert_close(targets, torch.nn.functional.one_hot(labels, K).float())
    for i in range(20):
        hole = (out[i] == 0).all(dim=0)
        rows, cols = hole.nonzero(as_tuple=True)
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert hole.sum() == h * w and h <= 6 and w <= 6  # one clipped square
        assert (out[i][:, ~hole] == i + 1).all()


def test_label_smoothing_values():
    aug = augment.build("none", num_classes=4, label_smoothing=0.2)
    _, targets = aug(torch.zeros(2, 3, 4, 4), torch.tensor([0, 3]))
    torch.testing.assert_close(targets, torch.tensor([[0.85, 0.05, 0.05, 0.05], [0.05, 0.05, 0.05, 0.85]]))


def test_not_inplace_leaves_input_untouched():
    images, labels = batch(6)
    original = images.clone()
    augment.build("cutmix", num_classes=K, seed=0, inplace=False)(images, labels)
    torch.testing.assert_close(images, original, rtol=0, atol=0)


def test_state_dict_restores_the_random_stream():
    aug = augment.build("cutmix", num_classes=K, seed=0)
    images, labels = batch(6)
    aug(images.clone(), labels)
    state = aug.state_dict()
    first = aug(images.clone(), labels)
    aug.load_state_dict(state)
    torch.testing.assert_close(aug(images.clone(), labels), first, rtol=0, atol=0)


def test_unknown_method_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="unknown augmentation 'cutmixx'.*cutmix"):
        augment.build("cutmixx", num_classes=K)


def test_bad_inputs_are_refused():
    aug = augment.build("cutmix", num_classes=K)
    with pytest.raises(ValueError, match="float"):
        aug(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        aug(torch.zeros(2, 3, 4, 4), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(HarnessError, match="prob"):
        augment.build("mixup", num_classes=K, prob=1.5)


def test_plugin_registered_from_a_user_file(tmp_path):
    plugin = tmp_path / "flip_mix.py"
    plugin.write_text(
        "import torch\n"
        "from harness.augment import Augmentation, register\n"
        "@register('test_flip')\n"
        "class Flip(Augmentation):\n"
        "    def apply(self, images, targets):\n"
        "        return images.flip(-1), targets\n"
    )
    augment.load_plugins([str(plugin)])
    assert "test_flip" in augment.available()
    images, labels = batch(2)
    out, _ = augment.build("test_flip", num_classes=K)(images.clone(), labels)
    torch.testing.assert_close(out, images.flip(-1))


def test_built_in_methods_are_found_without_importing_them_and_match_what_they_register():
    """Planning reads the ``@register("name")`` lines of harness/augment/*.py instead of importing torch code; every
    built-in's module, once imported, registers exactly the names read from it."""
    import importlib

    from harness.augment import registry

    found = registry.builtin_modules()
    assert {"none", "cutmix", "mixup", "cutout", "fmix", "resizemix", "saliencymix"} <= set(found)
    for name, module in found.items():
        importlib.import_module(module)
        assert registry._REGISTRY[name].__module__ == module, name
    built_in = {n for n, cls in registry._REGISTRY.items() if cls.__module__.startswith("harness.augment.")}
    assert built_in == set(found)
