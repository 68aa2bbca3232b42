"""Whether an OS process is still there: one check for the run store, the daemon and the
standalone cluster's processes."""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists (also when it belongs to another user). A child of this process
    that has exited is reaped here, since it would otherwise linger as a zombie and look alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:  # not our child: os.kill said it exists
        return True
