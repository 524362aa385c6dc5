"""What a detached proxy inherits from the CLI: an allowlist of the environment, never a secret."""

from __future__ import annotations

from toolhive_py.proxy.supervisor import proxy_environment

_CLI_ENVIRONMENT = {
    "PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/home/u/.local/state", "PYTHONPATH": "/src",
    "MCPCTL_HOME": "/home/u/.mcpctl", "MCPCTL_DEBUG": "1", "MCPCTL_RUNTIME_SOCKET": "unix:///run/podman/podman.sock",
    "DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/home/u/.docker",
    "MCPCTL_SECRET_GITHUB_TOKEN": "ghp_secret", "VAULT_TOKEN": "hvs.secret", "VAULT_ADDR": "http://127.0.0.1:8200",
    "OPENAI_API_KEY": "sk-secret", "ANTHROPIC_API_KEY": "sk-ant-secret", "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "GITHUB_TOKEN": "gho_secret", "HTTPS_PROXY": "http://user:pass@proxy.example:3128", "SSH_AUTH_SOCK": "/tmp/ssh",
    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus", "MCPCTL_SECRET_BACKEND": "vault",
}


def test_the_proxy_keeps_the_basics_locale_paths_and_engine_settings() -> None:
    assert proxy_environment(_CLI_ENVIRONMENT) == {
        "PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
        "XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/home/u/.local/state", "PYTHONPATH": "/src",
        "MCPCTL_HOME": "/home/u/.mcpctl", "MCPCTL_DEBUG": "1",
        "MCPCTL_RUNTIME_SOCKET": "unix:///run/podman/podman.sock", "DOCKER_HOST": "tcp://127.0.0.1:2376",
        "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/home/u/.docker",
    }


def test_no_secret_and_no_other_mcpctl_variable_reaches_the_proxy() -> None:
    kept = proxy_environment(_CLI_ENVIRONMENT)
    assert not {key for key in kept if key.startswith("MCPCTL_SECRET_")}
    assert not {"VAULT_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "HTTPS_PROXY"} & set(kept)
    assert all("secret" not in value for value in kept.values())


def test_an_empty_environment_stays_empty() -> None:
    assert proxy_environment({}) == {}
