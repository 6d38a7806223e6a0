#!/usr/bin/python3
"""A loopback HTTPS delay server speaking HTTP/2 (ALPN "h2") and HTTP/1.1,
for the HTTPS section of scripts/bench-http.sh: GET /delay/<ms> answers 200
with a short body after <ms> milliseconds, on either protocol.

    h2_delay_server.py CERT KEY

Prints "port <n>" once listening on 127.0.0.1, then serves until stdin
reaches EOF. Needs Debian's python3-h2 (run with /usr/bin/python3).
"""
import asyncio
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

# Streams a client may open at once on one connection (h2 defaults to 100).
MAX_STREAMS = 1000


def delay_of(path):
    try:
        return int(path.rsplit("/", 1)[1]) / 1000.0 if path.startswith("/delay/") else 0
    except ValueError:
        return 0


class H2(asyncio.Protocol):
    def __init__(self):
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS})
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except Exception:
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                path = dict(ev.headers).get(":path", "/")
                asyncio.get_running_loop().call_later(
                    delay_of(path), self.respond, ev.stream_id, path)
        self.transport.write(self.conn.data_to_send())

    def respond(self, stream_id, path):
        if self.transport.is_closing():
            return
        body = ("delayed %s\n" % path).encode()
        try:
            self.conn.send_headers(stream_id, [
                (":status", "200"), ("content-length", str(len(body))),
                ("content-type", "text/plain")])
            self.conn.send_data(stream_id, body, end_stream=True)
        except Exception:
            return  # the stream was reset meanwhile
        self.transport.write(self.conn.data_to_send())


class H1(asyncio.Protocol):
    def __init__(self):
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode()
            asyncio.get_running_loop().call_later(delay_of(path), self.respond, path)

    def respond(self, path):
        if self.transport.is_closing():
            return
        body = ("delayed %s\n" % path).encode()
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


class Either(asyncio.Protocol):
    """Picks HTTP/2 or HTTP/1.1 by the ALPN result, then delegates."""

    def connection_made(self, transport):
        proto = transport.get_extra_info("ssl_object").selected_alpn_protocol()
        self.inner = H2() if proto == "h2" else H1()
        self.inner.connection_made(transport)

    def data_received(self, data):
        self.inner.data_received(data)


async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Either, "127.0.0.1", 0, ssl=ctx,
                                      backlog=4096)
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until EOF
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
