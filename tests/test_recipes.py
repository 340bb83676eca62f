"""The recipes parse as bash, and the ones that made the bundled default model name configs that exist, so a
renamed config breaks a test here instead of a user's seven-hour run."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.sh")), ids=lambda p: p.name)
def test_recipe_parses(recipe: Path):
    subprocess.run(["bash", "-n", str(recipe)], check=True)


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("default-en*.sh")), ids=lambda p: p.name)
def test_default_model_recipe_names_existing_configs(recipe: Path):
    configs = set(re.findall(r"configs/[\w./-]+\.yaml", recipe.read_text()))
    assert configs, f"{recipe.name} names no config"
    missing = [c for c in sorted(configs) if not (ROOT / c).is_file()]
    assert not missing, f"{recipe.name} names configs that do not exist: {missing}"


def test_every_stage_config_extends_a_file_that_exists():
    for config in (ROOT / "configs").glob("default-en*.yaml"):
        match = re.search(r"^extends:\s*(\S+)", config.read_text(), re.M)
        if match:
            assert (config.parent / match.group(1)).is_file(), f"{config.name} extends a missing {match.group(1)}"
