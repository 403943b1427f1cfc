#!/usr/bin/env python3
"""A tiny TCP tool for the interception test.

  tcp_reply.py serve PORT LABEL [ADDRESS]
      answer each connection with "LABEL <original destination>" (SO_ORIGINAL_DST or
      IP6T_SO_ORIGINAL_DST, i.e. where the client meant to go before an iptables REDIRECT; the
      local address when not redirected). ADDRESS defaults to :: (dual-stack: IPv4 clients too);
      IPv6 destinations print as [ADDRESS]:PORT.
  tcp_reply.py call HOST PORT     print what the server at HOST:PORT answers (3 s limit)
"""
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
IP6T_SO_ORIGINAL_DST = 80
MAPPED = "::ffff:"


def endpoint(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def original_destination(conn):
    host, port = conn.getsockname()[:2]
    mapped = host.startswith(MAPPED)  # an IPv4 client of the dual-stack socket
    try:
        if conn.family == socket.AF_INET or mapped:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            return endpoint(socket.inet_ntoa(raw[4:8]), struct.unpack("!H", raw[2:4])[0])
        raw = conn.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)
        address = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        return endpoint(address, struct.unpack("!H", raw[2:4])[0])
    except OSError:
        return endpoint(host[len(MAPPED):] if mapped else host, port)


def serve(port, label, address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if address == "::":
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind((address, port))
    server.listen(16)
    server.settimeout(120)  # the test is over long before; never outlive it
    while True:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            return
        with conn:
            conn.sendall(f"{label} {original_destination(conn)}\n".encode())


def call(host, port):
    with socket.create_connection((host, port), timeout=3) as conn:
        conn.settimeout(3)
        print(conn.recv(256).decode().strip())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "::")
    else:
        try:
            call(sys.argv[2], int(sys.argv[3]))
        except OSError as error:
            print(f"error {error}")
