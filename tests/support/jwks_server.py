#!/usr/bin/env python3
"""A stand-in identity provider for the OIDC JWKS URL tests: Python's own
http.server (wrapped in ssl when --cert is given) serving the files of
--root on 127.0.0.1:--port, each answer with `Cache-Control: max-age=N`.
Every GET is appended to <root>/requests.log, so a test can count fetches
on the server's side. Runs until SIGTERM."""

import argparse
import functools
import http.server
import os
import ssl


class Handler(http.server.SimpleHTTPRequestHandler):
    max_age = 300
    log_path = ""

    def do_GET(self):
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(self.path + "\n")
        super().do_GET()

    def end_headers(self):
        self.send_header("Cache-Control", f"public, max-age={self.max_age}")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: requests.log is the record
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--max-age", type=int, default=300)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    Handler.max_age = args.max_age
    Handler.log_path = os.path.join(args.root, "requests.log")
    handler = functools.partial(Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
