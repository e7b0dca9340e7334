"""local.settings.json and host.json as Core Tools reads them, the durable client binding
JSON, and the function, master and system keys of --enable-auth."""

import json
from datetime import timedelta

import pytest

from devhost.http_auth import KeyRing, Level
from devhost.management_urls import Urls
from devhost.settings import (
    SettingsError,
    apply_values,
    load_host_config,
    load_local_settings,
    parse_timespan,
)


def test_values_go_into_the_environment_but_existing_variables_win(tmp_path):
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {"IsEncrypted": False, "Values": {"A": "from-file", "B": "file", "N": 5, "T": True}}
        )
    )
    env = {"B": "from-env"}
    skipped = apply_values(load_local_settings(tmp_path).values, env)
    assert env == {"A": "from-file", "B": "from-env", "N": "5", "T": "true"}
    assert skipped == ["B"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"IsEncrypted": true, "Values": {}}', "encrypted"),
        ('{"Values": {"A": {"nested": 1}}}', "Values.A must be a string"),
        ('{"Values": {}, "Host": []}', "'Host' must be an object"),
        ('{"Values": {}, "Host": {"CORS": ["*"]}}', "Host.CORS must be a string"),
        ('{"Values": {}, "Host": {"CORSCredentials": "yes"}}', "Host.CORSCredentials must be"),
    ],
)
def test_bad_local_settings_name_the_problem(tmp_path, content, message):
    (tmp_path / "local.settings.json").write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_local_settings(tmp_path)


def test_host_json_gives_prefix_hub_and_queue_options(tmp_path):
    (tmp_path / "host.json").write_text(
        json.dumps(
            {
                "version": "2.0",
                "extensions": {
                    "http": {"routePrefix": ""},
                    "durableTask": {"hubName": "%HUB%", "storageProvider": {"type": "netherite"}},
                    "queues": {
                        "batchSize": 8,
                        "maxDequeueCount": 2,
                        "visibilityTimeout": "00:00:30",
                    },
                },
            }
        )
    )
    config = load_host_config(tmp_path, {"HUB": "cspflowlocal"})
    assert (config.route_prefix, config.hub_name) == ("", "cspflowlocal")
    assert config.queues.batch_size == 8
    assert config.queues.new_batch_threshold == 4  # batchSize / 2 by default
    assert config.queues.max_dequeue_count == 2
    assert config.queues.visibility_timeout == timedelta(seconds=30)


def test_defaults_without_host_json_follow_the_documentation(tmp_path):
    config = load_host_config(tmp_path, {})
    assert (config.route_prefix, config.hub_name) == ("api", "TestHubName")
    assert (config.queues.batch_size, config.queues.new_batch_threshold) == (16, 8)
    assert config.queues.max_dequeue_count == 5
    assert config.queues.visibility_timeout == timedelta(0)


@pytest.mark.parametrize(
    ("host_json", "message"),
    [
        ({"extensions": {"durableTask": {"hubName": "%MISSING%"}}}, "%MISSING% is not set"),
        ({"extensions": {"durableTask": {"hubName": "a-b"}}}, "hubName"),
        ({"extensions": {"queues": {"batchSize": 64}}}, "batchSize must be 1..32"),
        ({"extensions": {"queues": {"visibilityTimeout": "30s"}}}, "visibilityTimeout.*TimeSpan"),
        ({"extensions": {"queues": {"batchSize": "lots"}}}, "batchSize must be a whole number"),
        ({"extensions": {"queues": {"maxDequeueCount": None}}}, "maxDequeueCount must be a whole"),
    ],
)
def test_bad_host_json_names_the_setting(tmp_path, host_json, message):
    (tmp_path / "host.json").write_text(json.dumps(host_json))
    with pytest.raises(SettingsError, match=message):
        load_host_config(tmp_path, {})


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("00:00:30", timedelta(seconds=30)),
        ("00:00:00.200", timedelta(milliseconds=200)),
        ("1.02:00:00", timedelta(days=1, hours=2)),
    ],
)
def test_timespans_parse_as_dotnet_writes_them(text, delta):
    assert parse_timespan(text) == delta


def test_the_client_binding_has_the_extensions_shape():
    # Shape from the Durable extension's BindingHelper.DurableOrchestrationClientToString
    # (github.com/Azure/azure-functions-durable-extension, src/WebJobs.Extensions.DurableTask/Bindings/BindingHelper.cs).
    urls = Urls("MyHub", None)
    urls.origin, urls.rpc_origin = "http://127.0.0.1:7071", "http://127.0.0.1:17071"
    doc = json.loads(urls.client_binding(None, None))
    assert set(doc) == {
        "taskHubName",
        "connectionName",
        "creationUrls",
        "managementUrls",
        "baseUrl",
        "requiredQueryStringParameters",
        "rpcBaseUrl",
        "httpBaseUrl",
    }
    assert doc["rpcBaseUrl"] == "http://127.0.0.1:17071/durabletask/"
    assert doc["baseUrl"] == "http://127.0.0.1:7071/runtime/webhooks/durabletask"
    assert doc["creationUrls"]["createNewInstancePostUri"] == (
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?"
    )
    assert doc["managementUrls"]["terminatePostUri"] == (
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/INSTANCEID/terminate"
        "?reason={text}&taskHub=MyHub&connection=Storage"
    )
    assert doc["requiredQueryStringParameters"] == ""


def test_with_keys_the_binding_urls_carry_the_system_key():
    keys = KeyRing(master="m", function="f", durabletask="d")
    urls = Urls("MyHub", keys)
    urls.origin = "http://127.0.0.1:7071"
    doc = json.loads(urls.client_binding("OtherHub", "MyStorage"))
    assert doc["taskHubName"] == "OtherHub"
    assert doc["requiredQueryStringParameters"] == "code=d"
    assert doc["managementUrls"]["statusQueryGetUri"].endswith(
        "taskHub=OtherHub&connection=MyStorage&code=d"
    )


@pytest.mark.parametrize(
    ("level", "key", "allowed"),
    [
        (Level.ANONYMOUS, None, True),
        (Level.FUNCTION, None, False),
        (Level.FUNCTION, "f", True),
        (Level.FUNCTION, "m", True),
        (Level.FUNCTION, "d", False),
        (Level.ADMIN, "f", False),
        (Level.ADMIN, "m", True),
        (Level.SYSTEM, "d", True),
        (Level.SYSTEM, "f", False),
    ],
)
def test_keys_open_the_levels_they_should(level, key, allowed):
    assert KeyRing(master="m", function="f", durabletask="d").allows(level, key) is allowed


def test_missing_keys_are_generated_and_reported():
    keys = KeyRing.from_environ({"DEVHOST_MASTER_KEY": "set"})
    assert keys.master == "set"
    assert set(keys.generated) == {"DEVHOST_FUNCTION_KEY", "DEVHOST_DURABLETASK_KEY"}
    assert len(keys.function) >= 32


def test_host_local_http_port_is_read_as_func_start_does(tmp_path):
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {}, "Host": {"LocalHttpPort": 7099}})
    )
    assert load_local_settings(tmp_path).local_http_port == 7099


def test_host_cors_and_credentials_are_read_as_func_start_does(tmp_path):
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {}, "Host": {"CORS": "http://shop.test", "CORSCredentials": True}})
    )
    local = load_local_settings(tmp_path)
    assert (local.cors, local.cors_credentials) == ("http://shop.test", True)
