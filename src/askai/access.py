"""Who may reach askai's servers: the one rule every server (the page, an HTTP API) applies.

A server bound to a loopback address is reachable only from this machine; any other address
(``0.0.0.0``, ``::``, a LAN address, a host name that resolves to one) lets anyone on the network
in, so askai refuses to serve it without credentials. Credentials, once set, are required on
loopback too.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from pydantic import SecretStr

from askai.errors import ConfigError


def is_loopback(host: str) -> bool:
    """Is ``host`` a loopback address (127.0.0.0/8, ::1, ``localhost``)? A name other than
    localhost counts only if every address it resolves to is loopback; a name that does not
    resolve, the empty string and the wildcard addresses (``0.0.0.0``, ``::``) are not."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return False
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # an IPv6 zone id is not the host
    except ValueError:
        pass
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        return bool((mapped or address).is_loopback)
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(is_loopback(a) for a in addresses if a != name)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: SecretStr

    def __repr__(self) -> str:  # never shows the password
        return f"Credentials(username={self.username!r}, password='**********')"


def credentials(username: str, password: SecretStr, *, section: str) -> Credentials | None:
    """The configured credentials of the settings ``section`` (None when neither is set); one
    without the other is an error."""
    secret = password.get_secret_value()
    if not username and not secret:
        return None
    if not username or not secret:
        missing = "username" if not username else "password"
        raise ConfigError(
            f"{section}.{missing} is empty but {section}."
            f"{'password' if missing == 'username' else 'username'} is set; set both "
            f"({_how(section)}) or neither"
        )
    return Credentials(username, password)


def require_credentials(
    host: str, username: str, password: SecretStr, *, section: str
) -> Credentials | None:
    """The credentials a server bound to ``host`` must ask for; raises :class:`ConfigError` when
    ``host`` is not loopback and none are configured (settings ``<section>.username`` and
    ``<section>.password``)."""
    found = credentials(username, password, section=section)
    if found is None and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve on {host!r} without a login: anyone who can reach that address "
            f"could read, upload and delete documents. Set a user name and password "
            f"({_how(section)}), or bind to 127.0.0.1"
        )
    return found


def require_token(host: str, token: SecretStr, *, section: str) -> SecretStr | None:
    """The bearer token a server bound to ``host`` must ask for (None: none configured); raises
    :class:`ConfigError` when ``host`` is not loopback and setting ``<section>.token`` is empty."""
    if token.get_secret_value():
        return token
    if not is_loopback(host):
        env = f"ASKAI_{section.upper()}__TOKEN"
        raise ConfigError(
            f"Refusing to serve on {host!r} without a token: anyone who can reach that address "
            f"could ask, read, upload and delete documents. Set a bearer token (setting "
            f"{section}.token, or the environment variable {env}, e.g. "
            f"{env}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')), or bind "
            f"to 127.0.0.1"
        )
    return None


def _how(section: str) -> str:
    env = f"ASKAI_{section.upper()}__"
    return (f"settings {section}.username and {section}.password, or the environment variables "
            f"{env}USERNAME and {env}PASSWORD")
