"""is_terminal: live bars only on a terminal, plain lines elsewhere, never an error."""

import io
import os
import subprocess
import sys

from slimcls.core.terminal import is_terminal


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_a_pipe_a_closed_stream_and_an_override():
    assert is_terminal(_Tty()) is True
    assert is_terminal(io.StringIO()) is False
    closed = open(os.devnull)  # noqa: SIM115
    closed.close()  # isatty() of a closed file raises ValueError
    assert is_terminal(closed) is False
    assert is_terminal(object()) is False  # no isatty at all
    assert is_terminal(io.StringIO(), given=True) is True
    assert is_terminal(_Tty(), given=False) is False


def test_importing_it_loads_no_tensorflow():
    code = "import slimcls.core.terminal, sys; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
