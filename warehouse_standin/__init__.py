"""The local stand-in for Amazon Redshift: a PostgreSQL server behind ``relay`` (which drops the
startup parameters PostgreSQL refuses from redshift_connector), seeded by ``seed``. Tooling:
a deployment points the ``redshift_default`` connection at a real Redshift instead."""
