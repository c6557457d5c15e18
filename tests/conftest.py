pytest_plugins = ["tests.fixtures.mqtt"]
