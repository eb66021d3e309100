"""tools/check_reproduced.py, the CI guard: a rerun stage that does not reproduce the
committed dvc.lock is named with its output; timing fields may differ."""

import json
import subprocess

from tools.check_reproduced import differences

LOCK = """schema: '2.0'
stages:
  demo:
    cmd: python -m stages.demo
    outs:
    - path: data/raw/demo
      hash: md5
      md5: {md5}.dir
      size: {size}
      nfiles: 3005
    - path: metrics/demo.json
      hash: md5
      md5: {metrics_md5}
      size: 504
"""


def _repo(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "dvc.yaml").write_text("stages: {}\nmetrics:\n  - metrics/demo.json\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/demo.json").write_text(json.dumps({"images": 3000, "seconds": 6.3}))
    (tmp_path / "dvc.lock").write_text(LOCK.format(md5="030b1f0a", size=30406476, metrics_md5="a"))
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results")
    return tmp_path


def test_timing_alone_reproduces(tmp_path):
    root = _repo(tmp_path)
    (root / "metrics/demo.json").write_text(
        json.dumps({"images": 3000, "seconds": 12.0, "workers": 8})  # a bigger machine
    )
    (root / "dvc.lock").write_text(LOCK.format(md5="030b1f0a", size=30406476, metrics_md5="b"))
    assert differences(["demo"], root=root) == []


def test_a_different_hash_or_result_names_stage_and_output(tmp_path):
    root = _repo(tmp_path)
    (root / "metrics/demo.json").write_text(json.dumps({"images": 2999, "seconds": 6.3}))
    (root / "dvc.lock").write_text(LOCK.format(md5="b549c6c3", size=30406469, metrics_md5="a"))
    assert differences(["demo"], root=root) == [
        "stage demo: output data/raw/demo hashed b549c6c3.dir (30406469 bytes), "
        "committed 030b1f0a.dir (30406476 bytes)",
        "stage demo: metrics metrics/demo.json differ in ['images']",
    ]
