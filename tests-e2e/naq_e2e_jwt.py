"""Decentralised-auth material for a test server: operator, account and user JWTs and a .creds file.

nats-server's operator mode (``operator:`` + ``resolver: MEMORY`` + ``resolver_preload``) checks a
chain of ed25519-signed JWTs: the operator signs the account, the account signs the user. The user
connects with a .creds file (user JWT + user nkey seed). Built with the ``nkeys`` package only, so
no ``nsc`` binary is needed.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _keypair(prefix: int) -> Any:
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    return nkeys.from_seed(bytearray(seed)), seed.decode()


def _jwt(signer: Any, subject: str, name: str, nats_claims: dict[str, Any]) -> str:
    header = {"typ": "JWT", "alg": "ed25519-nkey"}
    claims = {
        "jti": uuid.uuid4().hex.upper(),
        "iat": int(time.time()),
        "iss": signer.public_key.decode(),
        "name": name,
        "sub": subject,
        "nats": {**nats_claims, "version": 2},
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = signer.sign(signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"


_UNLIMITED = {"subs": -1, "data": -1, "payload": -1}


@dataclass
class Decentralised:
    server_config: str
    user_seed: str
    creds_text: str

    def write_creds(self, path: Path) -> Path:
        path.write_text(self.creds_text)
        return path


def make_decentralised_auth() -> Decentralised:
    """An operator, one account and one user; the server config text and the user's .creds file."""
    operator, _op_seed = _keypair(nkeys.PREFIX_BYTE_OPERATOR)
    account, _acct_seed = _keypair(nkeys.PREFIX_BYTE_ACCOUNT)
    user, user_seed = _keypair(nkeys.PREFIX_BYTE_USER)
    op_pub, acct_pub, user_pub = (k.public_key.decode() for k in (operator, account, user))

    operator_jwt = _jwt(operator, op_pub, "e2e-operator", {"type": "operator"})
    account_jwt = _jwt(
        operator,
        acct_pub,
        "e2e-account",
        {
            "type": "account",
            "limits": {**_UNLIMITED, "imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1},
            "default_permissions": {"pub": {}, "sub": {}},
        },
    )
    user_jwt = _jwt(account, user_pub, "e2e-user", {"type": "user", "pub": {}, "sub": {}, **_UNLIMITED})

    server_config = (
        f"operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {acct_pub}: {account_jwt}\n}}\n"
    )
    creds = (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user_seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )
    return Decentralised(server_config=server_config, user_seed=user_seed, creds_text=creds)
