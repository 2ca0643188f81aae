from __future__ import annotations

import gc
import os

from testkit.processes import ManagedProcess


def test_a_process_log_is_readable_after_stop_and_removed_with_the_process() -> None:
    # Given a process that writes a line and exits
    process = ManagedProcess("probe", "echo written", dict(os.environ))
    assert process.process.wait(10) == 0
    # Then its output is there after it is stopped
    assert process.stop() == 0
    assert process.output() == "written\n"
    # and its log file goes with the object, so benchmarks do not fill the temporary folder
    log = process.log
    del process
    gc.collect()
    assert not log.exists()
