"""Interop peer: a Python `gear` client driven by tests/common/peer.rs (see tests/peers/README.md
for the arguments and the output lines, which are the same for every peer)."""
import os
import sys
import time

import gear
from gear import constants


def out(line):
    print(line, flush=True)


class EventClient(gear.Client):
    """gear keeps WORK_DATA and WORK_WARNING in one list and only the last status; its
    documented way to see events as they come is overriding the handlers, as here."""

    def __init__(self):
        super().__init__()
        self.index = {}

    def _log(self, packet, text):
        job = packet.getJob()
        out("%d %s" % (self.index[id(job)], text))
        return job

    def handleWorkData(self, packet):
        self._log(packet, "data " + packet.getArgument(1, True).hex())
        return super().handleWorkData(packet)

    def handleWorkWarning(self, packet):
        self._log(packet, "warning " + packet.getArgument(1, True).hex())
        return super().handleWorkWarning(packet)

    def handleWorkStatus(self, packet):
        numerator, denominator = packet.getArgument(1), packet.getArgument(2)
        self._log(packet, "status %s %s" % (numerator.decode(), denominator.decode()))
        return super().handleWorkStatus(packet)

    def handleWorkComplete(self, packet):
        self._log(packet, "complete " + packet.getArgument(1, True).hex())
        return super().handleWorkComplete(packet)

    def handleWorkFail(self, packet):
        self._log(packet, "fail")
        return super().handleWorkFail(packet)

    def handleWorkException(self, packet):
        self._log(packet, "exception " + packet.getArgument(1, True).hex())
        return super().handleWorkException(packet)


def main():
    host, port, mode, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    deadline = time.monotonic() + int(os.environ.get("PEER_WAIT_MS", "10000")) / 1000
    client = EventClient()
    client.addServer(host, port)
    client.waitForServer(timeout=10)
    if mode == "call":
        # gear's only way to ask for exceptions (OPTION_REQ); off by default.
        if not client.setOption("exceptions"):
            raise SystemExit("OPTION_REQ exceptions refused")
    if mode in ("call", "call-plain"):
        function, workload, unique, count = args[0], bytes.fromhex(args[1]), args[2], int(args[3])
        jobs = []
        for i in range(count):
            job = gear.Job(function, workload, None if unique == "none" else unique)
            client.index[id(job)] = i
            jobs.append(job)
            client.submitJob(job, timeout=10)
        while not all(job.complete for job in jobs):
            if time.monotonic() > deadline:
                out("timeout")
                break
            time.sleep(0.005)
        else:
            out("end")
    elif mode == "background":
        function = args[0]
        precedence = {"low": gear.PRECEDENCE_LOW, "normal": gear.PRECEDENCE_NORMAL,
                      "high": gear.PRECEDENCE_HIGH}
        for spec in args[1:]:
            priority, workload, unique = spec.split(":", 2)
            job = gear.Job(function, bytes.fromhex(workload), None if unique == "none" else unique)
            client.submitJob(job, background=True, precedence=precedence[priority], timeout=10)
            out("handle %s %s" % (priority, job.handle.decode()))
    elif mode == "status":
        # gear has no status call: its STATUS_RES handler updates a Job it submitted itself, so
        # GET_STATUS goes out through gear's own Packet and connection for a Job that carries
        # the handle.
        job = gear.Job("status", b"")
        job.handle = args[0].encode()
        connection = client.getConnection()
        connection.related_jobs[job.handle] = job
        packet = gear.Packet(constants.REQ, constants.GET_STATUS, job.handle)
        client.sendPacket(packet, connection)
        while job.known is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if job.known is None:
            out("timeout")
        else:
            out("status %d %d %s %s" % (job.known, job.running, job.numerator.decode(),
                                        job.denominator.decode()))
    else:
        raise SystemExit("unknown mode " + mode)
    client.shutdown()


main()
