"""pydicom's messages (they can quote a name) stay silenced while any thread is decoding."""

import logging
import threading

from records.dicom.damage import Quiet


def test_a_thread_leaving_does_not_unsilence_another_still_inside():
    pydicom = logging.getLogger("pydicom")
    entered, leave = threading.Event(), threading.Event()

    def server_thread():
        with Quiet():
            entered.set()
            leave.wait(5)

    other = threading.Thread(target=server_thread)
    other.start()
    entered.wait(5)
    with Quiet():
        leave.set()
        other.join(5)
        assert (pydicom.disabled, pydicom.propagate) == (True, False)
    assert (pydicom.disabled, pydicom.propagate) == (False, True)
