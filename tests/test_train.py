import json

import numpy as np
import pytest
import torch
from conftest import MINI
from PIL import Image
from safetensors import safe_open

from vaezip.errors import UsageError
from vaezip.models.config import ModelConfig
from vaezip.models.torch_nets import build_model
from vaezip.training.datasets import load_mnist, to_model_space
from vaezip.training.evaluate import evaluate
from vaezip.training.loop import TrainCallbacks, _mirrored, train
from vaezip.training.settings import TrainSettings

CONFIG = ModelConfig(latent_dim=4, hidden=(64,))


@pytest.fixture(scope="module")
def mini_images(mini_mnist_dir):
    return to_model_space(load_mnist(mini_mnist_dir, train=True, download=False).images)


def test_a_short_real_training_run_lowers_the_loss(mini_images, mini_mnist_dir, tmp_path):
    settings = TrainSettings(epochs=3, batch_size=64, lr=2e-3, seed=0)
    test = to_model_space(load_mnist(mini_mnist_dir, train=False, download=False).images)
    torch.manual_seed(0)
    before = evaluate(build_model(CONFIG), test)["neg_elbo"]
    result = train(CONFIG, settings, mini_images, tmp_path / "ckpt.safetensors")
    losses = [h["loss"] for h in result.history]
    assert losses[0] > losses[1] > losses[2]
    after = evaluate(result.model, test)["neg_elbo"]
    assert after < before - 100, (before, after)  # ~543 -> ~220 nats on held-out digits


