"""ltrack's network sinkhole: the only peer the candidate can reach under `--network sinkhole`.

Runs in its own container whose network namespace the candidate joins. The host has routed every
address to loopback in that namespace and redirected the candidate user's TCP to TCP_PORT and its
DNS (UDP port 53) to DNS_PORT, so whatever the payload dials, it lands here. For each TCP
connection the original destination and the first bytes are recorded; each DNS query is recorded
and answered with SINK_ADDR, so a payload that resolves a name goes on to connect and shows what it
meant to send. Records are JSON lines on stdout; nothing is ever forwarded anywhere.
"""
import base64
import json
import socket
import struct
import sys
import threading
import time

# the host names the ports (src/sandbox/sinkhole.ts) and redirects to them: argv TCP_PORT DNS_PORT
TCP_PORT, DNS_PORT = (int(p) for p in sys.argv[1:3])
SINK_ADDR = "10.255.255.1"  # any address: connects to it are redirected back here
FIRST_BYTES = 4096
READ_SECONDS = 2.0
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; the same value for IPv6 at SOL_IPV6
MAX_CONNECTIONS = 256

lock = threading.Lock()


def emit(record):
    # CLOCK_MONOTONIC: the clock the harness stamps its phases with, so records get a phase
    record.setdefault("ts", time.monotonic_ns())
    with lock:
        sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
        sys.stdout.flush()


def original_destination(conn, family):
    try:
        if family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack("!H", raw[2:4])[0]
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), struct.unpack("!H", raw[2:4])[0]
    except OSError:
        return None, None


def first_bytes(conn):
    conn.settimeout(READ_SECONDS)
    data = b""
    try:
        while len(data) < FIRST_BYTES:
            chunk = conn.recv(FIRST_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        pass  # a timeout: the payload sent what it sends before waiting for an answer
    return data


def handle_tcp(conn, family):
    with conn:
        ts = time.monotonic_ns()  # when it connected, not when it stopped sending
        dst, port = original_destination(conn, family)
        data = first_bytes(conn)
        emit({"proto": "tcp", "ts": ts, "dst": dst, "port": port, "size": len(data), "bytes": base64.b64encode(data).decode()})


def serve_tcp(sock, family):
    served = 0
    while served < MAX_CONNECTIONS:
        conn, _ = sock.accept()
        served += 1
        threading.Thread(target=handle_tcp, args=(conn, family), daemon=True).start()


def parse_query(packet):
    """-> (name, qtype) of a DNS query's first question, or (None, None) when it is not one."""
    try:
        if len(packet) < 12 or struct.unpack("!H", packet[4:6])[0] < 1:
            return None, None
        labels, i = [], 12
        while packet[i] != 0:
            n = packet[i]
            if n > 63 or len(labels) > 127:
                return None, None
            labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = struct.unpack("!H", packet[i + 1 : i + 3])[0]
        return ".".join(labels), qtype, i + 5
    except (IndexError, struct.error):
        return None, None


def answer(packet, question_end):
    """A response with the question and, for an A query, one answer: SINK_ADDR."""
    header = packet[:2] + b"\x81\x80" + b"\x00\x01" + b"\x00\x01" + b"\x00\x00\x00\x00"
    rr = b"\xc0\x0c" + b"\x00\x01\x00\x01" + struct.pack("!I", 60) + b"\x00\x04" + socket.inet_aton(SINK_ADDR)
    return header + packet[12:question_end] + rr


def serve_dns(sock):
    while True:
        packet, peer = sock.recvfrom(4096)
        parsed = parse_query(packet)
        record = {"proto": "dns", "size": len(packet), "bytes": base64.b64encode(packet[:FIRST_BYTES]).decode()}
        if parsed[0] is not None:
            name, qtype, end = parsed
            record.update(name=name, qtype=qtype)
            if qtype == 1:
                sock.sendto(answer(packet, end), peer)
        emit(record)


def main():
    listeners = []
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, TCP_PORT))
            s.listen(64)
            listeners.append(threading.Thread(target=serve_tcp, args=(s, family), daemon=True))
            u = socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            u.bind((addr, DNS_PORT))
            listeners.append(threading.Thread(target=serve_dns, args=(u,), daemon=True))
        except OSError as e:
            if family == socket.AF_INET:
                raise
            emit({"note": f"no IPv6 listener: {e}"})
    for t in listeners:
        t.start()
    emit({"ready": True})
    threading.Event().wait()


if __name__ == "__main__":
    main()
