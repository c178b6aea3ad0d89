"""A record is dirty when the code that made it differs from its commit, and only then."""

import subprocess

from bench.records import git_state


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_only_uncommitted_code_makes_a_record_dirty(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "bench" / "loop.py").write_text("x = 1\n")
    (tmp_path / "results" / "run.json").write_text("{}\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    assert git_state(tmp_path)["dirty"] is False
    # Records and reports written while a published set trains are no change of code.
    (tmp_path / "results" / "run.json").write_text('{"a": 1}\n')
    (tmp_path / "results" / "new.json").write_text("{}\n")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "bench" / "new.py").write_text("y = 2\n")  # an uncommitted module runs too
    assert git_state(tmp_path)["dirty"] is True
    (tmp_path / "bench" / "new.py").unlink()
    (tmp_path / "bench" / "loop.py").write_text("x = 2\n")
    assert git_state(tmp_path)["dirty"] is True
