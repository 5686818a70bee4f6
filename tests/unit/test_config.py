import ssl
from pathlib import Path

import pytest

from streams.config import ENVIRONMENT, Settings, environment_help
from streams.errors import ConfigError
from streams.tools.tls import LocalCA


def test_defaults_are_sane():
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert s.topic_prefix == "dt."
    assert s.partitions == 6


def test_environment_then_flags():
    env = {"DT_BOOTSTRAP_SERVERS": "k1:9092", "DT_PARTITIONS": "12", "DT_TOPIC_PREFIX": "x."}
    s = Settings.from_env(env)
    assert (s.bootstrap_servers, s.partitions, s.topic_prefix) == ("k1:9092", 12, "x.")
    s = Settings.from_env(env, partitions=3, topic_prefix=None)
    assert (s.partitions, s.topic_prefix) == (3, "x.")


@pytest.mark.parametrize(("env", "message"), [
    ({"DT_PARTITIONS": "many"}, "DT_PARTITIONS='many' is not a whole number"),
    ({"DT_PARTITIONS": "0"}, "partitions must be between"),
    ({"DT_TOPIC_PREFIX": "bad prefix"}, "topic_prefix"),
    ({"DT_BOOTSTRAP_SERVERS": " "}, "bootstrap_servers"),
    ({"DT_SCHEMAS_DIR": "/nonexistent/schemas"}, "schemas_dir"),
    ({"DT_TICK_INTERVAL": "0"}, "tick_interval must be in"),
    ({"DT_TICK_INTERVAL": "soon"}, "DT_TICK_INTERVAL='soon' is not a number"),
])
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().partitions = 3  # type: ignore[misc]


def test_every_setting_is_documented_in_help_and_readme():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for setting in ENVIRONMENT.values():
        assert setting.env in environment_help()
        assert setting.env in readme, f"{setting.env} missing from README.md"


def test_sasl_needs_a_user_and_a_password_and_clients_get_them():
    with pytest.raises(ConfigError, match="DT_SASL_USERNAME"):
        Settings.from_env({"DT_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    with pytest.raises(ConfigError, match="DT_SECURITY_PROTOCOL"):
        Settings.from_env({"DT_SECURITY_PROTOCOL": "TLS"})
    s = Settings.from_env({"DT_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "DT_SASL_USERNAME": "worker",
                           "DT_SASL_PASSWORD": "pw"})
    assert s.kafka_client_config()["sasl_plain_username"] == "worker"
    assert s.aiokafka_client_config()["sasl_mechanism"] == "SCRAM-SHA-256"
    assert "pw" not in repr(s)
    assert "sasl_plain_password" not in Settings().kafka_client_config()


def test_tls_settings_give_every_client_one_context_that_checks_the_broker(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    s = Settings.from_env({"DT_SECURITY_PROTOCOL": "SASL_SSL", "DT_SASL_USERNAME": "worker",
                           "DT_SASL_PASSWORD": "pw", "DT_SSL_CAFILE": str(ca.cert_file)})
    context = s.kafka_client_config()["ssl_context"]
    assert context is s.aiokafka_client_config()["ssl_context"]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert s.kafka_client_config()["security_protocol"] == "SASL_SSL"


def test_ssl_needs_a_client_certificate_and_its_key_that_load(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    issued = ca.issue("worker", "worker")
    with pytest.raises(ConfigError, match="DT_SSL_CERTFILE, DT_SSL_KEYFILE"):
        Settings.from_env({"DT_SECURITY_PROTOCOL": "SSL"})
    with pytest.raises(ConfigError, match="not a file"):
        Settings.from_env({"DT_SECURITY_PROTOCOL": "SSL", "DT_SSL_CERTFILE": str(tmp_path / "nope.crt"),
                           "DT_SSL_KEYFILE": str(issued.key)})
    with pytest.raises(ConfigError, match="do not load"):  # a certificate that is not the key's
        Settings.from_env({"DT_SECURITY_PROTOCOL": "SSL", "DT_SSL_CERTFILE": str(ca.cert_file),
                           "DT_SSL_KEYFILE": str(issued.key)})
    s = Settings.from_env({"DT_SECURITY_PROTOCOL": "SSL", "DT_SSL_CERTFILE": str(issued.cert),
                           "DT_SSL_KEYFILE": str(issued.key), "DT_SSL_CAFILE": str(ca.cert_file)})
    assert "sasl_plain_username" not in s.kafka_client_config() and s.secured and not s.sasl
    assert issued.key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "ca").stat().st_mode & 0o777 == 0o700
