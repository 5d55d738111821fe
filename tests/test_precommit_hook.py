"""The pre-commit hooks (.pre-commit-hooks.yaml) as a user's repository runs them:
pre-commit clones this repository at a commit, pip-installs specc into its own
environment and runs ``specc validate`` on the repository's specs.

pre-commit installs from a commit, so the test commits the working tree as it is (tracked
and new files) into a throwaway clone first. Slow: the install fetches specc's
dependencies; PRE_COMMIT_HOME is shared by the session, so it happens once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.spec_helpers import ROOT

PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
BAD = "specc: 1\nlayers:\n  - {type: Dense, units: 0, input_shape: [3]}\n"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.skipif(not Path(PRE_COMMIT).exists(), reason="needs pre-commit (test extra)"),
]


def _git(cwd: Path, *args: str) -> str:
    env_args = ["-c", "user.name=specc tests", "-c", "user.email=tests@specc.invalid"]
    done = subprocess.run(
        ["git", *env_args, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding this working tree in one commit, and that commit."""
    repo = tmp_path_factory.mktemp("hook-repo")
    files = _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "snapshot")
    return repo, _git(repo, "rev-parse", "HEAD")


def test_specc_validate_hook(
    tmp_path: Path, hook_repo: tuple[Path, str], pre_commit_home: Path
) -> None:
    source, rev = hook_repo
    user = tmp_path / "user"
    (user / "models").mkdir(parents=True)
    (user / "models" / "mlp.specc.yaml").write_text(
        (ROOT / "models" / "mnist_mlp.yaml").read_text()
    )
    (user / "README.md").write_text("not a spec\n")
    config = {"repos": [{"repo": str(source), "rev": rev, "hooks": [{"id": "specc-validate"}]}]}
    (user / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    _git(user, "init", "-q")
    _git(user, "add", "-A")

    def pre_commit() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PRE_COMMIT, "run", "--all-files", "--color", "never"],
            cwd=user,
            env={**_clean_env(), "PRE_COMMIT_HOME": str(pre_commit_home)},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )

    passed = pre_commit()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "specc validate" in passed.stdout and "Passed" in passed.stdout

    (user / "models" / "broken.specc.yaml").write_text(BAD)
    _git(user, "add", "-A")
    failed = pre_commit()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert (
        "models/broken.specc.yaml:3:26: error: units must be greater than 0; got 0 "
        "(an integer) (at layers[0].units) [SPC101-schema]"
    ) in failed.stdout


def _clean_env() -> dict[str, str]:
    # pre-commit's own virtual environment must not see this one's.
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
