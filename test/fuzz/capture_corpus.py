#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Regenerates the seed corpora in test/fuzz/corpus/ from real QEMU traffic: the exact bytes
# qemu-system-x86_64 -machine none sends (greeting, replies, events, errors, id-less parse
# errors, -qmp-pretty output). Run from the source root:  python3 test/fuzz/capture_corpus.py
#
# The ids are the ones qmp::Client uses on a fresh connection ("1" for qmp_capabilities, then
# "2", "3", ...), so the replies in the seeds reach the fuzzed client's waiting calls.
import os
import select
import socket
import subprocess
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def start_qemu(directory, pretty):
    path = os.path.join(directory, "qmp.sock")
    flag = "pretty=on," if pretty else ""
    process = subprocess.Popen(
        ["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none",
         "-chardev", f"socket,id=m,path={path},server=on,wait=off",
         "-mon", f"chardev=m,mode=control,{flag}".rstrip(",")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return process, s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # polling for QEMU to create its socket; not ordering our threads


class Reader:
    """Splits what QEMU sends into whole messages, each with the line break that follows it."""

    def __init__(self, s):
        self.s = s
        self.data = b""

    def messages(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            end = end_of_values(self.data, count)
            if end is not None:
                taken, self.data = self.data[:end], self.data[end:]
                return taken
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                raise RuntimeError(f"fewer than {count} messages: {self.data!r}")
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("QEMU closed the connection")
            self.data += chunk

    def greeting(self):
        """Whatever precedes the greeting (QEMU may send an event first), then the greeting."""
        taken = b""
        while b'"QMP"' not in taken:
            taken += self.messages(1)
        return taken


def end_of_values(data, count):
    """Offset just past the `count`-th top-level JSON value and its line break, or None."""
    depth, in_string, escaped, found = 0, False, False, 0
    for i, byte in enumerate(data):
        c = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                found += 1
                if found == count:
                    end = i + 1
                    while end < len(data) and data[end:end + 1] in (b"\r", b"\n"):
                        end += 1
                    if not data.endswith(b"\n", 0, end):
                        return None  # the line break has not arrived yet
                    return end
    return None


def session(pretty):
    """Returns (greeting+negotiation reply, traffic after negotiation) of one session."""
    with tempfile.TemporaryDirectory() as directory:
        process, s = start_qemu(directory, pretty)
        try:
            reader = Reader(s)
            greeting = reader.greeting()
            s.sendall(b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"1"}')
            negotiated = reader.messages(1)
            # The client's calls 2, 3, 4: a plain reply, a command that causes an event before
            # its reply, an unknown command (error with id); then input QEMU cannot parse
            # (id-less error).
            s.sendall(b'{"execute":"query-status","id":"2"}')
            first = reader.messages(1)
            s.sendall(b'{"execute":"stop","id":"3"}')
            second = reader.messages(2)
            s.sendall(b'{"execute":"query-nonexistent","id":"4"}')
            third = reader.messages(1)
            s.sendall(b'{"execute":"cont","id":"5"}')
            fourth = reader.messages(2)
            s.sendall(b'{"execute":"query-version","id":"6"}')
            fifth = reader.messages(1)
            s.sendall(b'}\n')
            bad = reader.messages(1)
            return greeting + negotiated, [first, second, third, fourth, fifth, bad]
        finally:
            s.close()
            process.kill()
            process.wait()


def write(target, name, data):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    for pretty in (False, True):
        suffix = "-pretty" if pretty else ""
        handshake, traffic = session(pretty)
        first, second, third, fourth, fifth, bad = traffic
        stream = first + second + third + fourth + fifth

        # framer: raw streams as they arrive.
        write("framer", f"session{suffix}", handshake + stream + bad)
        write("framer", f"greeting{suffix}", handshake)
        for i, chunk in enumerate(traffic):
            write("framer", f"message{i}{suffix}", chunk)

        # greeting: what follows connect(), up to and including the negotiation reply.
        write("greeting", f"greeting{suffix}", handshake)
        # QEMU 7.2 can send the start-up RESUME event before the greeting (QMP-NOTES.md).
        write("greeting", f"event-first{suffix}", fourth.split(b"\n", 1)[0] + b"\n" + handshake
              if not pretty else fourth + handshake)
        write("greeting", f"refused{suffix}",
              handshake.replace(b'"return": {}', b'"error": {"class": "GenericError", '
                                b'"desc": "Capability \'oob\' not available"}'))

        # client: a control byte (see fuzz_client.cpp), then what the peer sends once it has
        # read the client's calls "2", "3", "4".
        write("client", f"replies{suffix}", b"\x00" + first + second + third)
        write("client", f"replies-open{suffix}", b"\x01" + first + second + third)
        write("client", f"reordered{suffix}", b"\x02" + third + first + second)
        write("client", f"with-events{suffix}", b"\x00" + fourth + first + fifth + third)
        write("client", f"id-less-error{suffix}", b"\x00" + first + bad)


if __name__ == "__main__":
    main()
