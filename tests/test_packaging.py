"""A non-editable install carries the built-in theme: init and build work from anywhere."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_theme_and_works_from_any_folder(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("forumgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "forumgen/themes/default/templates/topic.html" in names
    assert "forumgen/themes/default/static/pygments.css" in names
    assert "intake/__init__.py" in names

    # The test environment already holds the dependencies; the venv borrows them and
    # gets only the wheel, so this stays fast and offline.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import forumgen.config as c; print(c.builtin_themes())"],
                           cwd=elsewhere, check=True, capture_output=True, text=True)
    assert str(env_dir) in where.stdout
    for args in (["init", str(tmp_path / "x")], ["build", "--site", str(tmp_path / "x")]):
        done = subprocess.run([str(bin_dir / "forumgen"), *args], cwd=elsewhere,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "x/output/t/welcome/index.html").is_file()
    assert (tmp_path / "x/output/static/pygments.css").is_file()
