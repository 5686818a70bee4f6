"""Can this process reach Kafka as configured? One connection, and the exact reason when it cannot.

The Kafka clients retry a refused login, an untrusted certificate or a TLS/plaintext mismatch until their
bootstrap timeout, then say only "Unable to bootstrap". Before a command starts its clients, `check` opens one
connection to the first bootstrap server, does the TLS handshake the settings ask for, checks the broker's
certificate, and authenticates (SASL) or asks for the API versions (no SASL), so that each of these failures is
reported as what it is, within seconds.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from collections.abc import Mapping
from typing import Any

from streams.errors import KafkaUnavailable

SASL_HANDSHAKE, API_VERSIONS, SASL_AUTHENTICATE = 17, 18, 36
CLIENT_ID = b"detainer-tracker-check"


class Refused(KafkaUnavailable):
    """The broker answered, and will never take this process as configured: trying again changes nothing."""


class AccessRefused(Refused):
    """The broker refused this process's credentials or certificate, or this process the broker's certificate."""


class WrongProtocol(Refused):
    """The listener speaks another protocol than the settings say (TLS against plain, or the reverse)."""


def check(client_config: Mapping[str, Any], timeout: float = 5.0) -> None:
    """Connect once as `client_config` says (kafka-python keywords); raise KafkaUnavailable saying why not."""
    servers = client_config.get("bootstrap_servers", "")
    # a broker not (yet) listening is waited for, as the clients would; a refusal is said at once
    deadline = time.monotonic() + client_config.get("bootstrap_timeout_ms", 30_000) / 1000
    while True:
        try:
            _connect(client_config, servers, timeout)
            break
        except Refused:
            raise
        except KafkaUnavailable:
            if time.monotonic() + 0.5 >= deadline:
                raise
            time.sleep(0.5)


def _connect(client_config: Mapping[str, Any], servers: Any, timeout: float) -> None:
    first = (servers if isinstance(servers, str) else ",".join(servers)).split(",")[0].strip()
    host, _, port_text = first.rpartition(":")
    host = host.strip("[]") or first
    try:
        port = int(port_text)
    except ValueError:
        raise Refused(f"bootstrap server {first!r} is not HOST:PORT (DT_BOOTSTRAP_SERVERS)") from None
    protocol = client_config.get("security_protocol", "PLAINTEXT")
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise KafkaUnavailable(f"cannot reach Kafka at {where}: {exc.strerror or exc}") from None
    try:
        if protocol.endswith("SSL"):
            sock = _tls(sock, client_config, host, where)
        if protocol.startswith("SASL"):
            _authenticate(sock, client_config, where, protocol)
        else:
            _request(sock, API_VERSIONS, 0, b"", where, protocol)
    finally:
        sock.close()


def _tls(sock: socket.socket, config: Mapping[str, Any], host: str, where: str) -> ssl.SSLSocket:
    context = config.get("ssl_context") or ssl.create_default_context()
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise AccessRefused(f"the certificate of the broker at {where} is not trusted: {exc.verify_message} "
                            "(DT_SSL_CAFILE names the CA that signs it; the host name in DT_BOOTSTRAP_SERVERS "
                            "must be one the certificate names)") from None
    except ssl.SSLError as exc:
        sock.close()
        raise WrongProtocol(f"no TLS handshake with {where} ({_reason(exc)}): is that listener TLS? "
                               "(DT_SECURITY_PROTOCOL SASL_SSL or SSL need a TLS listener, PLAINTEXT and "
                               "SASL_PLAINTEXT a plain one)") from None
    except OSError as exc:
        sock.close()
        raise KafkaUnavailable(f"the TLS handshake with {where} broke off: {_reason(exc)}") from None


def _authenticate(sock: socket.socket, config: Mapping[str, Any], where: str, protocol: str) -> None:
    from kafka.net.sasl import get_sasl_mechanism  # kafka-python's SCRAM, only when a login is checked

    mechanism_name = config.get("sasl_mechanism", "")
    user = config.get("sasl_plain_username", "")
    reply = _request(sock, SASL_HANDSHAKE, 1, _string(mechanism_name), where, protocol)
    (error,) = struct.unpack_from(">h", reply)
    offered = _strings(reply, 2)
    if error or mechanism_name not in offered:
        raise AccessRefused(f"the broker at {where} does not take {mechanism_name} logins (it offers "
                            f"{', '.join(offered) or 'none'}; DT_SASL_MECHANISM)")
    mechanism = get_sasl_mechanism(mechanism_name)(host=where.rpartition(":")[0], **config)
    while not mechanism.is_done():
        token = mechanism.auth_bytes()
        reply = _request(sock, SASL_AUTHENTICATE, 0, struct.pack(">i", len(token)) + token, where, protocol)
        (error,) = struct.unpack_from(">h", reply)
        message, offset = _nullable_string(reply, 2)
        if error:
            raise AccessRefused(f"Kafka at {where} refused the login of {user!r}: {message or f'error {error}'} "
                                "(DT_SASL_USERNAME, DT_SASL_PASSWORD)")
        (size,) = struct.unpack_from(">i", reply, offset)
        try:
            mechanism.receive(reply[offset + 4:offset + 4 + max(size, 0)])
        except Exception as exc:  # noqa: BLE001 - the mechanism's own check of the server's proof
            raise AccessRefused(f"Kafka at {where} could not prove it knows {user!r}'s credentials: {exc}") from None


def _request(sock: socket.socket, api_key: int, version: int, body: bytes, where: str, protocol: str) -> bytes:
    """Send one request (header v1) and return the response body after its correlation id."""
    message = struct.pack(">hhih", api_key, version, 1, len(CLIENT_ID)) + CLIENT_ID + body
    try:
        sock.sendall(struct.pack(">i", len(message)) + message)
        (size,) = struct.unpack(">i", _read(sock, 4))
        if not 4 <= size <= 1 << 20:
            speaks = ("it speaks TLS: DT_SECURITY_PROTOCOL SASL_SSL or SSL" if size >> 24 in (0x15, 0x16)
                      else f"is the listener {protocol}? (DT_SECURITY_PROTOCOL)")
            raise WrongProtocol(f"Kafka at {where} answered with {size:#010x}, not a Kafka response: {speaks}")
        return _read(sock, size)[4:]
    except ssl.SSLError as exc:
        if "CERTIFICATE_REQUIRED" in (exc.reason or "") or "CERTIFICATE" in str(exc).upper():
            raise AccessRefused(f"the broker at {where} wants a client certificate it trusts ({_reason(exc)}; "
                                "DT_SSL_CERTFILE, DT_SSL_KEYFILE)") from None
        raise KafkaUnavailable(f"TLS with {where} failed: {_reason(exc)}") from None
    except (ConnectionError, EOFError, TimeoutError, OSError) as exc:
        raise KafkaUnavailable(f"Kafka at {where} closed the connection without answering ({_reason(exc)}): "
                               f"is that listener {protocol}? (DT_SECURITY_PROTOCOL; a TLS listener drops "
                               "plain clients, a plain one TLS clients)") from None


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("end of stream")
        data += chunk
    return data


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _strings(data: bytes, offset: int) -> list[str]:
    (count,) = struct.unpack_from(">i", data, offset)
    offset += 4
    found = []
    for _ in range(max(count, 0)):
        text, offset = _nullable_string(data, offset)
        found.append(text or "")
    return found


def _nullable_string(data: bytes, offset: int) -> tuple[str | None, int]:
    (size,) = struct.unpack_from(">h", data, offset)
    if size < 0:
        return None, offset + 2
    return data[offset + 2:offset + 2 + size].decode(errors="replace"), offset + 2 + size


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    return str(exc) or type(exc).__name__
