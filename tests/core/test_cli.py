import subprocess
import sys

from core.settings import PROJECT


def test_leave_keeps_the_code_the_output_and_the_exit_handlers(tmp_path):
    marker = tmp_path / "handler-ran"
    script = (
        "import atexit, pathlib, sys\n"
        "from core.cli import leave\n"
        f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('yes'))\n"
        "print('{\"status\": \"FINISHED\"}', end='')\n"  # no newline: only a flush writes it
        "print('progress', file=sys.stderr, end='')\n"
        "leave(3)\n"
        "print('never')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == '{"status": "FINISHED"}'
    assert done.stderr == "progress"
    assert marker.read_text() == "yes"
