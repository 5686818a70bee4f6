"""`detainer-tracker broker` takes its folder and ports from the environment make run uses, and says so."""

from streams.cli import main


def test_broker_status_reads_the_broker_folder_and_port_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DT_BROKER_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DT_BROKER_PORT", "19092")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "broker.pid").write_text("999999999\n")  # a broker that is gone
    assert main(["broker", "status"]) == 3
    assert capsys.readouterr().out.strip() == "not running"
    assert not (tmp_path / "elsewhere" / "broker.pid").exists()  # the stale pid file in that folder was cleared


def test_a_bad_broker_port_in_the_environment_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DT_BROKER_HOME", str(tmp_path))
    monkeypatch.setenv("DT_BROKER_PORT", "ninety")
    assert main(["broker", "status"]) == 2
    assert "DT_BROKER_PORT='ninety' is not a port number" in capsys.readouterr().err


def test_broker_status_as_json(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("DT_BROKER_HOME", str(tmp_path / "b"))
    monkeypatch.setenv("DT_BROKER_PORT", "19093")
    assert main(["broker", "status", "--json"]) == 3
    shown = json.loads(capsys.readouterr().out)
    assert shown == {**shown, "running": False, "pid": None, "bootstrap": "127.0.0.1:19093",
                     "home": str(tmp_path / "b")}
