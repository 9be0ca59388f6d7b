"""Interop peer: a Python `gear` worker driven by tests/common/peer.rs (see tests/peers/README.md)."""
import sys

import gear


def out(line):
    print(line, flush=True)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    worker = gear.Worker("interop")
    worker.addServer(host, port)
    worker.waitForServer(timeout=10)
    for name in ("bin", "events", "fail", "exception", "hold"):
        worker.registerFunction(name)
    while True:
        job = worker.getJob()
        unique = job.unique.hex() if job.unique else "-"
        out("job %s %s %s" % (job.name, unique, job.arguments.hex()))
        if job.name == "bin":
            job.sendWorkComplete(job.arguments[::-1])
        elif job.name == "events":
            job.sendWorkData(b"\0d1\xff")
            job.sendWorkWarning(b"w1")
            job.sendWorkStatus(1, 3)
            job.sendWorkData(b"d2")
            job.sendWorkStatus(2, 3)
            job.sendWorkWarning(b"\0w2")
            job.sendWorkStatus(3, 3)
            job.sendWorkComplete(b"done\0")
        elif job.name == "fail":
            job.sendWorkFail()
        elif job.name == "exception":
            job.sendWorkException(b"boom")
        elif job.name == "hold":
            job.sendWorkStatus(1, 4)
            out("holding")
            sys.stdin.readline()
            job.sendWorkComplete(b"held")


main()
