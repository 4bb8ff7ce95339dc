"""What a clean clone gets: CI clones main on a new machine, so nothing that only makes sense on
the machine that committed it may be tracked. A helper's worktree once linked `.wheelhouse` to
the lead's (`ln -s /work/main/.wheelhouse`); `.wheelhouse/` in .gitignore matches directories
only, so the link was committed, and in the clean clone it pointed at itself: `pip download`
failed with "Too many levels of symbolic links" and CI with it, 24 s in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def test_no_symbolic_link_is_tracked() -> None:
    links = [line.split("\t", 1)[1] for line in _git("ls-files", "-s").splitlines()
             if line.startswith("120000 ")]
    assert links == []


def test_the_local_build_folders_are_ignored_as_links_too(tmp_path: Path) -> None:
    # In a scratch repository with the project's .gitignore, each folder is a symbolic link:
    # a rule that matches directories only ("name/") does not cover it.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copyfile(ROOT / ".gitignore", tmp_path / ".gitignore")
    for name in (".venv", ".wheelhouse"):
        (tmp_path / name).symlink_to(tmp_path / "elsewhere")
        matched = subprocess.run(
            ["git", "check-ignore", "-q", name], cwd=tmp_path, check=False)
        assert matched.returncode == 0, f"{name} as a link is not ignored"
