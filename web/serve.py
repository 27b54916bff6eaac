"""Serving a built site on 127.0.0.1, with the headers that let onnxruntime-web use wasm threads."""
import errno
import functools
import logging
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from core.errors import UserError

logger = logging.getLogger(__name__)

# Cross-origin isolation (SharedArrayBuffer, so wasm threads) needs COOP + COEP on the page and its files.
ISOLATION_HEADERS = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-cache',
}
MIME_TYPES = {'.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm',
              '.onnx': 'application/octet-stream', '.json': 'application/json', '.css': 'text/css',
              '.html': 'text/html'}


class SiteHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self):
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format, *args):
        logger.debug('%s %s', self.address_string(), format % args)


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A browser that closes a tab mid-download is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def site_server(folder, port=8000):
    """A server for `folder` on 127.0.0.1:`port` (0: any free port), not yet serving."""
    if not os.path.isfile(os.path.join(folder, 'manifest.json')):
        raise UserError(f'{folder} is not a built site (no manifest.json): make one with python -m web build')
    try:
        return SiteServer(('127.0.0.1', port), functools.partial(SiteHandler, directory=folder))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UserError(f'port {port} is in use: pass another with --port') from None
        raise
