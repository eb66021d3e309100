"""Progress bars in a log: paced to a line every few seconds, live in a terminal."""

import io
import os
import subprocess
import sys

from cxr.progress import LOG_INTERVAL, pace_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_paced_bar_a_terminal_and_a_users_choice_are_left_alone():
    env: dict[str, str] = {}
    assert pace_progress(env, io.StringIO()) == {"TQDM_MININTERVAL": str(LOG_INTERVAL)}
    assert env["TQDM_MININTERVAL"] == str(LOG_INTERVAL)
    assert pace_progress({}, _Terminal()) == {}
    mine = {"TQDM_MININTERVAL": "1"}
    assert pace_progress(mine, io.StringIO()) == {} and mine["TQDM_MININTERVAL"] == "1"


def test_a_stage_loop_writes_a_few_lines_to_a_log_not_one_per_step():
    # 300 steps of 10 ms (3 s) through the stages package, stderr a pipe as under CI:
    # tqdm's default would redraw up to 30 times; paced, it writes its first and last.
    code = (
        "import stages, time\n"
        "from tqdm.auto import tqdm\n"
        "for _ in tqdm(range(300), desc='step'):\n"
        "    time.sleep(0.01)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    redraws = done.stderr.replace("\r", "\n").strip().splitlines()
    assert 1 <= len([r for r in redraws if r.startswith("step")]) <= 3, redraws
    assert "300/300" in redraws[-1]