def test_checkpoints_are_safetensors_with_their_config(mini_images, tmp_path):
    ckpt = tmp_path / "ckpt.safetensors"
    train(CONFIG, TrainSettings(epochs=1, batch_size=100), mini_images, ckpt)
    with safe_open(str(ckpt), framework="pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["format"] == "vaezip-checkpoint" and meta["epochs_done"] == "1"
    assert ModelConfig.from_json(meta["config"]) == CONFIG
    assert any(k.startswith("optim.") for k in keys)
    assert all(k.startswith(("model.", "optim.")) for k in keys)


@pytest.mark.parametrize("extra", [{}, {"binarize": True, "kl_warmup_epochs": 2},
                                   {"mirror": True}])
def test_resume_after_an_interruption_matches_an_uninterrupted_run(mini_images, tmp_path,
                                                                   extra):
    settings = TrainSettings(epochs=3, batch_size=100, seed=7, **extra)
    straight = train(CONFIG, settings, mini_images, tmp_path / "a.safetensors")

    def interrupt(epoch, batch, loss):
        if epoch == 2 and batch == 5:  # Ctrl-C in the middle of epoch 2
            raise KeyboardInterrupt

    ckpt = tmp_path / "b.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, settings, mini_images, ckpt, callbacks=TrainCallbacks(on_batch=interrupt))
    with safe_open(str(ckpt), framework="pt") as f:
        assert f.metadata()["epochs_done"] == "1"  # only the unfinished epoch is lost
    resumed = train(CONFIG, settings, mini_images, ckpt, resume=True)

    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for (name, a), (_, b) in zip(straight.model.state_dict().items(),
                                 resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_mirror_flips_a_seeded_half_of_a_batch_left_right():
    config = ModelConfig(likelihood="logistic", image_side=8, frame_width=10, channels=2,
                         framing="plain", latent_dim=2, hidden=(8,))
    x = torch.arange(64 * 160, dtype=torch.float32).view(64, 160)
    out = _mirrored(x, config, torch.Generator().manual_seed(1))
    frames = x.view(64, 2, 8, 10)
    flipped = [not torch.equal(a, b) for a, b in zip(out, x, strict=True)]
    assert 16 < sum(flipped) < 48  # about half
    for i, f in enumerate(flipped):
        assert torch.equal(out[i].view(2, 8, 10), frames[i].flip(-1) if f else frames[i])
    assert torch.equal(out, _mirrored(x, config, torch.Generator().manual_seed(1)))


def test_cli_train_registers_the_model_and_eval_reads_it(run_cli, mini_mnist_dir, vaezip_home):
    r = run_cli("train", "--name", "tiny", "--latent-dim", "3", "--hidden", "32", "--epochs",
                "2", "--data-dir", mini_mnist_dir, "--no-download", "--quiet")
    assert r.code == 0, r
    assert "tiny: -ELBO" in r.out
    assert (vaezip_home / "models" / "tiny.safetensors").is_file()
    # The last checkpoint stays, so that --resume --epochs N can train the model further.
    assert (vaezip_home / "checkpoints" / "tiny.safetensors").is_file()
    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json").out)}
    assert listed["tiny"]["kind"] == "user"
    assert listed["tiny"]["metrics"]["test_images"] == 500
    assert listed["tiny"]["training"]["epochs"] == 2
    # Its "not a digit" detector, measured on its 1,000 training digits (one class: too
    # few of each digit for a Gaussian apiece).
    assert listed["tiny"]["nondigit_threshold"] > 0

    r = run_cli("eval", "-m", "tiny", "--data-dir", mini_mnist_dir, "--no-download", "--json",
                "--iw-samples", "0")
    assert r.code == 0, r
    metrics = json.loads(r.out)
    assert metrics["model"] == "tiny" and metrics["test_images"] == 500
    assert abs(metrics["neg_elbo"] - metrics["recon"] - metrics["kl"]) < 1e-3
    assert metrics["neg_elbo"] == pytest.approx(listed["tiny"]["metrics"]["neg_elbo"])

    # Same name again: refused, the model untouched.
    r = run_cli("train", "--name", "tiny", "--epochs", "1", "--data-dir", mini_mnist_dir,
                "--no-download", "--quiet")
    assert r.code == 1 and "--force" in r.err


def test_cli_resume_continues_an_interrupted_run(run_cli, mini_images, mini_mnist_dir,
                                                 vaezip_home):
    config = ModelConfig(latent_dim=3, hidden=(32,))
    ckpt = vaezip_home / "checkpoints" / "halfway.safetensors"
    train(config, TrainSettings(epochs=1, batch_size=128), mini_images, ckpt)
    r = run_cli("train", "--name", "halfway", "--data-dir", mini_mnist_dir, "--no-download",
                "--quiet")
    assert r.code == 1 and "--resume" in r.err  # an unfinished run is never silently dropped
    r = run_cli("train", "--name", "halfway", "--resume", "--epochs", "2", "--data-dir",
                mini_mnist_dir, "--no-download", "--quiet")
    assert r.code == 0, r
    entry = json.loads(run_cli("models", "--json").out)
    (tiny,) = [m for m in entry if m["name"] == "halfway"]
    assert tiny["training"]["epochs"] == 2 and tiny["latent_dim"] == 3


def test_cli_resume_with_more_epochs_extends_a_finished_run(run_cli, mini_mnist_dir,
                                                          vaezip_home):
    """1 epoch, then --resume --epochs 2: the weights of an uninterrupted 2-epoch run, bit
    for bit (epoch 0's learning rate is lr under any cosine length, so the two agree)."""
    from safetensors.numpy import load_file

    common = ("--latent-dim", "3", "--hidden", "32", "--data-dir", mini_mnist_dir,
              "--no-download", "--quiet")
    assert run_cli("train", "--name", "extended", "--epochs", "1", *common).code == 0
    r = run_cli("train", "--name", "extended", "--resume", *common)
    assert r.code == 2 and "has trained 1 epochs already" in r.err and "--epochs" in r.err, r
    r = run_cli("train", "--name", "extended", "--resume", "--epochs", "2", *common)
    assert r.code == 0, r
    assert run_cli("train", "--name", "straight", "--epochs", "2", *common).code == 0
    models = vaezip_home / "models"
    extended = load_file(str(models / "extended.safetensors"))
    straight = load_file(str(models / "straight.safetensors"))
    assert extended.keys() == straight.keys()
    for key in straight:
        assert np.array_equal(extended[key], straight[key]), key
    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json").out)}
    assert listed["extended"]["training"]["epochs"] == 2
    assert listed["extended"]["metrics"] == listed["straight"]["metrics"]


def test_cli_train_errors(run_cli, tmp_path, mini_mnist_dir):
    r = run_cli("train", "--name", "x", "--data-dir", tmp_path / "empty", "--no-download")
    assert r.code == 1 and "MNIST not found" in r.err and "MNIST/raw" in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = run_cli("train", "--name", "x", "--resume", "--data-dir", mini_mnist_dir)
    assert r.code == 1 and "no checkpoint" in r.err
    r = run_cli("train", "--name", "mnist-vae-16d", "--data-dir", mini_mnist_dir)
    assert r.code == 1 and "shipped" in r.err
    r = run_cli("train", "--name", "../evil", "--data-dir", mini_mnist_dir)
    assert r.code == 2 and "invalid model name" in r.err
    r = run_cli("train", "--name", "x", "--arch", "gan", "--data-dir", mini_mnist_dir)
    assert r.code == 2 and "arch" in r.err
    r = run_cli("train", "--name", "x", "--hidden", "wide", "--data-dir", mini_mnist_dir)
    assert r.code == 2 and "--hidden" in r.err
    r = run_cli("train", "--name", "x", "--epochs", "0", "--data-dir", mini_mnist_dir)
    assert r.code == 2 and "--epochs" in r.err


def test_kl_warmup_ramps_the_weight_and_binarised_training_sees_binary_pixels(mini_images,
                                                                              tmp_path):
    from vaezip.training.settings import kl_weight

    warm = TrainSettings(epochs=4, kl_warmup_epochs=2)
    assert [kl_weight(warm, e) for e in (0, 0.5, 1, 2, 3)] == [0, 0.25, 0.5, 1, 1]
    assert kl_weight(TrainSettings(), 0) == 1.0
    beta = TrainSettings(epochs=4, kl_warmup_epochs=2, beta=0.1)  # beta-VAE: ramps to beta
    assert [kl_weight(beta, e) for e in (0, 1, 3)] == [0, 0.05, 0.1]
    with pytest.raises(UsageError, match="^beta must be a positive number"):
        TrainSettings(beta=0)
    seen = []

    from vaezip.models.torch_nets import VAE

    original = VAE.loss

    def spy(self, x, generator=None):
        seen.append(x.detach().clone())
        return original(self, x, generator)

    VAE.loss = spy
    try:
        train(CONFIG, TrainSettings(epochs=1, batch_size=250, binarize=True), mini_images,
              tmp_path / "c.safetensors")
    finally:
        VAE.loss = original
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen)


def test_cli_trains_a_pixel_group_model_that_codes_losslessly(run_cli, mini_mnist_dir,
                                                              vaezip_home, tmp_path):
    r = run_cli("train", "--name", "tiny-groups", "--likelihood", "logistic", "--groups", "4",
                "--latent-dim", "3", "--hidden", "32", "--epochs", "1", "--data-dir",
                mini_mnist_dir, "--no-download", "--quiet")
    assert r.code == 0, r
    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json").out)}
    assert listed["tiny-groups"]["groups"] == 4
    r = run_cli("eval", "-m", "tiny-groups", "--data-dir", mini_mnist_dir, "--no-download",
                "--json", "--iw-samples", "4")
    assert r.code == 0, r
    metrics = json.loads(r.out)
    assert 0 < metrics["iw_nll"] <= metrics["neg_elbo"] + 20  # k = 4: near the ELBO
    with np.load(MINI) as mini:
        digits = mini["test_images"][:6]
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(tmp_path / f"{i}.png")
    assert run_cli("encode", tmp_path, "--pack", "--lossless", "-m", "tiny-groups", "-o",
                   tmp_path / "all.vz").code == 0
    assert run_cli("decode", tmp_path / "all.vz", "-o", tmp_path / "out").code == 0
    for i, digit in enumerate(digits):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{i}.png")), digit)
    r = run_cli("train", "--name", "bad", "--groups", "4", "--data-dir", mini_mnist_dir,
                "--no-download", "--quiet")
    assert r.code == 2 and "logistic likelihood" in r.err
