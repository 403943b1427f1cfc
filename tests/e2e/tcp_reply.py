#!/usr/bin/env python3
"""A tiny TCP tool for the interception test.

  tcp_reply.py serve PORT LABEL   answer each connection with "LABEL <original destination>"
                                  (SO_ORIGINAL_DST, i.e. where the client meant to go before an
                                  iptables REDIRECT; the local address when not redirected)
  tcp_reply.py call HOST PORT     print what the server at HOST:PORT answers (3 s limit)
"""
import socket
import struct
import sys

SO_ORIGINAL_DST = 80


def original_destination(conn):
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port = struct.unpack("!H", raw[2:4])[0]
        return f"{socket.inet_ntoa(raw[4:8])}:{port}"
    except OSError:
        host, port = conn.getsockname()[:2]
        return f"{host}:{port}"


def serve(port, label):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
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
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        try:
            call(sys.argv[2], int(sys.argv[3]))
        except OSError as error:
            print(f"error {error}")
