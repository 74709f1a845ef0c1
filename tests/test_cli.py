import io
import json

import pytest
from conftest import one_line_error
from PIL import Image


def test_help_and_version(run_cli):
    r = run_cli("--help")
    assert r.code == 0 and "sample" in r.out and "train" in r.out
    r = run_cli("--version")
    assert r.code == 0 and r.out.startswith("vaezip ")


def test_bad_usage_exits_2(run_cli):
    assert run_cli("frobnicate").code == 2
    assert run_cli("sample", "-n", "many").code == 2
    one_line_error(run_cli("sample", "-n", "0"), code=2)
    one_line_error(run_cli("sample", "--temperature", "-1"), code=2)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom vaezip.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stderr.strip().endswith("NO-TORCH"), r.stderr


def test_models_lists_the_shipped_models(run_cli):
    r = run_cli("models")
    assert r.code == 0
    for name in ("mnist-ae-2d", "mnist-vae-2d-mse", "mnist-vae-2d-bce", "mnist-vae-16d"):
        assert name in r.out
    listed = json.loads(run_cli("models", "--json").out)
    default = next(m for m in listed if m["name"] == "mnist-vae-16d")
    assert default["arch"] == "vae" and default["likelihood"] == "bernoulli"
    assert default["num_params"] > 0 and default["metrics"]["neg_elbo"] > 0


def test_sample_writes_a_deterministic_png_and_never_overwrites(run_cli, tmp_path):
    out = tmp_path / "s.png"
    r = run_cli("sample", "-n", "16", "-o", out, "--seed", "3", "--scale", "1")
    assert r.code == 0, r
    first = out.read_bytes()
    image = Image.open(io.BytesIO(first))
    assert image.size == (8 * 30 + 2, 2 * 30 + 2)  # 8 x 2 tiles of 28 px, 2 px padding
    assert "16 samples" in r.out

    r = run_cli("sample", "-n", "16", "-o", out, "--seed", "4")
    assert "--force" in one_line_error(r)
    assert out.read_bytes() == first  # untouched

    assert run_cli("sample", "-n", "16", "-o", out, "--seed", "3", "--force",
                   "--scale", "1").code == 0
    assert out.read_bytes() == first  # same seed, same bytes
    assert run_cli("sample", "-n", "16", "-o", out, "--seed", "4", "--force").code == 0
    assert out.read_bytes() != first
    assert [p.name for p in tmp_path.iterdir()] == ["s.png"]  # no temp files left


@pytest.mark.parametrize("model", ["mnist-ae-2d", "mnist-vae-2d-mse", "mnist-vae-2d-bce"])
def test_sample_from_each_shipped_model(run_cli, tmp_path, model):
    r = run_cli("sample", "-n", "4", "-o", tmp_path / "x.png", "-m", model)
    assert r.code == 0, r


def test_unknown_model_is_one_line_listing_known_models(run_cli, tmp_path):
    line = one_line_error(run_cli("sample", "-m", "nope", "-o", tmp_path / "x.png"))
    assert "unknown model 'nope'" in line and "mnist-vae-16d" in line
    assert not (tmp_path / "x.png").exists()
    line = one_line_error(run_cli("eval", "-m", "../../etc/passwd"))
    assert "invalid model name" in line


def test_eval_on_the_mini_test_set(run_cli, mini_mnist_dir):
    r = run_cli("eval", "-m", "mnist-vae-16d", "-m", "mnist-ae-2d", "--data-dir", mini_mnist_dir,
                "--no-download", "--json", "--iw-samples", "20")
    assert r.code == 0, r
    vae, ae = json.loads(r.out)
    assert vae["model"] == "mnist-vae-16d" and vae["test_images"] == 500
    assert vae["iw_samples"] == 20 and vae["iw_nll"] < vae["neg_elbo"]
    assert vae["binarized_iw_nll"] < vae["binarized_neg_elbo"]
    assert 0 < vae["kl"] < vae["neg_elbo"] and vae["psnr"] > 15
    assert vae["bits_per_dim"] == pytest.approx(vae["neg_elbo"] / (784 * 0.6931471805599453))
    assert "neg_elbo" not in ae and ae["recon"] > 0  # the AE has no likelihood
    r = run_cli("eval", "--data-dir", mini_mnist_dir, "--no-download", "--limit", "100", "-k",
                "50", "-m", "mnist-vae-16d", "-m", "mnist-ae-2d")
    assert r.code == 0 and "-ELBO" in r.out and "100 images" in r.out and "k=50" in r.out
    assert "IWAE NLL" in r.out and "NLL does not apply" in r.out


def test_missing_data_is_a_clear_error(run_cli, tmp_path):
    line = one_line_error(run_cli("eval", "--data-dir", tmp_path, "--no-download"))
    assert "MNIST not found" in line and str(tmp_path) in line


def test_tracebacks_only_with_vaezip_debug(tmp_path, run_process):
    r = run_process("sample", "-m", "nope", "-o", str(tmp_path / "x.png"),
                    env={"VAEZIP_HOME": str(tmp_path)})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = run_process("sample", "-m", "nope", "-o", str(tmp_path / "x.png"),
                    env={"VAEZIP_HOME": str(tmp_path), "VAEZIP_DEBUG": "1"})
    assert r.returncode == 1 and "Traceback" in r.stderr and "UnknownModelError" in r.stderr
