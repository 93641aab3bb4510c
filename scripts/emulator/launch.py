# Starts the emulator (`python launch.py -m <module> [args]`) so that it dies
# with the Node process that spawned it: on Linux the kernel kills it when
# that parent exits (PR_SET_PDEATHSIG survives exec), so a crashed or killed
# test runner leaves no orphan server holding a port.
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1

try:
    libc = ctypes.CDLL(None, use_errno=True)
    # SIGKILL: the server holds only throwaway state, and LocalStack was seen
    # to hang in its SIGTERM shutdown.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
except (AttributeError, OSError):
    pass  # not Linux: the parent's exit hook still stops the server

expected_parent = os.environ.get("CODEX_POOLER_EMULATOR_PARENT")
if expected_parent and os.getppid() != int(expected_parent):
    sys.exit("emulator parent already exited")

os.execv(sys.executable, [sys.executable] + sys.argv[1:])
