"""DATABASE_URL with libpq parameters, as managed PostgreSQL hands it out, works with asyncpg."""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app.settings import Settings
from app.storage.engine import make_engine
from app.storage.libpq import for_asyncpg, ssl_argument


def asyncpg_url(database_url: str) -> str:
    return Settings(_env_file=None, database_url=database_url).async_database_url  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("query", "ssl_arg"),
    [
        ("sslmode=disable", False),
        ("sslmode=require", "require"),
        ("sslmode=verify-full", "verify-full"),
        ("sslmode=prefer", "prefer"),
        ("ssl=true", "require"),
    ],
)
def test_sslmode_becomes_asyncpgs_ssl(query: str, ssl_arg: object) -> None:
    connect = for_asyncpg(asyncpg_url(f"postgres://u:p@db.example:6543/app?{query}"))
    assert connect.url == "postgresql+asyncpg://u:p@db.example:6543/app"
    assert connect.connect_args == {"ssl": ssl_arg}
    assert connect.dropped == ()


def test_friends_of_sslmode() -> None:
    connect = for_asyncpg(
        "postgresql+asyncpg://u@h/db?connect_timeout=10&application_name=incident-flow"
        "&keepalives=1&options=-c%20x%3Dy&prepared_statement_cache_size=0"
    )
    assert connect.url == "postgresql+asyncpg://u@h/db?prepared_statement_cache_size=0"
    assert connect.connect_args == {
        "timeout": 10.0,
        "server_settings": {"application_name": "incident-flow"},
    }
    assert connect.dropped == ("keepalives", "options")


def test_unknown_sslmode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown sslmode 'sometimes'"):
        for_asyncpg("postgresql+asyncpg://u@h/db?sslmode=sometimes")


def self_signed_certificate(path: Path) -> str:
    """A CA certificate of our own to stand in for `sslrootcert` (no system bundle needed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "incident-flow test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_a_root_certificate_makes_a_verifying_context(tmp_path: Path) -> None:
    cafile = self_signed_certificate(tmp_path / "root.pem")
    context = ssl_argument("verify-full", {"sslrootcert": cafile})
    assert isinstance(context, ssl.SSLContext)
    assert (context.check_hostname, context.verify_mode) == (True, ssl.CERT_REQUIRED)
    context = ssl_argument("require", {"sslrootcert": cafile})
    assert isinstance(context, ssl.SSLContext)
    assert (context.check_hostname, context.verify_mode) == (False, ssl.CERT_REQUIRED)


async def test_sslmode_disable_connects_to_postgresql(
    postgres_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (allowed outside CI only)")
    url = f"{postgres_url}?sslmode=disable&application_name=incident-flow&keepalives=1"
    with caplog.at_level(logging.WARNING, logger="app.storage.libpq"):
        engine = make_engine(asyncpg_url(url))
    try:
        async with engine.connect() as conn:
            name = await conn.scalar(text("SELECT current_setting('application_name')"))
            encrypted = await conn.scalar(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
    finally:
        await engine.dispose()
    assert (name, encrypted) == ("incident-flow", False)
    assert "ignored: keepalives" in caplog.text
