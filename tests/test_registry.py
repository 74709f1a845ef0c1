import json
import subprocess
import sys
import zipfile

import pytest
import torch
from conftest import save_model

from vaezip.errors import ModelFileError, UnknownModelError
from vaezip.models import registry
from vaezip.models.config import ModelConfig
from vaezip.models.torch_nets import build_model

SHIPPED = {"mnist-ae-2d", "mnist-vae-2d-mse", "mnist-vae-2d-bce", "mnist-vae-16d"}


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(ModelConfig(latent_dim=3, hidden=(16,), **kw))


def test_shipped_models_are_listed_with_test_metrics():
    entries = {e.name: e for e in registry.list_models()}
    assert SHIPPED <= set(entries)
    for name in SHIPPED:
        e = entries[name]
        assert e.kind == "shipped"
        assert e.metrics["test_images"] == 10_000
        assert e.training["train_images"] == 60_000
        assert e.training["stored_as"] == "float16"
    assert entries["mnist-vae-16d"].config.latent_dim == 16
    assert {entries[n].config.latent_dim for n in SHIPPED - {"mnist-vae-16d"}} == {2}


def test_every_shipped_model_has_a_short_name_for_single_files():
    """Format 8: a new shipped model needs its own letter in names.SHORT_NAMES."""
    from vaezip.format.names import SHORT_NAME_OF

    shipped = {e.name for e in registry.list_models() if e.kind == "shipped"}
    assert SHIPPED <= shipped and shipped <= set(SHORT_NAME_OF)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_models_load_and_verify_their_hash(name):
    model, entry = registry.load_model(name)
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32
    with torch.inference_mode():
        out = model.decode(model.prior_sample(2, torch.Generator().manual_seed(0)))
    assert out.shape == (2, 784) and torch.all((out >= 0) & (out <= 1))


def test_float16_storage_costs_nothing_measurable():
    """make weights records the float32 model's test score next to the stored one."""
    for name in SHIPPED:
        e = registry.find(name)
        key = "neg_elbo" if "neg_elbo" in e.metrics else "recon"
        assert abs(e.metrics[key] - e.training[f"float32_test_{key}"]) < 0.05 + 1e-3 * abs(
            e.metrics[key]
        ), name


def test_user_model_is_registered_found_and_rebuilt(vaezip_home):
    model = _tiny()
    path = registry.user_models_dir() / "my-model.safetensors"
    save_model(model, path, "my-model", metrics={"neg_elbo": 1.0})
    entries = {e.name: e for e in registry.list_models()}
    assert entries["my-model"].kind == "user"
    assert entries["my-model"].path == path
    loaded, entry = registry.load_model("my-model")
    x = torch.rand(4, 784)
    torch.testing.assert_close(loaded.mean_reconstruction(x), model.mean_reconstruction(x))
    assert entry.num_params == sum(p.numel() for p in model.parameters())


def test_user_home_defaults_to_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.delenv("VAEZIP_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert registry.user_home() == tmp_path / "xdg" / "vaezip"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError) as info:
        registry.find("mnist-vae-99d")
    message = str(info.value)
    assert "mnist-vae-99d" in message
    for name in SHIPPED:
        assert name in message


@pytest.mark.parametrize("bad", ["../mnist-vae-16d", "a/b", "..", ".hidden", "UPPER", "", "x" * 65])
def test_names_that_could_escape_the_registry_are_refused(bad):
    with pytest.raises(UnknownModelError, match="invalid model name"):
        registry.find(bad)


def test_edited_weights_fail_the_hash_check(vaezip_home):
    path = registry.user_models_dir() / "tampered.safetensors"
    save_model(_tiny(), path, "tampered")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40  # a bit inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="do not match their recorded hash"):
        registry.load_model("tampered")


def test_garbage_in_the_user_folder_is_skipped_by_list_and_refused_by_find(vaezip_home):
    folder = registry.user_models_dir()
    folder.mkdir(parents=True)
    (folder / "junk.safetensors").write_bytes(b"\x80\x04K\x01.")  # a pickle, never executed
    assert "junk" not in {e.name for e in registry.list_models()}
    with pytest.raises(ModelFileError, match="junk.safetensors"):
        registry.find("junk")


def test_a_model_file_renamed_to_another_name_is_refused(vaezip_home):
    folder = registry.user_models_dir()
    save_model(_tiny(), folder / "alpha.safetensors", "alpha")
    (folder / "alpha.safetensors").rename(folder / "beta.safetensors")
    with pytest.raises(ModelFileError, match="holds 'alpha'"):
        registry.find("beta")


def test_newer_format_version_is_refused(vaezip_home):
    from safetensors.torch import load_file, save_file

    path = registry.user_models_dir() / "future.safetensors"
    save_model(_tiny(), path, "future")
    meta = registry._read_header(path)
    meta["format_version"] = "99"
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(ModelFileError, match="newer than this vaezip reads"):
        registry.find("future")


@pytest.mark.slow
def test_built_wheel_carries_and_finds_the_shipped_weights(tmp_path):
    pytest.importorskip("hatchling")
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheel_dir), str(registry.shipped_dirs()[-1].parent)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = wheel_dir.glob("vaezip-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    for name in SHIPPED:
        assert f"vaezip/weights/{name}.safetensors" in names
    # Import the unpacked wheel from elsewhere: the registry must find its own weights.
    code = ("import json, vaezip.models.registry as r; "
            "print(json.dumps([[e.name, str(e.path)] for e in r.list_models()]))")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=tmp_path, env={"PYTHONPATH": str(site), "VAEZIP_HOME": str(tmp_path / "h")},
    )
    found = dict(json.loads(out.stdout))
    assert SHIPPED <= set(found)
    assert all(found[n].startswith(str(site)) for n in SHIPPED)


def test_make_weights_retrains_exactly_the_shipped_models():
    """Every shipped weights file has a recipe, and `make weights` (no MODELS) trains just
    those: the recipes of candidates that were tried and not shipped run only when named."""
    from vaezip.models.recipes import RECIPES, TRIED, shipped_recipes, weights_dir

    on_disk = {p.stem for p in weights_dir().glob("*.safetensors")}
    assert set(shipped_recipes()) == on_disk
    assert set(TRIED) <= set(RECIPES) and not set(TRIED) & on_disk
