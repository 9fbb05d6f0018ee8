#!/usr/bin/env python3
"""Runs a command on a real pty and plays a script against it, as a person at a terminal would.

usage: pty_driver.py ROWSxCOLS STEPS_JSON -- COMMAND...
STEPS_JSON is a list of steps:
  ["expect", REGEX]       wait (up to 20 s) until the output so far matches REGEX (bytes, DOTALL)
  ["send", TEXT]          type TEXT (Python escapes allowed in the JSON: \\u0010 is ctrl-p)
  ["resize", ROWS, COLS]  change the window size; the kernel sends SIGWINCH to the command
The command's exit code becomes this script's; its output is printed on stdout. Exit 124 when a
step or the command's exit times out.
"""
import fcntl
import json
import os
import pty
import re
import select
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    size, steps_json = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1:]
    rows, cols = (int(x) for x in size.split("x"))
    steps = json.loads(steps_json)
    pid, fd = pty.fork()
    if pid == 0:
        set_size(0, rows, cols)
        os.execv(command[0], command)
    out = b""

    def pump(timeout):
        nonlocal out
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        if not data:
            return False
        out += data
        return True

    for step in steps:
        if step[0] == "expect":
            pattern = re.compile(step[1].encode(), re.S)
            deadline = time.time() + 20
            while not pattern.search(out):
                if time.time() > deadline or not pump(0.2):
                    sys.stdout.write(out.decode(errors="replace"))
                    sys.stdout.write("\n[pty_driver: timed out or EOF waiting for %r]\n" % step[1])
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    sys.exit(124)
        elif step[0] == "send":
            os.write(fd, step[1].encode())
        elif step[0] == "resize":
            set_size(fd, step[1], step[2])
    deadline = time.time() + 20
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            while pump(0.1):
                pass
            sys.stdout.write(out.decode(errors="replace"))
            sys.exit(os.waitstatus_to_exitcode(status))
        pump(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
    sys.stdout.write("\n[pty_driver: the command did not exit]\n")
    sys.exit(124)


main()
