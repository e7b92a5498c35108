"""A fault-injection hook for the chaos harness (tests/chaos), inert unless it asks for it.

`ONLYFANS_FAULT_KILL_FILE` names a file. At a named point of its work (`point("after_requeue")`),
a consumer that finds the file there holding that point's name removes it and SIGKILLs itself:
one kill per file the harness writes, landing exactly where the harness wants it — places no
gateway call reaches (the gateway's own faults kill consumers around its calls). Never set in
production; unset, `point` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def point(name: str) -> None:
    path = os.environ.get("ONLYFANS_FAULT_KILL_FILE")
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as handle:
            wanted = handle.read().strip()
        if wanted != name:
            return
        os.remove(path)  # one consumer wins the file, and only that one dies
    except OSError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
